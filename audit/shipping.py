"""The audit log shipped off the machine: every event also goes to syslog and tenants' webhooks.

Delivery is a cursor per destination and chain (`AuditDelivery`) over the chain's sequence,
rather than a row per event written beside it: the chain already numbers each tenant's events
1, 2, 3 … in commit order, so "everything after N" is the outbox, in order, with nothing more
to write when an event is recorded. The operator's syslog receiver (`AUDIT_SYSLOG_URL`) has a
cursor on every chain, the platform's included; a tenant's webhook has one on its tenant's.

- **At least once.** A cursor moves only after the destination took the events: a syslog batch
  once the connection closed cleanly after the last byte, a webhook event on a 2xx answer. A
  worker dying in between sends them again; the `sequence` and `hash` in every message (and the
  webhook's stable `webhook-id`) let a receiver drop a duplicate.
- **In order per tenant.** Each cursor sends its chain in sequence order, one batch at a time,
  and only one worker holds a cursor at once (a lease in the row, taken with one UPDATE, so no
  transaction stays open over the network and SQLite isn't held up meanwhile).
- **Retried with backoff, never lost.** A failure keeps the cursor where it was and waits
  30 seconds, doubling up to an hour, then tries again, for ever: the events stay in the log
  until the destination takes them (retention aside: what it removes first isn't sent).
- **When.** `ship_audit_events` runs every minute (beat) and is queued after each commit that
  recorded events, if any destination is set up (deciding that costs the request no database
  statement: whether any webhook exists is kept in the shared cache, and each process believes
  what it read for `WEBHOOKS_EXIST_REMEMBERED_SECONDS`).

Syslog messages are RFC 5424 (facility 13, "log audit", severity notice), with the event as
JSON in the message and its tenant, sequence and hash as structured data, framed by octet
counting (RFC 6587) over TCP, or TLS with `tls://` (the receiver's certificate checked against
the system's CAs, or `AUDIT_SYSLOG_CA_FILE`). Webhooks are signed the Standard Webhooks way.
"""

import contextlib
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext
from standardwebhooks.webhooks import Webhook
from urllib3.exceptions import NameResolutionError

from audit import tasks
from audit.chain import canonical_time
from audit.events import AuditEventType
from audit.models import AuditChain, AuditDelivery, AuditEvent, AuditWebhook
from audit.redaction import redact_secrets

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
ERROR_MAX_LENGTH = 300
SYSLOG_PRIORITY = 13 * 8 + 5  # facility 13 (log audit), severity 5 (notice)
SYSLOG_APP_NAME = "portcullis"
# 32473 is the enterprise number RFC 5612 sets aside for examples and private use.
SYSLOG_SD_ID = "portcullis@32473"
UTF8_BOM = b"\xef\xbb\xbf"
WEBHOOK_EVENT_TYPE = "audit.event"
WEBHOOKS_EXIST_CACHE_KEY = "audit-shipping:webhooks-exist"


Failure = AuditDelivery.Failure


