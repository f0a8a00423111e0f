"""Sessions: tracking, capping, ending and expiring them."""

import logging
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.utils import timezone

from accounts.models import User
from audit.client import client_ip, user_agent
from audit.events import AuditEventType
from audit.services import (
    AuditEventSpec,
    BulkProgress,
    PersonRef,
    TenantRef,
    audit_event_record,
    audit_events_record_bulk,
    garbage_collector_paused,
)
from teams import notices, scopes
from teams.models import UserSession
from teams.rules import act_on
from teams.selectors import (
    IDLE,
    LIFETIME,
    SINGLE_SIGN_ON_MAX_AGE,
    session_policy_for_user,
    sessions_past_limits,
)
from teams.services.common import id_set

logger = logging.getLogger(__name__)

SESSION_STORE_GRACE = timedelta(hours=1)
SESSION_CACHE_DELETE_SLICE = 5000


def _tracked_session_create(**values) -> tuple[UserSession, int]:
    """INSERT a tracked session and count the person's other sessions in the same statement
    (a subquery in its RETURNING), so that a sign-in under its cap needs no query for it. The
    caller holds the person's row, so the count is every other committed session of theirs."""
    session = UserSession(**values)
    fields = [field for field in UserSession._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    table = quote(UserSession._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608 - names from the model
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {table}.id, "
        f"(SELECT COUNT(*) FROM {table} others WHERE others.user_id = {table}.user_id "
        f"AND others.id <> {table}.id)"
    )
    params = [
        field.get_db_prep_save(field.pre_save(session, add=True), connection) for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        session.pk, others = cursor.fetchone()
    session._state.adding = False
    session._state.db = connection.alias
    return session, others


def session_track(
    *,
    request: HttpRequest,
    user: User,
    person_locked: bool = False,
    provider_session: dict | None = None,
) -> UserSession:
    """Remember the session that `login()` just started, so it can be listed, capped and ended.

    Called on every sign-in (by `accounts.sign_in`, and by the `user_logged_in` receiver for
    any other `login()`); a second call for the same
    session finds the row made. Sets the session's absolute end, and ends the person's oldest
    sessions beyond their limit. Parallel sign-ins of one person queue on their row, so each
    counts the sessions the others made and the limit holds. Inside a sign-in's transaction it
    joins that transaction without a savepoint of its own.

    A sign-in that completes in `accounts.sign_in` calls this directly with `person_locked`,
    inside its transaction, after its `last_login` UPDATE locked the person's row: the session
    key is new, so there is no row to look for, and the sign-ins queue on that row lock without
    a `FOR UPDATE` of their own.

    `provider_session` (a sign-in through the tenant's identity provider: its `issuer`, the
    person's `subject` and the provider's `sid`) is kept on the row, so that the provider can
    end the session and the tenant's single sign-on maximum age holds it.
    """
    provider_session = provider_session or {}
    if not request.session.session_key:
        request.session.save()
    key = request.session.session_key
    in_sign_in = person_locked and connection.in_atomic_block
    with transaction.atomic(savepoint=False):
        if not in_sign_in:
            tracked = UserSession.objects.filter(session_key=key).first()
            if tracked is not None:
                return tracked
            list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        policy = session_policy_for_user(user=user)
        now = timezone.now()
        tracked, others = _tracked_session_create(
            tenant=user.tenant,
            user=user,
            session_key=key,
            ip=client_ip(request),
            user_agent=user_agent(request),
            started_at=now,
            last_active_at=now,
            provider_issuer=provider_session.get("issuer", ""),
            provider_subject=provider_session.get("subject", ""),
            provider_sid=provider_session.get("sid", ""),
        )
        oldest = (
            list(
                UserSession.objects.filter(user=user)
                .order_by("-started_at", "-id")
                .values_list("pk", flat=True)[policy.max_sessions :]
            )
            if others >= policy.max_sessions
            else []
        )
        ended = (
            len(
                tracked_sessions_delete(
                    UserSession.objects.filter(pk__in=oldest),
                    note=notices.session_limit_reached(limit=policy.max_sessions),
                )
            )
            if oldest
            else 0
        )
        if ended:
            audit_event_record(
                event=AuditEventType.SESSION_REVOKED,
                actor=None,
                tenant=user.tenant,
                target=user,
                request=request,
                details={
                    "reason": "session limit",
                    "limit": policy.max_sessions,
                    "sessions": ended,
                },
            )
    # The store keeps the session a little past its lifetime, so that the middleware, not the
    # store, ends it and can say why; the store's expiry is only the backstop.
    request.session.set_expiry(now + policy.lifetime + SESSION_STORE_GRACE)
    return tracked


def session_key_cycle(*, request: HttpRequest) -> None:
    """Give a signed-in session a new key (and CSRF token) when it gains rights without a
    login() call, e.g. at the second sign-in step; its tracking row follows the new key."""
    old_key = request.session.session_key
    request.session.cycle_key()
    rotate_token(request)
    session_key_moved(old_key=old_key, new_key=request.session.session_key)


def session_key_moved(*, old_key: str | None, new_key: str | None) -> None:
    """Follow a session whose key changed without a new sign-in (a password change cycles it)."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def session_forget(*, session_key: str | None) -> None:
    """Drop the tracking row of a session that is ending through sign-out."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def session_touch(*, tracked: UserSession, now: datetime) -> None:
    UserSession.objects.filter(pk=tracked.pk).update(last_active_at=now)


def session_rekey(*, tracked: UserSession, session_key: str | None) -> None:
    """Follow a session whose key changed mid-request without `session_key_cycle` (which moves
    the row itself), or forget one that ended.

    A rotated key still signed in as the same person keeps its row, so the session is not taken
    for revoked on its next request.
    """
    with transaction.atomic():
        holder = (
            UserSession.objects.filter(session_key=session_key).first() if session_key else None
        )
        if holder is not None and holder.pk == tracked.pk:
            return
        if session_key and holder is None:
            UserSession.objects.filter(pk=tracked.pk).update(session_key=session_key)
        else:
            UserSession.objects.filter(pk=tracked.pk).delete()


def _session_cache_forget(session_keys: list[str]) -> None:
    cache_key_prefix = getattr(_session_store(), "cache_key_prefix", None)
    if cache_key_prefix and session_keys:
        try:
            # In slices: one command for 100,000 keys can outlast the cache's socket timeout.
            for start in range(0, len(session_keys), SESSION_CACHE_DELETE_SLICE):
                caches[settings.SESSION_CACHE_ALIAS].delete_many(
                    [
                        cache_key_prefix + key
                        for key in session_keys[start : start + SESSION_CACHE_DELETE_SLICE]
                    ]
                )
        except Exception:  # noqa: BLE001 - the tracking rows are gone, so stale copies are refused
            logger.warning("Session cache unavailable; ended sessions may stay cached")


def tracked_sessions_delete(
    tracked: QuerySet[UserSession], *, note: dict = notices.SESSION_ENDED
) -> list[tuple[int, str]]:
    """End the given tracked sessions and forget them, in a fixed number of queries however many
    there are. Returns (person id, session key) of each one ended.

    Each session's data in the store is replaced by `note` alone: the cookie is anonymous from
    its next request, which is told why it was signed out.
    """
    with transaction.atomic():
        ended = list(tracked.values_list("user_id", "session_key"))
        if not ended:
            return []
        Session.objects.filter(session_key__in=tracked.values("session_key")).update(
            session_data=_session_store()().encode({notices.ENDED_NOTE_KEY: note})
        )
        UserSession.objects.filter(pk__in=tracked.values("pk")).delete()
    _session_cache_forget([key for _, key in ended])
    return ended


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def user_sessions_delete(*, user: User, keep_session_key: str | None = None) -> int:
    tracked = UserSession.objects.filter(user=user)
    if keep_session_key:
        tracked = tracked.exclude(session_key=keep_session_key)
    return len(tracked_sessions_delete(tracked))


def user_sessions_end(
    *,
    user: User,
    actor: User,
    reason: str,
    request: HttpRequest | None = None,
    keep_session_key: str | None = None,
    scope: str = scopes.SESSIONS_REVOKE,
) -> int:
    """End every session of a person at once (except `keep_session_key`): their old cookies are
    anonymous on the next request. Records one event naming the reason and how many ended.

    Someone else's need `scope`: `sessions:revoke`, or the scope of the action that ends them as
    part of itself (an MFA reset). One's own need nothing."""
    act_on(actor=actor, person=user, scope=scope, oneself=True)
    with transaction.atomic():
        ended = user_sessions_delete(user=user, keep_session_key=keep_session_key)
        audit_event_record(
            event=AuditEventType.SESSION_REVOKED,
            actor=actor,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"reason": reason, "sessions": ended},
        )
    return ended


def session_revoke(
    *, session: UserSession, actor: User, reason: str, request: HttpRequest | None = None
) -> None:
    """End one tracked session: its cookie is anonymous on its next request."""
    person = session.user
    act_on(actor=actor, person=person, scope=scopes.SESSIONS_REVOKE, oneself=True)
    with transaction.atomic():
        ended = len(tracked_sessions_delete(UserSession.objects.filter(pk=session.pk)))
        if ended:
            audit_event_record(
                event=AuditEventType.SESSION_REVOKED,
                actor=actor,
                tenant=person.tenant,
                target=person,
                request=request,
                details={"reason": reason, "sessions": ended, "ip": session.ip},
            )


def _expiry_event(reason: str) -> AuditEventType:
    """The event of a session ended past a limit: its own for the single sign-on maximum age,
    so an owner can find the sessions their provider's setting ended."""
    if reason == SINGLE_SIGN_ON_MAX_AGE:
        return AuditEventType.SESSION_SINGLE_SIGN_ON_MAX_AGE
    return AuditEventType.SESSION_EXPIRED


def session_expire(*, request: HttpRequest, tracked: UserSession, reason: str) -> None:
    """Sign out the current request because its session is past a limit, and audit it once
    (the beat task may be ending the same session at the same moment)."""
    user = request.user
    with transaction.atomic():
        deleted, _ = UserSession.objects.filter(pk=tracked.pk).delete()
        if deleted:
            audit_event_record(
                event=_expiry_event(reason),
                actor=None,
                tenant=user.tenant,
                target=user,
                request=request,
                details={"reason": reason},
            )
        logout(request)


def sessions_expire(
    *, now: datetime | None = None, progress: BulkProgress | None = None
) -> dict[str, int]:
    """End, server-side and in bulk, every session past its idle timeout or lifetime.

    A fixed number of statements however many sessions end, in one transaction: one finds and
    locks them, a few per distinct limit (reason and length) rewrite their stored sessions and
    delete them, two record one event per session (the chain lock and a single INSERT), and the
    session store's own expired rows are cleared. The sessions are deleted while the events are
    hashed. Rows another run holds are skipped, so overlapping runs never end (or audit) a
    session twice. Returns counts by reason.

    The price of one transaction: the audit chains of the tenants involved stay locked until it
    commits, so their sign-ins wait for it; a few seconds for a backlog of 100,000, nothing
    noticeable for the minute's worth beat finds.
    """
    now = now or timezone.now()
    counts = dict.fromkeys((IDLE, LIFETIME, SINGLE_SIGN_ON_MAX_AGE), 0)
    with garbage_collector_paused(), transaction.atomic():
        chosen = list(
            sessions_past_limits(now=now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .values_list(
                "pk", "tenant_id", "user_id", "user__email", "ip", "limit_reason", "limit_minutes"
            )
        )
        if progress is not None:
            progress(stage="ending sessions", done=0, total=len(chosen))
        by_limit: dict[tuple[str, int], list[int]] = {}
        for pk, _, _, _, _, reason, minutes in chosen:
            by_limit.setdefault((reason, minutes), []).append(pk)
            counts[reason] += 1

        def sessions_delete() -> None:
            for (reason, minutes), pks in by_limit.items():
                tracked_sessions_delete(
                    UserSession.objects.filter(pk__in=id_set(pks)),
                    note=notices.session_expired(reason=reason, limit=timedelta(minutes=minutes)),
                )

        audit_events_record_bulk(
            [
                AuditEventSpec(
                    _expiry_event(reason),
                    TenantRef(tenant_id) if tenant_id else None,
                    target=PersonRef(user_id, email),
                    details={"reason": reason, "ip": ip},
                )
                for _, tenant_id, user_id, email, ip, reason, _ in chosen
            ],
            progress=progress,
            meanwhile=sessions_delete,
        )
    _session_store().clear_expired()
    return counts
