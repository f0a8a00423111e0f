from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.delivery_words import delivery_status_html
from audit.events import REFUSAL_EVENTS
from audit.models import AuditEvent, AuditWebhook
from audit.selectors import delivery_for_webhook, webhook_test_last
from audit.shipping import webhook_address_problem
from audit.sign_in_methods import FAILED, REFUSED, SUCCEEDED, sign_in_method_label, sign_in_outcome
from audit.webhooks import (
    audit_webhook_remove,
    audit_webhook_secret_replace,
    audit_webhook_set,
    audit_webhook_test_send,
)

# The outcome of a sign-in event, in the badge colours of the site's trail; the words say it too.
OUTCOME_BADGES = {SUCCEEDED: "badge-ok", FAILED: "badge-danger", REFUSED: "badge-warn"}


class OutcomeFilter(admin.SimpleListFilter):
    """ "Refused access only": the refused requests of audit/refusals.py, all kinds together."""

    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("refused", _("Refused access only"))]

    def queryset(self, request, queryset):
        if self.value() == "refused":
            return queryset.filter(event__in=REFUSAL_EVENTS)
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by the application alone."""

    list_display = [
        "created_at",
        "event_shown",
        "method",
        "tenant",
        "actor_label",
        "target_label",
        "ip",
    ]
    list_filter = [OutcomeFilter, "event", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["actor_label", "target_label", "ip"]
    # Counting every event of a large log on each list page would be the slowest part of it.
    show_full_result_count = False
    fields = [
        "created_at",
        "event",
        "tenant",
        "actor_label",
        "target_label",
        "ip",
        "user_agent",
        "details",
        "sequence",
        "hash",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("event"), ordering="event")
    def event_shown(self, obj: AuditEvent) -> str:
        badge = OUTCOME_BADGES.get(sign_in_outcome(obj))
        if badge is None:
            return obj.get_event_display()
        return format_html('<span class="badge {}">{}</span>', badge, obj.get_event_display())

    @admin.display(description=_("how"))
    def method(self, obj: AuditEvent) -> str:
        return sign_in_method_label(obj) or "—"


class AuditWebhookForm(forms.ModelForm):
    url = forms.URLField(
        label=_("Address"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where each audit event is POSTed, signed (Standard Webhooks), in order."),
    )

    class Meta:
        model = AuditWebhook
        fields = ["tenant", "url"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problem = webhook_address_problem(url)
        if problem:
            raise ValidationError(problem, code="webhook_address")
        return url


@admin.register(AuditWebhook)
class AuditWebhookAdmin(admin.ModelAdmin):
    """A tenant's audit webhook, for its owners (`security:write`, in the admin site's
    `SCOPE_PERMISSIONS`) and operators.

    Saving goes through `audit_webhook_set`. The signing secret is shown once, on a page of its
    own answering the save (or "Replace the signing secret"), with a copy button, and is never
    stored anywhere to be shown again. The change page says where delivery stands, in words,
    and sends a test event (`audit_webhook_test_send`).
    """

    form = AuditWebhookForm
    list_display = ["url", "tenant", "created_at", "delivery"]
    readonly_fields = ["created_at", "delivery"]
    actions = ["replace_secret"]
    change_form_template = "admin/audit/auditwebhook/change_form.html"
    secret_template = "admin/audit/auditwebhook/secret.html"  # noqa: S105 - a template's name

    @admin.display(description=_("delivery"))
    def delivery(self, obj: AuditWebhook) -> str:
        return delivery_status_html(delivery_for_webhook(webhook=obj))

    def get_readonly_fields(self, request, obj=None):
        """A webhook stays with the tenant it was made for."""
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "tenant"] if obj is not None else fields

    def get_urls(self):
        view = self.admin_site.admin_view(self.test_send_view)
        view.model_admin = self  # as Django's own admin views are marked
        return [
            path("<path:object_id>/test/", view, name="audit_auditwebhook_test"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        webhook = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if webhook is not None:
            delivery = delivery_for_webhook(webhook=webhook)
            context.update(
                webhook_delivery=delivery_status_html(delivery),
                webhook_test=webhook_test_last(webhook=webhook, delivery=delivery),
                webhook_can_test=self.has_change_permission(request, webhook),
            )
        return super().change_view(request, object_id, form_url, context)

    def test_send_view(self, request, object_id) -> HttpResponse:
        """POST: send the webhook a test event, then back to its page, which shows the result.

        Another tenant's webhook is the same 404 as a missing one, whatever the method."""
        webhook = self.get_object(request, unquote(object_id))
        if webhook is None:
            raise Http404
        if not self.has_change_permission(request, webhook):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            audit_webhook_test_send(actor=request.user, webhook=webhook, request=request)
        except ValidationError as refusal:
            for message in refusal.messages:
                self.message_user(request, message, messages.ERROR)
        else:
            self.message_user(
                request,
                _("A test event was sent. Its result is shown under “Test event” below."),
                messages.SUCCESS,
            )
        return redirect(
            reverse(
                "admin:audit_auditwebhook_change",
                args=[webhook.pk],
                current_app=self.admin_site.name,
            )
        )

    def save_model(self, request, obj, form, change) -> None:
        webhook, secret = audit_webhook_set(
            actor=request.user, tenant=obj.tenant, url=obj.url, request=request
        )
        obj.pk, obj.secret, obj.created_at = webhook.pk, webhook.secret, webhook.created_at
        obj.secret_to_show = secret

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        if getattr(obj, "secret_to_show", None):
            return self.secret_page(request, [(obj, obj.secret_to_show)])
        return super().response_add(request, obj, post_url_continue)

    def delete_model(self, request, obj) -> None:
        audit_webhook_remove(actor=request.user, webhook=obj, request=request)

    def secret_page(self, request, shown: list[tuple[AuditWebhook, str]]) -> HttpResponse:
        """The page that shows signing secrets once, in answer to the request that made them.
        Nothing keeps them to show again: reloading it doesn't repeat them."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Signing secret"),
            "shown": [
                {
                    "webhook": webhook,
                    "secret": secret,
                    "change_url": reverse(
                        "admin:audit_auditwebhook_change",
                        args=[webhook.pk],
                        current_app=self.admin_site.name,
                    ),
                }
                for webhook, secret in shown
            ],
        }
        return TemplateResponse(request, self.secret_template, context)

    @admin.action(description=_("Replace the signing secret"), permissions=["change"])
    def replace_secret(self, request, queryset) -> HttpResponse:
        return self.secret_page(
            request,
            [
                (
                    webhook,
                    audit_webhook_secret_replace(
                        actor=request.user, webhook=webhook, request=request
                    ),
                )
                for webhook in queryset
            ],
        )
