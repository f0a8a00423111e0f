from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from mfa.admin import password_proof_demanded
from reviews.feedback import bulk_outcome_announce, review_recorded_message
from reviews.forms import BULK_ACTIONS
from reviews.models import AccessReviewEntry
from reviews.selectors import (
    FLAG_LABELS,
    MFA_CODES_ONLY,
    MFA_LABELS,
    access_review_last,
    access_review_people,
    access_review_summary,
)
from reviews.services import access_review_complete, people_bulk_act
from teams import scopes
from teams.scopes import SCOPES_BY_KEY
from teams.sites import ReadOnlyScopedAdmin


class FlagFilter(admin.SimpleListFilter):
    title = _("flag")
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [("any", _("any flag")), *FLAG_LABELS.items()]

    def queryset(self, request, queryset):
        if self.value() == "any":
            return queryset.filter(flag_count__gt=0)
        if self.value() in FLAG_LABELS:
            return queryset.filter(**{f"flag_{self.value()}": True})
        return queryset


class MfaFilter(admin.SimpleListFilter):
    title = _("two-factor authentication")
    parameter_name = "mfa"

    def lookups(self, request, model_admin):
        return list(MFA_LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(mfa=self.value()) if self.value() else queryset


@admin.register(AccessReviewEntry)
class AccessReviewAdmin(ReadOnlyScopedAdmin):
    """The access review in the admin: the same people, columns and flags as /access-review/
    (both read `access_review_people`), filtered and sorted in the database, with the same bulk
    actions behind a confirmation step and the same one-click "review done"."""

    scope_permissions = {
        "view": frozenset({scopes.MEMBERS_READ}),
        "deactivate": frozenset({scopes.MEMBERS_DEACTIVATE}),
        "revoke": frozenset({scopes.SESSIONS_REVOKE}),
        "require_password": frozenset({scopes.MEMBERS_WRITE}),
        "unlock": frozenset({scopes.LOCKOUT_UNLOCK}),
        "mfa_reset": frozenset({scopes.MFA_RESET}),
    }
    change_list_template = "reviews/admin/access_review_change_list.html"
    list_display = [
        "email",
        "tenant",
        "role",
        "scopes",
        "last_sign_in",
        "two_factor",
        "sessions",
        "locked_now",
        "password_age",
        "flags",
    ]
    list_display_links = None
    list_filter = [FlagFilter, MfaFilter, "role", "is_active", "tenant"]
    list_select_related = ["role", "tenant"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    show_full_result_count = False
    fields = ["email", "full_name", "tenant", "role", "is_active", "last_login", "date_joined"]
    readonly_fields = fields
    actions = ["deactivate", "revoke_sessions", "require_password_change", "unlock", "reset_mfa"]

    def get_queryset(self, request):
        return access_review_people(super().get_queryset(request), now=timezone.now())

    def has_deactivate_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "deactivate")

    def has_revoke_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "revoke")

    def has_require_password_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "require_password")

    def has_unlock_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "unlock")

    def has_mfa_reset_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "mfa_reset")

    # --- columns

    @admin.display(description=_("scopes"))
    def scopes(self, person) -> str:
        """A short summary: the row stays one line high however many scopes the role holds (the
        full list, in words, is on the role and on /access-review/)."""
        held = person.role.scope_set if person.role else frozenset()
        if not held:
            return gettext("none")
        if held >= frozenset(SCOPES_BY_KEY):
            return gettext("all %(count)d") % {"count": len(held)}
        return ", ".join(sorted(held))

    @admin.display(
        description=_("last sign-in"),
        ordering=F("last_login").asc(nulls_first=True),
        empty_value=_("never"),
    )
    def last_sign_in(self, person):
        return person.last_login

    @admin.display(description=_("two-factor"), ordering="mfa")
    def two_factor(self, person) -> str:
        if person.mfa == MFA_CODES_ONLY:
            return ngettext(
                "backup codes only (%(count)d left)",
                "backup codes only (%(count)d left)",
                person.codes_left,
            ) % {"count": person.codes_left}
        return MFA_LABELS[person.mfa]

    @admin.display(description=_("sessions"), ordering="session_count")
    def sessions(self, person) -> int:
        return person.session_count

    @admin.display(description=_("locked"), boolean=True, ordering="locked")
    def locked_now(self, person) -> bool:
        return person.locked

    @admin.display(
        description=_("password age"),
        ordering=F("password_changed_at").desc(nulls_last=True),
        empty_value=_("never set"),
    )
    def password_age(self, person) -> str | None:
        if person.password_changed_at is None:
            return None
        days = (timezone.now() - person.password_changed_at).days
        return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}

    @admin.display(description=_("flags"), ordering="flag_count")
    def flags(self, person) -> str:
        raised = [
            (label,) for flag, label in FLAG_LABELS.items() if getattr(person, f"flag_{flag}")
        ]
        return format_html_join(", ", '<strong class="flag">{}</strong>', raised) or "-"

    # --- the summary and "review done"

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "title": _("Access review: who has access, and what needs a look"),
            "can_mark_done": request.user.tenant_id is not None,
        }
        # Action POSTs answer with a page of their own or a redirect, never with the list.
        if request.method == "GET":
            counts = access_review_summary(self.get_queryset(request))
            extra_context.update(
                people_count=counts["people"],
                flagged_count=counts["flagged"],
                last_review=access_review_last(tenant=request.user.tenant)
                if request.user.tenant_id
                else None,
            )
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        done = path(
            "done/",
            self.admin_site.admin_view(self.review_done_view),
            name="reviews_accessreviewentry_done",
        )
        return [done, *super().get_urls()]

    def review_done_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.user.tenant_id is None:
            self.message_user(
                request,
                _("A tenant's review is marked done by its own people, not by operators."),
                messages.ERROR,
            )
        else:
            review = access_review_complete(
                tenant=request.user.tenant, actor=request.user, request=request
            )
            self.message_user(
                request,
                review_recorded_message(review.people_reviewed),
            )
        return redirect(reverse("admin:reviews_accessreviewentry_changelist"))

    # --- bulk actions, each confirmed first

    @admin.action(description=_("Deactivate the selected people"), permissions=["deactivate"])
    def deactivate(self, request, queryset):
        return self._bulk(request, queryset, "deactivate")

    @admin.action(
        description=_("Revoke all sessions of the selected people"), permissions=["revoke"]
    )
    def revoke_sessions(self, request, queryset):
        return self._bulk(request, queryset, "revoke_sessions")

    @admin.action(
        description=_("Require a new password at next sign-in"), permissions=["require_password"]
    )
    def require_password_change(self, request, queryset):
        return self._bulk(request, queryset, "require_password_change")

    @admin.action(description=_("Unlock the selected people"), permissions=["unlock"])
    def unlock(self, request, queryset):
        return self._bulk(request, queryset, "unlock")

    @admin.action(description=_("Reset two-factor authentication"), permissions=["mfa_reset"])
    def reset_mfa(self, request, queryset):
        if password_proof_demanded(self, request):
            return None
        return self._bulk(request, queryset, "reset_mfa")

    def _bulk(self, request: HttpRequest, queryset: QuerySet, action: str):
        people = list(queryset)
        label = dict(BULK_ACTIONS)[action]
        if not people:
            self.message_user(
                request, _("None of the selected people are listed here."), messages.ERROR
            )
            return None
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "reviews/admin/access_review_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": format_lazy("{}?", label),
                    "opts": self.opts,
                    "people": people,
                    "action": action,
                    "action_label": label,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        done, refused = people_bulk_act(
            action=action, people=people, actor=request.user, request=request
        )
        bulk_outcome_announce(request, label=label, done=done, refused=refused)
        return None
