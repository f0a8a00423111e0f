"""What needs doing: the to-dos the dashboard opens on for owners and operators.

Each to-do is one selector of the app that owns it, read through `visible_to(viewer)` (the
viewer's own tenant, or every tenant for an operator), counted in one query, and shown only to
people holding the scope that acts on it, with a link to the page that does. The people list's
filters read the same selectors, so a count and the list it links to agree.
"""

from dataclasses import dataclass
from datetime import datetime

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext

from accounts.models import User
from accounts.selectors import people_locked, people_with_breached_password
from audit.delivery_words import delivery_status_html
from audit.selectors import syslog_deliveries_failing, webhooks_failing
from reviews.selectors import access_review_due_since, people_missing_required_factor
from support.selectors import RECOVERY_SCOPES, recovery_requests_waiting
from teams import access, scopes
from teams.models import is_operator
from teams.selectors import people_invited_lapsing

# Whoever holds any of these sees the to-do list (and its "all is well" when it is empty).
TODO_SCOPES = frozenset(
    {
        *RECOVERY_SCOPES,
        scopes.LOCKOUT_UNLOCK,
        scopes.MEMBERS_READ,
        scopes.MEMBERS_WRITE,
        scopes.SECURITY_WRITE,
    }
)


@dataclass(frozen=True)
class Todo:
    key: str
    count: int
    words: str
    link: str
    link_words: str
    detail: SafeString | str = ""


def todos_shown_to(viewer: User) -> bool:
    return is_operator(viewer) or access.holds_any_scope(viewer, TODO_SCOPES)


def _people_link(query: str) -> str:
    return f"{reverse('admin:accounts_user_changelist')}?{query}"


def todos_for(*, viewer: User, now: datetime) -> list[Todo]:
    """The viewer's to-dos, most urgent first; empty when all is well. One query per to-do the
    viewer may act on."""
    operator = is_operator(viewer)
    people = User.objects.visible_to(viewer)
    todos: list[Todo] = []

    def holds(*scope_keys: str) -> bool:
        return operator or access.holds_any_scope(viewer, scope_keys)

    if holds(*RECOVERY_SCOPES):
        waiting = recovery_requests_waiting(viewer=viewer).count()
        if waiting:
            link = (
                f"{reverse('admin:support_recoveryrequest_changelist')}?status__exact=open"
                if operator
                else reverse("support:recovery_queue")
            )
            todos.append(
                Todo(
                    key="recovery",
                    count=waiting,
                    words=ngettext(
                        "%(count)d recovery request waiting",
                        "%(count)d recovery requests waiting",
                        waiting,
                    )
                    % {"count": waiting},
                    link=link,
                    link_words=gettext("Open the recovery requests"),
                )
            )
    if holds(scopes.LOCKOUT_UNLOCK):
        locked = people_locked(people, now=now).count()
        if locked:
            todos.append(
                Todo(
                    key="locked",
                    count=locked,
                    words=ngettext(
                        "%(count)d person locked out", "%(count)d people locked out", locked
                    )
                    % {"count": locked},
                    link=_people_link("locked=yes"),
                    link_words=gettext("See who is locked"),
                )
            )
    if holds(scopes.MEMBERS_READ):
        missing = people_missing_required_factor(people, now=now).count()
        if missing:
            base = (
                reverse("admin:reviews_accessreviewentry_changelist")
                if operator
                else reverse("reviews:access_review")
            )
            todos.append(
                Todo(
                    key="no_factor",
                    count=missing,
                    words=ngettext(
                        "%(count)d person without the second factor their role requires",
                        "%(count)d people without the second factor their role requires",
                        missing,
                    )
                    % {"count": missing},
                    link=f"{base}?flag=no_mfa_required",
                    link_words=gettext("See who"),
                )
            )
    if holds(scopes.MEMBERS_WRITE):
        lapsing = people_invited_lapsing(people, now=now).count()
        if lapsing:
            todos.append(
                Todo(
                    key="invitations",
                    count=lapsing,
                    words=ngettext(
                        "%(count)d invitation lapsing within 2 days or lapsed",
                        "%(count)d invitations lapsing within 2 days or lapsed",
                        lapsing,
                    )
                    % {"count": lapsing},
                    link=_people_link("invitation=lapsing"),
                    link_words=gettext("Send them again"),
                )
            )
        breached = people_with_breached_password(people).count()
        if breached:
            todos.append(
                Todo(
                    key="breached",
                    count=breached,
                    words=ngettext(
                        "%(count)d person's password was found in a data breach",
                        "%(count)d people's passwords were found in a data breach",
                        breached,
                    )
                    % {"count": breached},
                    link=_people_link("breached=yes"),
                    link_words=gettext("See who"),
                )
            )
    if viewer.tenant_id is not None and holds(scopes.MEMBERS_READ):
        due_since = access_review_due_since(tenant=viewer.tenant, now=now)
        if due_since is not None:
            todos.append(
                Todo(
                    key="access_review",
                    count=1,
                    words=gettext("The access review is due"),
                    detail=format_html(
                        gettext("Due since {date}"),
                        date=SafeString(render_to_string("time.html", {"at": due_since}).strip()),
                    ),
                    link=reverse("reviews:access_review"),
                    link_words=gettext("Review who has access"),
                )
            )
    if holds(scopes.SECURITY_WRITE):
        failing = list(webhooks_failing(viewer=viewer))
        if failing:
            single = len(failing) == 1 and not operator
            todos.append(
                Todo(
                    key="webhook",
                    count=len(failing),
                    words=gettext("The audit webhook is failing")
                    if single
                    else gettext("Audit webhooks are failing"),
                    link=reverse("admin:audit_auditwebhook_change", args=[failing[0].pk])
                    if single
                    else reverse("admin:audit_auditwebhook_changelist"),
                    link_words=gettext("Open the webhook") if single else gettext("Open them"),
                    detail=delivery_status_html(failing[0]),
                )
            )
    if operator:
        syslog = syslog_deliveries_failing().first()
        if syslog is not None:
            todos.append(
                Todo(
                    key="syslog",
                    count=1,
                    words=gettext("The syslog receiver (AUDIT_SYSLOG_URL) is failing"),
                    link="",
                    link_words="",
                    detail=delivery_status_html(syslog),
                )
            )
    return todos
