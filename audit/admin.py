from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.events import REFUSAL_EVENTS
from audit.models import AuditDelivery, AuditEvent, AuditWebhook
from audit.shipping import webhook_address_problem
from audit.sign_in_methods import FAILED, REFUSED, SUCCEEDED, sign_in_method_label, sign_in_outcome
from audit.webhooks import audit_webhook_remove, audit_webhook_secret_replace, audit_webhook_set

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

    Saving goes through `audit_webhook_set`; the secret is shown once, in the message after the
    webhook is made or its secret replaced, and never again.
    """

    form = AuditWebhookForm
    list_display = ["url", "tenant", "created_at", "delivery"]
    readonly_fields = ["created_at", "delivery"]
    actions = ["replace_secret"]

    @admin.display(description=_("delivery"))
    def delivery(self, obj: AuditWebhook) -> str:
        cursor = AuditDelivery.objects.filter(webhook=obj).first()
        if cursor is None:
            return "—"
        if cursor.last_error:
            return _("Failing since %(attempts)s tries: %(error)s; next try %(at)s UTC") % {
                "attempts": cursor.attempts,
                "error": cursor.last_error,
                "at": f"{cursor.next_attempt_at:%Y-%m-%d %H:%M:%S}",
            }
        return _("Delivered up to event %(sequence)s") % {"sequence": cursor.delivered_sequence}

    def get_readonly_fields(self, request, obj=None):
        """A webhook stays with the tenant it was made for."""
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "tenant"] if obj is not None else fields

    def save_model(self, request, obj, form, change) -> None:
        webhook, secret = audit_webhook_set(
            actor=request.user, tenant=obj.tenant, url=obj.url, request=request
        )
        obj.pk, obj.secret, obj.created_at = webhook.pk, webhook.secret, webhook.created_at
        if secret:
            self._show_secret(request, secret)

    def delete_model(self, request, obj) -> None:
        audit_webhook_remove(actor=request.user, webhook=obj, request=request)

    def _show_secret(self, request, secret: str) -> None:
        self.message_user(
            request,
            _(
                "The signing secret is %(secret)s. Copy it into your receiver now: it won't be "
                "shown again."
            )
            % {"secret": secret},
            messages.WARNING,
        )

    @admin.action(description=_("Replace the signing secret"), permissions=["change"])
    def replace_secret(self, request, queryset) -> None:
        for webhook in queryset:
            self._show_secret(
                request,
                audit_webhook_secret_replace(actor=request.user, webhook=webhook, request=request),
            )
