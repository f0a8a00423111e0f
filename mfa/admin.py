"""The second-factor parts of the admin: django-otp's own admin is off, and the people admin
(defined in accounts, which knows nothing of second factors) gains the owners' reset action."""

from dataclasses import replace

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.admin import UserAdmin
from accounts.admin_person import PersonAction, PersonState
from accounts.models import User
from mfa.selectors import mfa_overview_for_user
from mfa.services import mfa_factors_reset
from teams import scopes
from teams.proofs import proof_is_fresh, proof_page_url

# django-otp's own admin would let staff edit or delete factors past the audit trail and mail
# notices. Factors change only through mfa.services: people on their own pages, owners through
# the reset action on people.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


def password_proof_demanded(modeladmin: admin.ModelAdmin, request) -> bool:
    """Before an action that resets factors: when this session has no fresh password proof,
    say so with a link to give one and return True (the action then does nothing).

    `mfa_factors_reset` refuses without the proof anyway; asking first gives one clear message
    instead of one refusal per selected row."""
    if proof_is_fresh(request=request):
        return False
    modeladmin.message_user(
        request,
        format_html(
            _(
                'Resetting factors needs your password first: <a href="{}">confirm it</a>, '
                "then run the action again."
            ),
            proof_page_url(request.get_full_path()),
        ),
        messages.ERROR,
    )
    return True


@admin.action(description=_("Reset two-factor authentication"), permissions=["mfa_reset"])
def reset_mfa(modeladmin: admin.ModelAdmin, request, queryset) -> None:
    """Remove the selected people's second factors (they enrol again); needs a fresh password."""
    if password_proof_demanded(modeladmin, request):
        return
    for person in queryset:
        try:
            reset = mfa_factors_reset(target=person, actor=request.user, request=request)
        except (PermissionDenied, ValidationError) as error:
            message = " ".join(getattr(error, "messages", [str(error)]))
            modeladmin.message_user(
                request,
                _("%(person)s: %(message)s") % {"person": person, "message": message},
                messages.ERROR,
            )
            continue
        if reset:
            modeladmin.message_user(
                request,
                _("%(person)s: two-factor authentication reset; they were mailed.")
                % {"person": person},
            )
        else:
            modeladmin.message_user(
                request,
                _("%(person)s had no second factor to reset.") % {"person": person},
                messages.WARNING,
            )


def _factors_reset(request, person, item, form) -> str:
    if mfa_factors_reset(target=person, actor=request.user, request=request):
        return gettext("%(person)s: two-factor authentication reset; they were mailed.") % {
            "person": person
        }
    return gettext("%(person)s had no second factor to reset.") % {"person": person}


def _has_factor(state: PersonState) -> bool:
    overview = state.extra["mfa"]
    return bool(overview.totp_device or overview.backup_codes_left is not None or overview.passkeys)


FACTORS_RESET = PersonAction(
    name="reset-two-factor",
    label=_("Reset two-factor authentication"),
    permission="mfa_reset",
    question=_("Reset the two-factor authentication of %(email)s?"),
    effect=_(
        "Their authenticator app, backup codes and passkeys are removed, their sessions end and "
        "their remembered browsers are forgotten. They are mailed, and enrol again at their next "
        "sign-in."
    ),
    wanted=lambda state: _has_factor(state) and not state.is_viewer,
    run=_factors_reset,
    danger=True,
    needs_proof=lambda request, person: not proof_is_fresh(request=request),
)


class PeopleWithFactorsAdmin(UserAdmin):
    """The people admin with "Reset two-factor authentication" after "End all sessions", and a
    two-factor section and reset on the person page."""

    scope_permissions = {**UserAdmin.scope_permissions, "mfa_reset": frozenset({scopes.MFA_RESET})}
    actions = [
        *UserAdmin.actions[: UserAdmin.actions.index("revoke_sessions") + 1],
        reset_mfa,
        *UserAdmin.actions[UserAdmin.actions.index("revoke_sessions") + 1 :],
    ]

    list_display = [
        *UserAdmin.list_display[: UserAdmin.list_display.index("status") + 1],
        "two_factor",
        *UserAdmin.list_display[UserAdmin.list_display.index("status") + 1 :],
    ]

    person_actions = [
        *UserAdmin.person_actions[: [a.name for a in UserAdmin.person_actions].index("unlock")],
        FACTORS_RESET,
        *UserAdmin.person_actions[[a.name for a in UserAdmin.person_actions].index("unlock") :],
    ]
    person_sections = [*UserAdmin.person_sections, "admin/accounts/user/two_factor.html"]

    def person_state(self, request, person: User) -> PersonState:
        state = super().person_state(request, person)
        return replace(state, extra={**state.extra, "mfa": mfa_overview_for_user(user=person)})

    def person_page_context(self, request, person: User) -> dict:
        context = super().person_page_context(request, person)
        overview = context["person_state"].extra["mfa"]
        has_factor = _has_factor(context["person_state"])
        if overview.passkey_required:
            meets = bool(overview.passkeys)
        elif overview.required:
            meets = has_factor
        else:
            meets = None
        return {**context, "mfa": overview, "mfa_has_factor": has_factor, "mfa_meets": meets}

    def has_mfa_reset_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "mfa_reset")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                has_app=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
            )
        )

    @admin.display(description=_("two-factor"), ordering="has_app")
    def two_factor(self, person: User):
        if person.has_app:
            return format_html('<span class="badge badge-ok">{}</span>', _("on"))
        return format_html('<span class="badge badge-warn">{}</span>', _("off"))


admin.site.unregister(User)
admin.site.register(User, PeopleWithFactorsAdmin)