class DeliveryFailed(Exception):
    """The destination didn't take everything: `delivered` events of the batch got through.

    `kind` (and `status`, for an answer that wasn't 2xx) say why in a form owners are shown
    in words; the message is the technical text kept for the log."""

    def __init__(
        self,
        reason: str,
        *,
        kind: str = Failure.OTHER,
        status: int | None = None,
        delivered: int = 0,
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.status = status
        self.delivered = delivered


def syslog_failure_kind(error: Exception) -> str:
    """What went wrong with a syslog connection, from the exception the socket raised."""
    if isinstance(error, TimeoutError | socket.timeout):
        return Failure.TIMEOUT
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return Failure.TLS
    if isinstance(error, socket.gaierror):
        return Failure.NAME
    if isinstance(error, OSError):
        return Failure.CONNECT
    return Failure.OTHER


def webhook_failure_kind(error: requests.RequestException) -> str:
    """What went wrong with a webhook request. The order matters: requests' SSLError and
    ConnectTimeout are also ConnectionErrors."""
    if isinstance(error, requests.exceptions.SSLError):
        return Failure.TLS
    if isinstance(error, requests.exceptions.Timeout):
        return Failure.TIMEOUT
    if isinstance(error, requests.exceptions.ConnectionError):
        cause = error.args[0] if error.args else None
        if isinstance(getattr(cause, "reason", None), NameResolutionError):
            return Failure.NAME
        return Failure.CONNECT
    return Failure.OTHER


# --- what is sent


def event_document(event: AuditEvent) -> dict:
    """One event as the destinations receive it (JSON)."""
    kind = AuditEventType(event.event)
    return {
        "id": event.pk,
        "tenant_id": event.tenant_id,
        "sequence": event.sequence,
        "event": event.event,
        "type": kind.name,
        "label": str(kind.label),
        "created_at": canonical_time(event.created_at),
        "actor_id": event.actor_id,
        "actor": event.actor_label,
        "target_id": event.target_id,
        "target": event.target_label,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": event.details,
        "hash": event.hash,
    }


def _sd_value(value: object) -> str:
    """An RFC 5424 structured-data value: `"`, `\\` and `]` escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _syslog_hostname() -> str:
    name = "".join(c for c in socket.gethostname() if 33 <= ord(c) <= 126)
    return name[:255] or "-"


def syslog_frame(event: AuditEvent, *, hostname: str) -> bytes:
    """One event as an RFC 5424 message, framed by octet counting (RFC 6587)."""
    structured = (
        f'[{SYSLOG_SD_ID} tenant="{_sd_value(event.tenant_id or 0)}" '
        f'sequence="{_sd_value(event.sequence)}" hash="{_sd_value(event.hash)}"]'
    )
    header = (
        f"<{SYSLOG_PRIORITY}>1 {canonical_time(event.created_at)} {hostname} "
        f"{SYSLOG_APP_NAME} - {AuditEventType(event.event).name[:32]} {structured} "
    )
    body = json.dumps(event_document(event), ensure_ascii=False, separators=(",", ":"))
    message = header.encode("ascii") + UTF8_BOM + body.encode("utf-8")
    return str(len(message)).encode("ascii") + b" " + message


# --- sending


def syslog_send(events: Sequence[AuditEvent]) -> None:
    """Send a batch to the syslog receiver over one connection; all of it, or DeliveryFailed
    (the batch is then sent again whole: TCP can't say which frames the receiver read)."""
    address = urlsplit(settings.AUDIT_SYSLOG_URL)
    hostname = _syslog_hostname()
    payload = b"".join(syslog_frame(event, hostname=hostname) for event in events)
    timeout = settings.AUDIT_SHIPPING_TIMEOUT
    try:
        with socket.create_connection((address.hostname, address.port), timeout=timeout) as raw:
            if address.scheme == "tls":
                context = ssl.create_default_context(cafile=settings.AUDIT_SYSLOG_CA_FILE or None)
                with context.wrap_socket(raw, server_hostname=address.hostname) as secured:
                    secured.sendall(payload)
            else:
                raw.sendall(payload)
    except (OSError, ValueError) as error:
        raise DeliveryFailed(
            f"syslog {address.hostname}:{address.port}: {error}", kind=syslog_failure_kind(error)
        ) from error


def webhook_address_problem(url: str) -> str | None:
    """Why `url` can't receive audit events, or None: production sends only to https:// on
    public addresses, so an owner can't aim the site at its own network or cloud metadata.
    `AUDIT_WEBHOOK_ALLOW_LOCAL` lifts both rules."""
    return public_address_problem(url, allow_local=settings.AUDIT_WEBHOOK_ALLOW_LOCAL)


def public_address_problem(url: str, *, allow_local: bool) -> str | None:
    """Why the site shouldn't send requests to `url` on a tenant's say-so, or None: only
    https:// to addresses that are all public, unless `allow_local` lifts both rules. The name
    is resolved now; one that resolves differently later (DNS rebinding) is beyond this check."""
    parts = urlsplit(url)
    if allow_local:
        return None if parts.scheme in ("http", "https") else gettext("Use an http(s):// address.")
    if parts.scheme != "https":
        return gettext("Use an https:// address.")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (OSError, UnicodeError, ValueError):
        return gettext("The address's host name doesn't resolve.")
    if any(not ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses):
        return gettext("The address leads to a private, loopback or reserved network.")
    return None


def webhook_send(webhook: AuditWebhook, events: Sequence[AuditEvent]) -> None:
    """POST each event in turn, signed; stop at the first one not taken (DeliveryFailed)."""
    problem = webhook_address_problem(webhook.url)
    if problem:
        raise DeliveryFailed(problem, kind=Failure.ADDRESS)
    signer = Webhook(webhook.secret)
    for delivered, event in enumerate(events):
        message_id = f"audit_{event.tenant_id}_{event.sequence}"
        now = timezone.now()
        payload = json.dumps(
            {
                "type": WEBHOOK_EVENT_TYPE,
                "timestamp": canonical_time(now),
                "data": event_document(event),
            },
            separators=(",", ":"),
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Portcullis audit webhook",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(message_id, now, payload),
        }
        try:
            # The answer's body is never read: only its status matters, whatever its size.
            response = requests.post(
                webhook.url,
                data=payload.encode("utf-8"),
                headers=headers,
                timeout=settings.AUDIT_SHIPPING_TIMEOUT,
                allow_redirects=False,
                stream=True,
            )
            response.close()
        except requests.RequestException as error:
            raise DeliveryFailed(
                f"webhook: {error}", kind=webhook_failure_kind(error), delivered=delivered
            ) from error
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(
                f"webhook: HTTP {response.status_code}",
                kind=Failure.ANSWERED,
                status=response.status_code,
                delivered=delivered,
            )


# --- the cursors


def chain_events(chain_key: int) -> QuerySet[AuditEvent]:
    if chain_key:
        return AuditEvent.objects.filter(tenant_id=chain_key)
    return AuditEvent.objects.filter(tenant__isnull=True)


def syslog_cursors_ensure() -> None:
    """A syslog cursor for every chain, starting at its beginning: the receiver gets the whole
    log kept so far, then every new event."""
    known = set(
        AuditDelivery.objects.filter(destination=AuditDelivery.Destination.SYSLOG).values_list(
            "chain_key", flat=True
        )
    )
    missing = [key for key in AuditChain.objects.values_list("key", flat=True) if key not in known]
    AuditDelivery.objects.bulk_create(
        [
            AuditDelivery(destination=AuditDelivery.Destination.SYSLOG, chain_key=key)
            for key in missing
        ],
        ignore_conflicts=True,
    )


def retry_delay(attempts: int) -> timedelta:
    """30 seconds after the first failure, doubling each time, at most an hour."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


def deliveries_ship(*, now: datetime | None = None) -> int:
    """Send what every due cursor has still to send; return how many events went out."""
    now = now or timezone.now()
    webhooks_exist_refresh()
    if settings.AUDIT_SYSLOG_URL:
        syslog_cursors_ensure()
    chain_length = AuditChain.objects.filter(key=OuterRef("chain_key")).values("length")[:1]
    due = (
        AuditDelivery.objects.annotate(chain_length=Subquery(chain_length))
        .filter(chain_length__gt=F("delivered_sequence"))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .order_by("pk")
    )
    if not settings.AUDIT_SYSLOG_URL:
        due = due.exclude(destination=AuditDelivery.Destination.SYSLOG)
    return sum(delivery_run(cursor_id=pk, now=now) for pk in due.values_list("pk", flat=True))


def delivery_run(*, cursor_id: int, now: datetime) -> int:
    """Take the cursor's lease and send its chain from where it stands until it is caught up or
    the destination fails. Returns how many events were delivered."""
    free = Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    if not AuditDelivery.objects.filter(free, pk=cursor_id).update(leased_until=now + LEASE):
        return 0  # another worker holds it
    cursor = AuditDelivery.objects.select_related("webhook").get(pk=cursor_id)
    delivered_total = 0
    try:
        while True:
            events = list(
                chain_events(cursor.chain_key)
                .filter(sequence__gt=cursor.delivered_sequence)
                .order_by("sequence")[:BATCH_SIZE]
            )
            if not events:
                return delivered_total
            try:
                _send(cursor, events)
            except DeliveryFailed as failure:
                _advance(cursor, events[: failure.delivered])
                _failed(cursor, failure)
                return delivered_total + failure.delivered
            _advance(cursor, events)
            delivered_total += len(events)
    finally:
        AuditDelivery.objects.filter(pk=cursor_id).update(leased_until=None)


def _send(cursor: AuditDelivery, events: list[AuditEvent]) -> None:
    if cursor.destination == AuditDelivery.Destination.SYSLOG:
        syslog_send(events)
    else:
        webhook_send(cursor.webhook, events)


def _advance(cursor: AuditDelivery, events: list[AuditEvent]) -> None:
    if not events:
        return
    cursor.delivered_sequence = events[-1].sequence
    cursor.delivered_at = timezone.now()
    cursor.attempts = 0
    cursor.next_attempt_at = None
    cursor.last_error = ""
    cursor.failing_since, cursor.failure_kind, cursor.failure_status = None, "", None
    AuditDelivery.objects.filter(pk=cursor.pk).update(
        delivered_sequence=cursor.delivered_sequence,
        delivered_at=cursor.delivered_at,
        attempts=0,
        next_attempt_at=None,
        last_error="",
        failing_since=None,
        failure_kind="",
        failure_status=None,
    )


def _failed(cursor: AuditDelivery, failure: DeliveryFailed) -> None:
    cursor.attempts += 1
    cursor.failing_since = cursor.failing_since or timezone.now()
    reason = redact_secrets(str(failure))[:ERROR_MAX_LENGTH]
    logger.warning(
        "Audit delivery to %s of chain %s failed (attempt %s): %s",
        cursor.destination,
        cursor.chain_key,
        cursor.attempts,
        reason,
    )
    AuditDelivery.objects.filter(pk=cursor.pk).update(
        attempts=cursor.attempts,
        next_attempt_at=timezone.now() + retry_delay(cursor.attempts),
        last_error=reason,
        failing_since=cursor.failing_since,
        failure_kind=failure.kind,
        failure_status=failure.status,
    )


# --- after each commit


# How long a process believes what it last read or wrote of whether webhooks exist, so that
# recording many events costs no cache round trip each. A webhook set in another process is
# seen within this, and the minute's run ships whatever a kick missed meanwhile.
WEBHOOKS_EXIST_REMEMBERED_SECONDS = 10.0
_webhooks_exist_read: tuple[float, bool] | None = None


def webhooks_exist() -> bool:
    """Whether any tenant has a webhook, as the shared cache remembers it (and this process, for
    `WEBHOOKS_EXIST_REMEMBERED_SECONDS`): no database statement in the request that records an
    event. The webhook services and every shipping run keep it up to date; if the cache has
    lost it, the next run (within a minute) restores it."""
    global _webhooks_exist_read  # noqa: PLW0603 - one value per process, by design
    now = time.monotonic()
    if _webhooks_exist_read is not None and now - _webhooks_exist_read[0] < (
        WEBHOOKS_EXIST_REMEMBERED_SECONDS
    ):
        return _webhooks_exist_read[1]
    try:
        exist = bool(cache.get(WEBHOOKS_EXIST_CACHE_KEY, False))
    except Exception:  # noqa: BLE001 - any cache backend's connection error
        return False
    _webhooks_exist_read = (now, exist)
    return exist


def webhooks_exist_refresh() -> None:
    global _webhooks_exist_read  # noqa: PLW0603 - one value per process, by design
    # If the cache is down, the next shipping run tries again.
    with contextlib.suppress(Exception):
        exist = AuditWebhook.objects.exists()
        _webhooks_exist_read = (time.monotonic(), exist)
        cache.set(WEBHOOKS_EXIST_CACHE_KEY, exist, None)


def shipping_kick() -> None:
    """After a commit that recorded events: ship them now if anything receives them. Never
    fails the caller; the beat run each minute sends whatever this didn't."""
    try:
        if settings.AUDIT_SYSLOG_URL or webhooks_exist():
            tasks.ship_audit_events.delay()
    except Exception as error:  # noqa: BLE001 - whatever the broker says, beat ships it later
        logger.warning("Could not queue audit shipping (%s); the minute's run will", error)
