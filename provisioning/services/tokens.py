"""Provisioning tokens: make, revoke, note their use, count their requests, and record what
a token was refused (an Owner makes them in the admin, operators with `manage.py scim_token`)."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.events import AuditEventType
from audit.services import audit_event_record
from provisioning.models import ProvisioningToken
from provisioning.services.people import provisioning_actor
from teams import scopes
from teams.models import Tenant
from teams.rules import act_within

TOKEN_PREFIX = "pcs_"  # noqa: S105 - the tokens' visible prefix, not a secret
TOKEN_LIFETIME = timedelta(days=365)
# "Used" is recorded at most once a minute per token: a directory's sync makes hundreds of
# requests, and the trail needs to show that it ran, not each request.
USED_EVENT_INTERVAL = timedelta(minutes=1)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(
    *,
    tenant: Tenant,
    name: str,
    actor: User | None,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> tuple[ProvisioningToken, str]:
    """Make a provisioning token; returns the row and the token, which is shown this once.

    An Owner (`security:write`) makes one in the admin; `actor` is None for the operators'
    `manage.py scim_token`, which runs with no account.
    """
    if actor is not None:
        act_within(actor=actor, tenant=tenant, scope=scopes.SECURITY_WRITE)
    name = name.strip()
    if not name:
        raise ValidationError(_("Name the token."), code="required")
    now = timezone.now()
    expires_at = expires_at or now + TOKEN_LIFETIME
    if expires_at <= now:
        raise ValidationError(_("The expiry must be in the future."), code="expired")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = ProvisioningToken.objects.create(
            tenant=tenant,
            name=name,
            prefix=token[: len(TOKEN_PREFIX) + 6],
            digest=token_digest(token),
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
        )
        audit_event_record(
            event=AuditEventType.PROVISIONING_TOKEN_CREATED,
            actor=actor,
            tenant=tenant,
            request=request,
            details={"token": row.name, "prefix": row.prefix, "expires_at": expires_at.isoformat()},
        )
    return row, token


def token_revoke(
    *, token: ProvisioningToken, actor: User, request: HttpRequest | None = None
) -> ProvisioningToken:
    """Revoke a token: its next request is refused. Revoking twice changes nothing."""
    act_within(actor=actor, tenant=token.tenant, scope=scopes.SECURITY_WRITE)
    with transaction.atomic():
        token = ProvisioningToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_event_record(
            event=AuditEventType.PROVISIONING_TOKEN_REVOKED,
            actor=actor,
            tenant=token.tenant,
            request=request,
            details={"token": token.name, "prefix": token.prefix},
        )
    return token


def token_use(*, token: ProvisioningToken, request: HttpRequest) -> None:
    """Note that a token was used: `last_used_at` and one event, at most once a minute.

    One conditional UPDATE decides which request records it, so parallel requests on any
    number of web processes record one event between them.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            ProvisioningToken.objects.filter(pk=token.pk)
            .exclude(last_used_at__gt=now - USED_EVENT_INTERVAL)
            .update(last_used_at=now)
        )
        if claimed:
            audit_event_record(
                event=AuditEventType.PROVISIONING_TOKEN_USED,
                actor=provisioning_actor(token=token),
                tenant=token.tenant,
                request=request,
                details={"token": token.name, "prefix": token.prefix},
            )


def provisioning_refusal_record(
    *,
    event: AuditEventType,
    token: ProvisioningToken,
    request: HttpRequest,
    details: dict,
) -> None:
    """Record a refused provisioning request in the token's tenant: once a minute per token,
    event and reason, so a directory retrying in a loop leaves one event a minute."""
    minute = int(timezone.now().timestamp() // 60)
    key = f"provisioning:refused:{token.pk}:{int(event)}:{details.get('reason')}:{minute}"
    if not cache.add(key, 1, timeout=120):
        return
    with transaction.atomic():
        audit_event_record(
            event=event,
            actor=provisioning_actor(token=token),
            tenant=token.tenant,
            request=request,
            details={"method": request.method, "path": request.path[:200], **details},
        )


def rate_limit_reached(*, token: ProvisioningToken, per_minute: int) -> bool:
    """Count this request against the token's allowance for the current minute."""
    minute = int(timezone.now().timestamp() // 60)
    key = f"provisioning:rate:{token.pk}:{minute}"
    cache.add(key, 0, timeout=120)
    try:
        return cache.incr(key) > per_minute
    except ValueError:
        # The counter was dropped between add and incr (a full cache): let this one through.
        return False
