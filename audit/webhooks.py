"""A tenant's audit webhook: set, re-keyed and removed by its owners, each change audited.

Owners (scope `security:write`) and operators set it in the admin. The signing secret is made
here and handed back once, to be shown once; the site keeps it only to sign with. A new webhook
receives the events recorded from its creation on (`AuditDelivery` cursor at the chain's current
end); changing the address keeps the cursor, so nothing is skipped or sent twice.
"""

import base64
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit import shipping
from audit.chain import chain_key
from audit.events import AuditEventType
from audit.models import AuditChain, AuditDelivery, AuditEvent, AuditWebhook
from audit.services import audit_event_record
from teams import scopes
from teams.models import Tenant, is_operator

SECRET_BYTES = 32
# "Send a test event": enough to try a fix a few times, too few to flood a receiver.
TEST_SENDS_PER_WINDOW = 5
TEST_SEND_WINDOW = timedelta(minutes=10)


def webhook_secret_new() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _refuse_unless_allowed(*, actor, tenant: Tenant) -> None:
    if is_operator(actor):
        return
    if actor.tenant_id != tenant.pk or not actor.has_perm(scopes.SECURITY_WRITE):
        raise PermissionDenied("Setting the audit webhook needs the security:write scope.")


def _refuse_bad_address(url: str) -> None:
    problem = shipping.webhook_address_problem(url)
    if problem:
        raise ValidationError(problem, code="webhook_address")


def audit_webhook_set(
    *, actor, tenant: Tenant, url: str, request: HttpRequest | None = None
) -> tuple[AuditWebhook, str | None]:
    """Make the tenant's webhook, or change its address. Returns it and, when it was just made,
    its secret (to show once)."""
    _refuse_unless_allowed(actor=actor, tenant=tenant)
    _refuse_bad_address(url)
    with transaction.atomic():
        webhook = AuditWebhook.objects.select_for_update().filter(tenant=tenant).first()
        secret = None
        if webhook is None:
            secret = webhook_secret_new()
            webhook = AuditWebhook.objects.create(tenant=tenant, url=url, secret=secret)
            chain = AuditChain.objects.filter(key=chain_key(tenant.pk)).first()
            AuditDelivery.objects.update_or_create(
                destination=AuditDelivery.Destination.WEBHOOK,
                chain_key=chain_key(tenant.pk),
                defaults={"webhook": webhook, "delivered_sequence": chain.length if chain else 0},
            )
        elif webhook.url != url:
            webhook.url = url
            webhook.save(update_fields=["url"])
        else:
            return webhook, None
        audit_event_record(
            event=AuditEventType.AUDIT_WEBHOOK_SET,
            actor=actor,
            tenant=tenant,
            request=request,
            details={"url": url, "new": secret is not None},
        )
    shipping.webhooks_exist_refresh()
    return webhook, secret


def audit_webhook_secret_replace(
    *, actor, webhook: AuditWebhook, request: HttpRequest | None = None
) -> str:
    """A new signing secret, used from the next delivery on; returned to be shown once."""
    _refuse_unless_allowed(actor=actor, tenant=webhook.tenant)
    with transaction.atomic():
        webhook.secret = webhook_secret_new()
        webhook.save(update_fields=["secret"])
        audit_event_record(
            event=AuditEventType.AUDIT_WEBHOOK_SECRET_ROTATED,
            actor=actor,
            tenant=webhook.tenant,
            request=request,
            details={"url": webhook.url},
        )
    return webhook.secret


def audit_webhook_remove(
    *, actor, webhook: AuditWebhook, request: HttpRequest | None = None
) -> None:
    """Stop sending the tenant's events to its webhook (its cursor goes with it)."""
    _refuse_unless_allowed(actor=actor, tenant=webhook.tenant)
    with transaction.atomic():
        audit_event_record(
            event=AuditEventType.AUDIT_WEBHOOK_REMOVED,
            actor=actor,
            tenant=webhook.tenant,
            request=request,
            details={"url": webhook.url},
        )
        AuditDelivery.objects.filter(webhook=webhook).delete()
        webhook.delete()
    shipping.webhooks_exist_refresh()


def audit_webhook_test_send(
    *, actor, webhook: AuditWebhook, request: HttpRequest | None = None
) -> AuditEvent:
    """Send the webhook a test event through the normal shipping path; return the event.

    The test payload is the audit event this records ("audit webhook test event sent"): it
    joins the tenant's chain and is delivered after commit like any other, signed and in order,
    so a receiver that takes it takes everything else too. A webhook waiting out its backoff is
    tried again at once, since the owner is waiting for the answer. At most
    TEST_SENDS_PER_WINDOW a tenant in TEST_SEND_WINDOW (each is a real event in the trail and
    a request to the receiver).
    """
    _refuse_unless_allowed(actor=actor, tenant=webhook.tenant)
    with transaction.atomic():
        # Locking the webhook's row makes parallel sends count in turn.
        webhook = (
            AuditWebhook.objects.select_for_update().select_related("tenant").get(pk=webhook.pk)
        )
        sent = AuditEvent.objects.filter(
            tenant=webhook.tenant,
            event=AuditEventType.AUDIT_WEBHOOK_TEST_SENT,
            created_at__gte=timezone.now() - TEST_SEND_WINDOW,
        ).count()
        if sent >= TEST_SENDS_PER_WINDOW:
            raise ValidationError(
                _(
                    "%(count)d test events were sent in the last %(minutes)d minutes, the most "
                    "allowed: wait a few minutes before sending another."
                ),
                code="test_sends_limited",
                params={"count": sent, "minutes": TEST_SEND_WINDOW.seconds // 60},
            )
        event = audit_event_record(
            event=AuditEventType.AUDIT_WEBHOOK_TEST_SENT,
            actor=actor,
            tenant=webhook.tenant,
            request=request,
            details={"url": webhook.url, "test": True},
        )
        AuditDelivery.objects.filter(webhook=webhook).update(next_attempt_at=None)
    return event
