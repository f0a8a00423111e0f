"""The audit log shipped off the machine: to a syslog receiver and to tenants' webhooks.

The receivers run on the loopback interface (tests/audit/shipping_receivers.py). Events are
delivered at least once, in order per tenant, and none is lost while a receiver is down.
"""

import re

import pytest
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditDelivery, AuditEvent, AuditWebhook
from audit.services import audit_event_record
from audit.shipping import deliveries_ship
from audit.tasks import ship_audit_events
from teams import scopes
from tests.audit.shipping_receivers import (
    SyslogReceiver,
    WebhookReceiver,
    self_signed_localhost,
)
from tests.factories import UserFactory
from tests.signing_in import sign_in

RFC5424_HEADER = re.compile(
    rb"<109>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ portcullis - [A-Z_]{1,32} "
    rb'\[portcullis@32473 tenant="(\d+)" sequence="(\d+)" hash="([0-9a-f]{64})"\] \xef\xbb\xbf\{'
)
# The secret as the page shown once gives it, in its own <code> for the copy button.
SHOWN_SECRET = re.compile(
    r'<code id="webhook-secret-1" class="secret-value">(whsec_[A-Za-z0-9+/=]+)</code>'
)


def record(tenant, n: int, *, start: int = 0) -> None:
    for index in range(start, start + n):
        audit_event_record(
            event=AuditEventType.PERSON_EDITED,
            actor=None,
            tenant=tenant,
            details={"n": index},
        )


def sequences_by_tenant(documents: list[dict]) -> dict[int | None, list[int]]:
    by_tenant: dict[int | None, list[int]] = {}
    for document in documents:
        by_tenant.setdefault(document["tenant_id"], []).append(document["sequence"])
    return by_tenant


def chain_sequences(tenant) -> list[int]:
    return list(
        AuditEvent.objects.filter(tenant=tenant)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )


@pytest.fixture
def syslog(settings):
    receiver = SyslogReceiver()
    receiver.start()
    settings.AUDIT_SYSLOG_URL = receiver.url
    settings.AUDIT_SHIPPING_TIMEOUT = 2.0
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook_receiver(settings):
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = True
    settings.AUDIT_SHIPPING_TIMEOUT = 2.0
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


def test_events_reach_the_syslog_receiver_as_rfc5424_in_order(clock, syslog, tenant, other_tenant):
    record(tenant, 3)
    record(other_tenant, 2)

    ship_audit_events()
    syslog.wait_for(5)

    assert len(syslog.messages) == 5
    for message in syslog.messages:
        assert RFC5424_HEADER.match(message), message[:200]
    by_tenant = sequences_by_tenant(syslog.documents())
    assert by_tenant[tenant.pk] == chain_sequences(tenant)
    assert by_tenant[other_tenant.pk] == chain_sequences(other_tenant)
    first = syslog.documents()[0]
    assert first["type"] == "PERSON_EDITED"
    assert first["hash"] == AuditEvent.objects.get(tenant=first["tenant_id"], sequence=1).hash


def test_events_reach_a_tls_syslog_receiver_checked_against_its_ca(
    clock, settings, tmp_path, tenant
):
    context, certificate_file = self_signed_localhost(tmp_path)
    receiver = SyslogReceiver(tls=context)
    receiver.start()
    settings.AUDIT_SYSLOG_URL = receiver.url
    settings.AUDIT_SHIPPING_TIMEOUT = 2.0
    try:
        record(tenant, 2)
        shipped_untrusted = deliveries_ship()
        settings.AUDIT_SYSLOG_CA_FILE = str(certificate_file)
        clock.shift(31)
        shipped_trusted = deliveries_ship()
        receiver.wait_for(2)
    finally:
        receiver.stop()

    # Unknown to the system's CAs, the receiver is refused until its CA is named.
    assert (shipped_untrusted, shipped_trusted) == (0, 2)
    assert [document["sequence"] for document in receiver.documents()] == [1, 2]


def test_nothing_is_sent_twice_once_delivered(clock, syslog, tenant):
    record(tenant, 2)
    assert deliveries_ship() == 2
    syslog.wait_for(2)

    assert deliveries_ship() == 0
    assert len(syslog.messages) == 2


def test_none_is_lost_while_the_syslog_receiver_is_down(clock, syslog, tenant, other_tenant):
    record(tenant, 2)
    ship_audit_events()
    syslog.wait_for(2)
    syslog.stop()

    record(tenant, 3, start=2)
    record(other_tenant, 2)
    ship_audit_events()
    cursor = AuditDelivery.objects.get(destination="syslog", chain_key=tenant.pk)
    assert (cursor.delivered_sequence, cursor.attempts) == (2, 1)
    assert "Connection refused" in cursor.last_error

    # Down for a while: a second failure waits longer (30 s, then 60 s).
    clock.shift(31)
    ship_audit_events()
    assert AuditDelivery.objects.get(pk=cursor.pk).attempts == 2
    record(tenant, 1, start=5)

    syslog.start()
    clock.shift(30)
    ship_audit_events()
    assert len(syslog.messages) == 2  # still waiting out the backoff

    clock.shift(31)
    assert deliveries_ship() == 4 + 2
    syslog.wait_for(2 + 6)

    by_tenant = sequences_by_tenant(syslog.documents())
    assert by_tenant[tenant.pk] == chain_sequences(tenant) == [1, 2, 3, 4, 5, 6]
    assert by_tenant[other_tenant.pk] == chain_sequences(other_tenant)
    assert AuditDelivery.objects.get(pk=cursor.pk).attempts == 0


