from django.contrib import admin
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from mfa.admin import password_proof_demanded
from support.models import RecoveryRequest
from support.selectors import RECOVERY_SCOPES
from support.services import recovery_request_handle
from teams.sites import ReadOnlyScopedAdmin


@admin.register(RecoveryRequest)
class RecoveryRequestAdmin(ReadOnlyScopedAdmin):
    """The recovery queue in the admin: rows come from the "Can't sign in?" form and change only
    through the actions, each of which checks the person out-of-band first (the queue page says
    so) and is audited by the service."""

    scope_permissions = {
        "view": frozenset(RECOVERY_SCOPES),
        "handle": frozenset(RECOVERY_SCOPES),
    }
    list_display = ["person", "tenant", "reason", "status", "outcome", "created_at", "handled_by"]
    list_filter = ["tenant", "status", "reason"]
    list_select_related = ["person", "tenant", "handled_by"]
    search_fields = ["person__email"]
    fields = [
        "person",
        "tenant",
        "reason",
        "note",
        "ip",
        "user_agent",
        "created_at",
        "status",
        "outcome",
        "handled_by",
        "handled_at",
    ]
    readonly_fields = fields
    actions = ["reset_mfa", "unlock", "send_reset_link", "decline"]

    def has_handle_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "handle")

    def _handle(self, request, queryset, action: str, done: str) -> None:
        self.run_for_each(
            request,
            queryset.select_related("person__role", "tenant"),
            lambda recovery: recovery_request_handle(
                recovery=recovery, action=action, actor=request.user, request=request
            ),
            lambda count: (
                ngettext(
                    "%(done)s for %(count)d request; the person was mailed the outcome.",
                    "%(done)s for %(count)d requests; each person was mailed the outcome.",
                    count,
                )
                % {"done": done, "count": count}
            ),
        )

    @admin.action(
        description=_("Reset two-factor authentication (identity checked)"), permissions=["handle"]
    )
    def reset_mfa(self, request, queryset) -> None:
        if password_proof_demanded(self, request):
            return
        self._handle(request, queryset, "mfa_reset", gettext("Two-factor authentication reset"))

    @admin.action(description=_("Unlock (identity checked)"), permissions=["handle"])
    def unlock(self, request, queryset) -> None:
        self._handle(request, queryset, "unlock", gettext("Unlocked"))

    @admin.action(
        description=_("Send a password reset link (identity checked)"), permissions=["handle"]
    )
    def send_reset_link(self, request, queryset) -> None:
        self._handle(request, queryset, "reset_link", gettext("Reset link sent"))

    @admin.action(description=_("Decline"), permissions=["handle"])
    def decline(self, request, queryset) -> None:
        self._handle(request, queryset, "decline", gettext("Declined"))
