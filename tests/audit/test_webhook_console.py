"""The audit webhook's page for owners: the signing secret shown once in a panel with a copy
button, "Send a test event" through the normal shipping path, and delivery in words.

The receivers run on the loopback interface (tests/audit/shipping_receivers.py).
"""

import re

import pytest
from django.test import Client
from django.utils import timezone

from audit.delivery_words import delivery_status_html
from audit.events import AuditEventType
from audit.models import AuditDelivery, AuditEvent, AuditWebhook
from audit.tasks import ship_audit_events
from tests.audit.shipping_receivers import SilentReceiver, WebhookReceiver
from tests.signing_in import sign_in

SHOWN_SECRET = re.compile(r'<code id="webhook-secret-1" class="secret-value">(whsec_[^<]+)</code>')


@pytest.fixture
def receiver(settings):
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = True
    settings.AUDIT_SHIPPING_TIMEOUT = 1.0
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def owner_browser(owner) -> Client:
    return sign_in(Client(), owner)


def webhook_set(browser: Client, receiver: WebhookReceiver) -> AuditWebhook:
    page = browser.post("/admin/audit/auditwebhook/add/", {"url": receiver.url}).content.decode()
    receiver.secret = SHOWN_SECRET.search(page).group(1)
    return AuditWebhook.objects.get()


def test_the_secret_is_shown_once_in_a_panel_with_a_copy_button(clock, owner_browser, receiver):
    response = owner_browser.post("/admin/audit/auditwebhook/add/", {"url": receiver.url})
    page = response.content.decode()
    secret = SHOWN_SECRET.search(page).group(1)
    webhook = AuditWebhook.objects.get()

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    assert 'data-copy-target="webhook-secret-1"' in page
    assert re.search(r"/static/js/site\.[0-9a-f]+\.js", page)
    assert "won't be shown again" in page
    assert f'href="/admin/audit/auditwebhook/{webhook.pk}/change/"' in page
    assert secret == webhook.secret
    # Nothing keeps it to show again: not the next page, not a flash message.
    later = owner_browser.get(f"/admin/audit/auditwebhook/{webhook.pk}/change/").content.decode()
    assert secret not in later
    assert secret not in owner_browser.get("/admin/audit/auditwebhook/").content.decode()


def test_a_test_event_reaches_the_receiver_and_is_audited_once(
    clock, owner, owner_browser, receiver, django_capture_on_commit_callbacks
):
    webhook = webhook_set(owner_browser, receiver)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_browser.post(f"/admin/audit/auditwebhook/{webhook.pk}/test/")
    page = owner_browser.get(response.url).content.decode()

    sent = AuditEvent.objects.filter(event=AuditEventType.AUDIT_WEBHOOK_TEST_SENT)
    assert sent.count() == 1
    assert sent.get().actor == owner
    received = [item["type"] for item in receiver.received]
    assert AuditEventType.AUDIT_WEBHOOK_TEST_SENT.name in received
    assert receiver.refused == 0
    assert "A test event was sent." in page
    assert f"The test event (event {sent.get().sequence}) reached the receiver." in page
    assert re.search(r"Delivered <time [^>]+>2 Mar 2026", page)


@pytest.mark.parametrize(
    ("break_it", "words"),
    [
        ("answer_503", "the receiver answered 503"),
        ("stop", "could not connect"),
        ("silent", "timed out"),
    ],
)
def test_a_failing_webhook_reads_in_words_with_its_tries(
    clock, owner_browser, receiver, break_it, words, django_capture_on_commit_callbacks
):
    webhook = webhook_set(owner_browser, receiver)
    if break_it == "answer_503":
        receiver.answer = 503
    elif break_it == "stop":
        receiver.stop()
    else:
        silent = SilentReceiver()
        AuditWebhook.objects.filter(pk=webhook.pk).update(url=silent.url)

    with django_capture_on_commit_callbacks(execute=True):
        owner_browser.post(f"/admin/audit/auditwebhook/{webhook.pk}/test/")
    once = owner_browser.get(f"/admin/audit/auditwebhook/{webhook.pk}/change/").content.decode()
    clock.shift(31)
    ship_audit_events()
    twice = owner_browser.get("/admin/audit/auditwebhook/").content.decode()

    since = r"<time [^>]+>2 Mar 2026, [0-9:]+ UTC</time>"
    assert re.search(rf"Failing since {since} — 1 try — {words}", once)
    assert "has not reached the receiver yet" in once
    assert f"— 2 tries — {words}" in twice
    for raw in ("HTTP 503", "Connection refused", "HTTPConnection", "Read timed out", "webhook:"):
        assert raw not in once + twice
    if break_it == "silent":
        silent.close()


def test_status_words_before_any_try_and_after_a_delivery(clock):
    assert str(delivery_status_html(None)) == "Never sent"
    assert str(delivery_status_html(AuditDelivery())) == "Never sent"
    delivered = str(delivery_status_html(AuditDelivery(delivered_at=timezone.now())))
    assert re.fullmatch(r"Delivered <time [^>]+>2 Mar 2026, [0-9:]+ UTC</time>", delivered)


def test_test_sends_are_rate_limited(clock, owner_browser, receiver):
    webhook = webhook_set(owner_browser, receiver)
    for _ in range(5):
        owner_browser.post(f"/admin/audit/auditwebhook/{webhook.pk}/test/")

    page = owner_browser.post(
        f"/admin/audit/auditwebhook/{webhook.pk}/test/", follow=True
    ).content.decode()

    assert "5 test events were sent in the last 10 minutes" in page
    assert AuditEvent.objects.filter(event=AuditEventType.AUDIT_WEBHOOK_TEST_SENT).count() == 5
    clock.shift(601)
    owner_browser.post(f"/admin/audit/auditwebhook/{webhook.pk}/test/")
    assert AuditEvent.objects.filter(event=AuditEventType.AUDIT_WEBHOOK_TEST_SENT).count() == 6


def test_another_tenants_webhook_cant_be_tested(clock, owner_browser, other_owner, receiver):
    other = sign_in(Client(), other_owner)
    webhook = webhook_set(other, receiver)

    response = owner_browser.post(f"/admin/audit/auditwebhook/{webhook.pk}/test/")

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(event=AuditEventType.AUDIT_WEBHOOK_TEST_SENT).exists()


def test_a_test_send_is_post_only(clock, owner_browser, receiver):
    webhook = webhook_set(owner_browser, receiver)

    assert owner_browser.get(f"/admin/audit/auditwebhook/{webhook.pk}/test/").status_code == 405