def test_events_are_shipped_right_after_their_commit(
    clock, syslog, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        record(tenant, 2)
    syslog.wait_for(2)

    assert [document["sequence"] for document in syslog.documents()] == [1, 2]


def webhook_made_in_the_admin(owner, url: str) -> str:
    """Set the tenant's webhook as its owner does; return the secret shown once."""
    browser = sign_in(Client(), owner)
    page = browser.post("/admin/audit/auditwebhook/add/", {"url": url})
    text = page.content.decode()
    secret = SHOWN_SECRET.search(text).group(1)
    assert "won't be shown again" in text
    return secret


def test_an_owner_sets_a_webhook_and_sees_the_secret_once(clock, owner, tenant, webhook_receiver):
    secret = webhook_made_in_the_admin(owner, webhook_receiver.url)

    webhook = AuditWebhook.objects.get(tenant=tenant)
    assert webhook.secret == secret
    browser = sign_in(Client(), owner)
    change_page = browser.get(f"/admin/audit/auditwebhook/{webhook.pk}/change/").content.decode()
    assert secret not in change_page
    assert AuditEvent.objects.filter(event=AuditEventType.AUDIT_WEBHOOK_SET, tenant=tenant).exists()


def test_only_owners_set_a_webhook(clock, tenant, webhook_receiver):
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN, email="admin@northwind.example")
    browser = sign_in(Client(), admin)

    response = browser.post("/admin/audit/auditwebhook/add/", {"url": webhook_receiver.url})

    assert response.status_code == 403
    assert not AuditWebhook.objects.exists()


def test_webhook_events_are_signed_in_order_and_none_lost_while_it_is_down(
    clock, owner, tenant, other_tenant, webhook_receiver
):
    webhook_receiver.secret = webhook_made_in_the_admin(owner, webhook_receiver.url)
    record(tenant, 2)
    record(other_tenant, 2)
    ship_audit_events()
    first_delivered = [item["sequence"] for item in webhook_receiver.received]

    webhook_receiver.stop()
    record(tenant, 3, start=2)
    ship_audit_events()
    clock.shift(31)
    ship_audit_events()
    cursor = AuditDelivery.objects.get(destination="webhook", chain_key=tenant.pk)
    assert cursor.attempts == 2

    webhook_receiver.start()
    clock.shift(61)
    ship_audit_events()

    assert webhook_receiver.refused == 0
    # From the "webhook set" event on, the tenant's own events only, each once, in order.
    since = AuditEvent.objects.get(event=AuditEventType.AUDIT_WEBHOOK_SET).sequence
    expected = [sequence for sequence in chain_sequences(tenant) if sequence >= since]
    assert first_delivered == expected[:3]
    received = [item["sequence"] for item in webhook_receiver.received]
    assert received == expected
    assert {item["tenant_id"] for item in webhook_receiver.received} == {tenant.pk}
    assert len({item["id"] for item in webhook_receiver.received}) == len(received)


def test_a_wrong_secret_fails_the_receivers_check(clock, owner, tenant, webhook_receiver):
    webhook_made_in_the_admin(owner, webhook_receiver.url)
    webhook_receiver.secret = "whsec_" + "QUJD" * 8

    ship_audit_events()

    assert webhook_receiver.refused == 1
    assert webhook_receiver.received == []
    cursor = AuditDelivery.objects.get(destination="webhook", chain_key=tenant.pk)
    assert cursor.last_error == "webhook: HTTP 400"


def test_production_refuses_a_webhook_to_a_private_address(clock, owner, settings):
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = False
    browser = sign_in(Client(), owner)

    plain = browser.post("/admin/audit/auditwebhook/add/", {"url": "http://example.com/x"})
    private = browser.post("/admin/audit/auditwebhook/add/", {"url": "https://127.0.0.1/x"})

    assert "Use an https:// address." in plain.content.decode()
    assert "private, loopback or reserved network" in private.content.decode()
    assert not AuditWebhook.objects.exists()


def test_replacing_the_secret_shows_the_new_one_once_and_signs_with_it(
    clock, owner, tenant, webhook_receiver
):
    old = webhook_made_in_the_admin(owner, webhook_receiver.url)
    webhook = AuditWebhook.objects.get(tenant=tenant)
    browser = sign_in(Client(), owner)

    page = browser.post(
        "/admin/audit/auditwebhook/",
        {"action": "replace_secret", "index": 0, "_selected_action": [webhook.pk]},
    ).content.decode()
    new = SHOWN_SECRET.search(page).group(1)
    webhook_receiver.secret = new
    ship_audit_events()

    assert new != old
    assert webhook_receiver.refused == 0
    assert webhook_receiver.received
    assert AuditEvent.objects.filter(
        event=AuditEventType.AUDIT_WEBHOOK_SECRET_ROTATED, tenant=tenant, actor=owner
    ).exists()
