"""The person page of the people admin: where an owner sees a person's state and acts on them.

The page shows the person's status (active, invited, locked, deactivated), sessions,
remembered browsers and last sign-ins, and offers each action the viewer may take on them. An
action is a `PersonAction`: a confirmation page (GET) and its POST, which calls the same
service the people list's bulk action calls. The service decides: it opens with
`teams.rules.act_on` and records the one audit event, so a POST the page never offered is
refused there (and the refusal recorded), not here. The page only hides what would be refused:
an action is offered when the viewer holds the admin's scope for it and `act_on` would let
them act on this person, and when the person's state calls for it (nobody is unlocked who
isn't locked).

The mfa app adds its section (two-factor) and its action (reset) in `mfa/admin.py`; accounts
knows nothing of second factors.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from accounts import lockout_counters
from accounts.models import User
from accounts.services import lockout_unlock, password_reset_link_send
from audit.devices import device_from_user_agent
from audit.events import AuditEventType
from audit.selectors import sign_ins_for_user
from audit.sign_in_methods import sign_in_method_label
from teams.forms import ChangeRoleForm
from teams.models import Role
from teams.proofs import fresh_proof_demand, proof_is_fresh
from teams.rules import act_on
from teams.selectors import (
    invitation_lapses_at,
    remembered_browser_for_user_by_id,
    remembered_browsers_for_user,
    session_for_user_by_id,
    sessions_for_user,
)
from teams.services.people import person_deactivate, person_reactivate, person_role_change
from teams.services.remembered_browsers import person_remembered_browsers_forget
from teams.services.sessions import session_revoke, user_sessions_end
from teams.sites import scoped

LAST_SIGN_INS = 10


@dataclass(frozen=True)
class PersonState:
    """What the page knows of the person, read once per page."""

    person: User
    viewer: User
    locked_until: datetime | None = None
    invitation_lapses_at: datetime | None = None
    sessions: list = field(default_factory=list)
    browsers: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def is_viewer(self) -> bool:
        return self.person.pk == self.viewer.pk


@dataclass(frozen=True)
class PersonAction:
    """One thing an owner may do to a person from their page.

    `permission` names the people admin's `has_<permission>_permission` and its scopes in
    `scope_permissions`; `wanted(state)` says whether the person's state calls for it; `run`
    calls the service and returns the message to show. `item` names the one session or
    browser an action acts on ("session", "browser"), passed as `?item=<id>`.
    """

    name: str
    label: Promise
    permission: str
    question: Promise
    effect: Promise
    wanted: Callable[[PersonState], bool]
    run: Callable[..., str]
    item: str = ""
    danger: bool = False
    needs_proof: Callable[[HttpRequest, User], bool] = lambda request, person: False
    form: Callable[..., object] | None = None


def _deactivate(request, person, item, form) -> str:
    person_deactivate(person=person, actor=request.user, request=request)
    return gettext("Deactivated %(email)s and ended their sessions.") % {"email": person.email}


def _reactivate(request, person, item, form) -> str:
    person_reactivate(person=person, actor=request.user, request=request)
    return gettext("Reactivated %(email)s.") % {"email": person.email}


def _role_form(request, person, data=None) -> ChangeRoleForm:
    roles = scoped(Role.objects.filter(tenant_id=person.tenant_id), request)
    return ChangeRoleForm(data, actor=request.user, roles=roles, initial={"role": person.role_id})


def _change_role(request, person, item, form) -> str:
    role = form.cleaned_data["role"]
    person_role_change(person=person, role=role, actor=request.user, request=request)
    return gettext("Gave %(email)s the role %(role)s and ended their sessions.") % {
        "email": person.email,
        "role": role.name,
    }


def _unlock(request, person, item, form) -> str:
    if lockout_unlock(user=person, actor=request.user, request=request):
        return gettext("Unlocked %(email)s: they may sign in again now.") % {"email": person.email}
    return gettext("%(email)s was not locked.") % {"email": person.email}


def _end_sessions(request, person, item, form) -> str:
    ended = user_sessions_end(
        user=person, actor=request.user, reason="revoked by an administrator", request=request
    )
    return ngettext(
        "Ended %(count)d session of %(email)s.", "Ended %(count)d sessions of %(email)s.", ended
    ) % {"count": ended, "email": person.email}


def _end_session(request, person, item, form) -> str:
    session_revoke(
        session=item, actor=request.user, reason="revoked by an administrator", request=request
    )
    return gettext("Ended that session of %(email)s.") % {"email": person.email}


def _forget_browsers(request, person, item, form) -> str:
    forgotten = person_remembered_browsers_forget(
        person=person,
        actor=request.user,
        request=request,
        browser_id=item.pk if item is not None else None,
    )
    return ngettext(
        "Forgot %(count)d remembered browser of %(email)s: it asks for the second step at the "
        "next sign-in.",
        "Forgot %(count)d remembered browsers of %(email)s: they ask for the second step at the "
        "next sign-in.",
        forgotten,
    ) % {"count": forgotten, "email": person.email}


def _send_reset_link(request, person, item, form) -> str:
    password_reset_link_send(user=person, actor=request.user, request=request)
    return gettext("Mailed %(email)s a password-reset link.") % {"email": person.email}


def _own_role_needs_proof(request, person) -> bool:
    """Changing one's own role asks for the password first, as the people list's action does."""
    return person.pk == request.user.pk and not proof_is_fresh(request=request)


PERSON_ACTIONS: list[PersonAction] = [
    PersonAction(
        name="role",
        label=_("Change role"),
        permission="role",
        question=_("Change the role of %(email)s?"),
        effect=_(
            "Their sessions end now, so the new role applies from their next sign-in. You can "
            "give only a role whose scopes you hold."
        ),
        wanted=lambda state: state.person.tenant_id is not None,
        run=_change_role,
        needs_proof=_own_role_needs_proof,
        form=_role_form,
    ),
    PersonAction(
        name="unlock",
        label=_("Unlock"),
        permission="unlock",
        question=_("Unlock %(email)s?"),
        effect=_("The lock after failed sign-ins ends now: they may try again at once."),
        wanted=lambda state: state.locked_until is not None,
        run=_unlock,
    ),
    PersonAction(
        name="reset-link",
        label=_("Mail a password-reset link"),
        permission="send_reset",
        question=_("Mail %(email)s a password-reset link?"),
        effect=_(
            "Their current password keeps working until they use the link; it works once, like "
            "a link they asked for themselves."
        ),
        wanted=lambda state: (
            state.person.is_active and state.invitation_lapses_at is None and not state.is_viewer
        ),
        run=_send_reset_link,
    ),
    PersonAction(
        name="end-sessions",
        label=_("End all sessions"),
        permission="revoke",
        question=_("End every session of %(email)s?"),
        effect=_("Each browser they are signed in on is signed out at its next click."),
        wanted=lambda state: bool(state.sessions) and not state.is_viewer,
        run=_end_sessions,
    ),
    PersonAction(
        name="end-session",
        label=_("End"),
        permission="revoke",
        question=_("End this session of %(email)s?"),
        effect=_("That browser is signed out at its next click; their other sessions go on."),
        wanted=lambda state: bool(state.sessions) and not state.is_viewer,
        run=_end_session,
        item="session",
    ),
    PersonAction(
        name="forget-browsers",
        label=_("Forget remembered browsers"),
        permission="revoke",
        question=_("Forget every remembered browser of %(email)s?"),
        effect=_("Each asks for the second step again at its next sign-in."),
        wanted=lambda state: bool(state.browsers),
        run=_forget_browsers,
    ),
    PersonAction(
        name="forget-browser",
        label=_("Forget"),
        permission="revoke",
        question=_("Forget this remembered browser of %(email)s?"),
        effect=_("It asks for the second step again at its next sign-in."),
        wanted=lambda state: bool(state.browsers),
        run=_forget_browsers,
        item="browser",
    ),
    PersonAction(
        name="deactivate",
        label=_("Deactivate"),
        permission="deactivate",
        question=_("Deactivate %(email)s?"),
        effect=_(
            "They can't sign in until they are reactivated; their sessions end now and their "
            "remembered browsers are forgotten. Their audit trail keeps naming them."
        ),
        wanted=lambda state: state.person.is_active and not state.is_viewer,
        run=_deactivate,
        danger=True,
    ),
    PersonAction(
        name="reactivate",
        label=_("Reactivate"),
        permission="deactivate",
        question=_("Reactivate %(email)s?"),
        effect=_("They may sign in again with their password and second factor."),
        wanted=lambda state: not state.person.is_active,
        run=_reactivate,
    ),
]


class PersonPageMixin:
    """The person page for the people admin (`UserAdmin`): its sections, its actions and their
    confirmation pages. A subclass adds actions to `person_actions` and sections (templates
    given the page's context) to `person_sections`."""

    person_actions: list[PersonAction] = PERSON_ACTIONS
    person_sections: list[str] = []
    person_confirm_template = "admin/accounts/user/person_action_confirm.html"

    def person_urls(self) -> list:
        view = self.admin_site.admin_view(self.person_action_view)
        view.model_admin = self  # as Django's own admin views are marked
        return [
            path(
                "<path:object_id>/manage/<slug:action>/",
                view,
                name="accounts_user_person_action",
            )
        ]

    def person_url(self, person: User) -> str:
        return reverse(
            "admin:accounts_user_change", args=[person.pk], current_app=self.admin_site.name
        )

    def person_action_url(self, person: User, action: PersonAction, item=None) -> str:
        url = reverse(
            "admin:accounts_user_person_action",
            args=[person.pk, action.name],
            current_app=self.admin_site.name,
        )
        return f"{url}?item={item.pk}" if item is not None else url

    # --- what the page shows

    def person_state(self, request: HttpRequest, person: User) -> PersonState:
        lock = lockout_counters.lock_for(email=person.email, ip=None)
        return PersonState(
            person=person,
            viewer=request.user,
            locked_until=lock.ends_at if lock is not None else None,
            invitation_lapses_at=invitation_lapses_at(user=person),
            sessions=list(sessions_for_user(user=person)),
            browsers=list(remembered_browsers_for_user(user=person)),
        )

    def person_may(self, request: HttpRequest, action: PersonAction, person: User) -> bool:
        """Does the viewer hold the scope for `action`, and would `act_on` let them act on
        `person` with it? Only to hide what the service would refuse; the service asks again."""
        if not getattr(self, f"has_{action.permission}_permission")(request):
            return False
        try:
            act_on(
                actor=request.user,
                person=person,
                scope=self.scope_permissions[action.permission],
                oneself=action.permission == "revoke",
            )
        except (ValidationError, PermissionDenied):
            return False
        return True

    def person_offered(self, request: HttpRequest, state: PersonState) -> dict[str, str]:
        """The actions offered on this page, by name, with their addresses."""
        return {
            action.name: self.person_action_url(state.person, action)
            for action in self.person_actions
            if action.wanted(state) and self.person_may(request, action, state.person)
        }

    def person_page_context(self, request: HttpRequest, person: User) -> dict:
        state = self.person_state(request, person)
        offered = self.person_offered(request, state)
        by_name = {action.name: action for action in self.person_actions}
        now = timezone.now()
        sign_ins = list(sign_ins_for_user(user=person)[:LAST_SIGN_INS])
        return {
            "person": person,
            "person_state": state,
            "person_status": self.person_status(state, now),
            "person_actions": [
                {"label": by_name[name].label, "url": url, "danger": by_name[name].danger}
                for name, url in offered.items()
                if not by_name[name].item
            ],
            "person_sessions": [
                {
                    "session": session,
                    "device": str(device_from_user_agent(session.user_agent)),
                    "end_url": self.person_action_url(person, by_name["end-session"], session)
                    if "end-session" in offered
                    else None,
                }
                for session in state.sessions
            ],
            "person_browsers": [
                {
                    "browser": browser,
                    "device": str(device_from_user_agent(browser.user_agent)),
                    "forget_url": self.person_action_url(person, by_name["forget-browser"], browser)
                    if "forget-browser" in offered
                    else None,
                }
                for browser in state.browsers
            ],
            "person_sign_ins": [
                {
                    "event": event,
                    "succeeded": event.event == AuditEventType.SIGN_IN_SUCCEEDED,
                    "method": sign_in_method_label(event)
                    if event.event == AuditEventType.SIGN_IN_SUCCEEDED
                    else "",
                    "device": str(device_from_user_agent(event.user_agent)),
                }
                for event in sign_ins
            ],
            "person_sections": self.person_sections,
        }

    @staticmethod
    def person_status(state: PersonState, now: datetime) -> str:
        """The person's status as the page's badge and words: deactivated (since), locked
        (until), invited (lapses, in the people list's words), invitation lapsed, or active."""
        person = state.person

        def when(at) -> str:
            return render_to_string("time.html", {"at": at})

        if not person.is_active:
            badge = format_html(
                '<span class="badge">{}</span>', pgettext("person status", "Deactivated")
            )
            if person.deactivated_at is None:
                return badge
            return format_html(
                "{} {}", badge, format_html(gettext("since {}"), when(person.deactivated_at))
            )
        if state.locked_until is not None:
            return format_html(
                '<span class="badge badge-danger">{}</span> {}',
                pgettext("person status", "Locked"),
                format_html(gettext("after failed sign-ins, until {}"), when(state.locked_until)),
            )
        lapses_at = state.invitation_lapses_at
        if lapses_at is not None and lapses_at > now:
            return format_html(
                '<span class="badge">{}</span> {}',
                format_html(gettext("Invited (lapses {})"), when(lapses_at)),
                gettext("They have not chosen a password yet."),
            )
        if lapses_at is not None:
            return format_html(
                '<span class="badge badge-warn">{}</span>',
                format_html(gettext("Invitation lapsed {}"), when(lapses_at)),
            )
        return format_html(
            '<span class="badge badge-ok">{}</span>', pgettext("person status", "Active")
        )

    # --- an action: its confirmation page, then the service

    def person_action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        person = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, person):
            raise PermissionDenied
        chosen = next((each for each in self.person_actions if each.name == action), None)
        if chosen is None:
            raise Http404("No such action.")
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        item = self.person_action_item(request, chosen, person)
        if request.method == "GET":
            state = self.person_state(request, person)
            if not (chosen.wanted(state) and self.person_may(request, chosen, person)):
                raise Http404("That action is not offered for this person.")
        if chosen.needs_proof(request, person):
            if request.method == "GET":
                return fresh_proof_demand(request)
            raise PermissionDenied
        form = None
        if chosen.form is not None:
            form = chosen.form(request, person, request.POST if request.method == "POST" else None)
        if request.method == "POST" and (form is None or form.is_valid()):
            return self.person_action_run(request, chosen, person, item, form)
        return TemplateResponse(
            request,
            self.person_confirm_template,
            {
                **self.admin_site.each_context(request),
                "title": chosen.label,
                "opts": self.opts,
                "original": person,
                "person": person,
                "question": chosen.question % {"email": person.email},
                "effect": chosen.effect,
                "action": chosen,
                "item": item,
                "item_device": str(device_from_user_agent(item.user_agent)) if item else "",
                "form": form,
                "person_url": self.person_url(person),
            },
        )

    def person_action_item(self, request: HttpRequest, action: PersonAction, person: User):
        """The session or browser an action names, one of the person's own (another's is a
        404, as a missing one is)."""
        if not action.item:
            return None
        raw = request.POST.get("item") if request.method == "POST" else request.GET.get("item")
        if not (raw or "").isdigit() or len(raw) > 18:
            raise Http404(f"No such {action.item}.")
        if action.item == "session":
            return session_for_user_by_id(user=person, session_id=int(raw))
        return remembered_browser_for_user_by_id(user=person, browser_id=int(raw))

    def person_action_run(
        self, request, action: PersonAction, person: User, item, form
    ) -> HttpResponse:
        """Call the action's service; show what it did, or why it refused (recorded once)."""
        try:
            done = action.run(request, person, item, form)
        except (ValidationError, PermissionDenied) as refusal:
            self.refusal_record(request, refusal, person, action=action.name)
            reason = " ".join(getattr(refusal, "messages", None) or [str(refusal)])
            self.message_user(request, reason, messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return redirect(self.person_url(person))
