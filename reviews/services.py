"""Writes for access reviews: bulk actions through teams' people services, "review done", and the
monthly summary mail."""

from collections.abc import Callable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.services import lockout_unlock
from audit.events import AuditEventType
from audit.services import audit_event_record
from mfa.services import mfa_factors_reset
from outbox.links import site_link
from outbox.services import mail_enqueue
from reviews.models import AccessReview, AccessReviewSummarySent
from reviews.selectors import AccessReviewRow, access_review_rows
from teams import scopes
from teams.models import Tenant
from teams.rules import act_within
from teams.selectors import owners_for_tenant
from teams.services.people import person_deactivate, person_password_change_require
from teams.services.sessions import user_sessions_end


def _deactivate(*, person: User, actor: User, request: HttpRequest | None) -> bool:
    was_active = person.is_active
    person_deactivate(person=person, actor=actor, request=request)
    return was_active


def _revoke_sessions(*, person: User, actor: User, request: HttpRequest | None) -> bool:
    if person.pk == actor.pk:
        raise ValidationError(_("End your own sessions on your sessions page."), code="self")
    user_sessions_end(user=person, actor=actor, reason="access_review", request=request)
    return True


def _unlock(*, person: User, actor: User, request: HttpRequest | None) -> bool:
    return lockout_unlock(user=person, actor=actor, request=request)


def _reset_mfa(*, person: User, actor: User, request: HttpRequest | None) -> bool:
    """The people admin's reset: needs the actor's fresh proof (the view asks for it first)."""
    return mfa_factors_reset(target=person, actor=actor, request=request)


BULK_ACTIONS: dict[str, Callable[..., bool]] = {
    "deactivate": _deactivate,
    "revoke_sessions": _revoke_sessions,
    "require_password_change": person_password_change_require,
    "unlock": _unlock,
    "reset_mfa": _reset_mfa,
}


def people_bulk_act(
    *, action: str, people: list[User], actor: User, request: HttpRequest | None = None
) -> tuple[list[User], dict[str, str]]:
    """Apply one access-review action to each person, each in its own transaction and audited
    by the service doing it. Someone the actor may not act on is skipped with the reason why;
    the others still happen. Returns who changed and {email: reason} for who was refused."""
    run = BULK_ACTIONS[action]
    done, refused = [], {}
    for person in people:
        try:
            if run(person=person, actor=actor, request=request):
                done.append(person)
        except (ValidationError, PermissionDenied) as error:
            refused[person.email] = " ".join(getattr(error, "messages", None) or [str(error)])
    return done, refused


def access_review_complete(
    *, tenant: Tenant, actor: User, request: HttpRequest | None = None
) -> AccessReview:
    """Record "access review completed by X, N people reviewed"."""
    act_within(actor=actor, tenant=tenant, scope=scopes.MEMBERS_READ)
    rows = access_review_rows(tenant=tenant)
    flagged = sum(1 for row in rows if row.flags)
    with transaction.atomic():
        review = AccessReview.objects.create(
            tenant=tenant, reviewer=actor, people_reviewed=len(rows), flagged=flagged
        )
        audit_event_record(
            event=AuditEventType.ACCESS_REVIEW_COMPLETED,
            actor=actor,
            tenant=tenant,
            request=request,
            details={
                "summary": f"access review completed by {actor.email}, {len(rows)} people reviewed",
                "people_reviewed": len(rows),
                "flagged": flagged,
            },
        )
    return review


SUMMARY_FLAGGED_LISTED = 50


def _summary_context(*, tenant: Tenant, rows: list[AccessReviewRow]) -> dict:
    """What the monthly summary mail shows: counts, and the first flagged people by name."""
    active = sum(1 for row in rows if row.person.is_active)
    flagged = [row for row in rows if row.flags]
    return {
        "tenant": tenant,
        "people": len(rows),
        "active": active,
        "deactivated": len(rows) - active,
        "flagged_count": len(flagged),
        "flagged": flagged[:SUMMARY_FLAGGED_LISTED],
        "flagged_more": max(len(flagged) - SUMMARY_FLAGGED_LISTED, 0),
        "link": site_link("reviews:access_review"),
    }


def access_review_summaries_send() -> int:
    """The monthly reminder: mail each tenant's owners a summary of who has access, once per
    tenant and month however many times it runs (`AccessReviewSummarySent`)."""
    month = timezone.now().date().replace(day=1)
    sent = 0
    for tenant in Tenant.objects.order_by("pk"):
        owners = list(owners_for_tenant(tenant=tenant))
        if not owners:
            continue
        with transaction.atomic():
            # A run racing this one waits here on the unique mark until this one commits, then
            # finds it; nothing is mailed before the mark is ours.
            _, first = AccessReviewSummarySent.objects.get_or_create(tenant=tenant, month=month)
            if not first:
                continue
            context = _summary_context(tenant=tenant, rows=access_review_rows(tenant=tenant))
            for owner in owners:
                mail_enqueue(to=owner.email, kind="access_review_summary", context=context)
                sent += 1
    return sent
