import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import PasswordResetRequest
from accounts.tasks import sweep_password_reset_requests
from outbox.models import OutboxMail
from outbox.services import MAX_ATTEMPTS, mail_enqueue, outbox_mail_send
from outbox.tasks import sweep_outbox
from tests.accounts.helpers import link_in, mails_to

# Publishing connects, connects once more (CELERY_TASK_PUBLISH_RETRY_POLICY) and gives up,
# without a pause: the request never waits for the broker.
PUBLISH_CONNECTION_ATTEMPTS = 2


def enqueue_notice(to: str = "tess@example.com") -> OutboxMail:
    return mail_enqueue(to=to, kind="backup_codes_regenerated", context={})


def test_reset_request_succeeds_quickly_with_the_broker_down_and_the_sweep_mails_later(
    broker_down, django_capture_on_commit_callbacks, technician
):
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/accounts/password/reset/", {"email": technician.email})

    assert response.status_code == 302
    assert broker_down.connection_attempts == PUBLISH_CONNECTION_ATTEMPTS
    assert broker_down.pauses == []
    assert PasswordResetRequest.objects.get().processed_at is None
    assert mail.outbox == []


def test_mail_written_while_the_broker_is_down_goes_out_with_the_next_sweep(
    broker_down, django_capture_on_commit_callbacks, db
):
    with django_capture_on_commit_callbacks(execute=True):
        queued = enqueue_notice()

    assert broker_down.connection_attempts == PUBLISH_CONNECTION_ATTEMPTS
    assert broker_down.pauses == []
    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.PENDING
    assert queued.attempts == 0

    sweep_outbox.apply()

    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.SENT
    assert len(mail.outbox) == 1


def test_reset_asked_while_the_broker_is_down_is_mailed_by_the_sweeps(
    broker_down, django_capture_on_commit_callbacks, technician
):
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/accounts/password/reset/", {"email": technician.email})
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        sweep_password_reset_requests.apply()
    sweep_outbox.apply()

    (message,) = mails_to(technician.email)
    assert link_in(message)
    assert OutboxMail.objects.get().status == OutboxMail.Status.SENT


def test_smtp_failures_are_retried_with_growing_backoff_then_given_up(
    db, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.accounts.failing_mail.FailingBackend"
    start = timezone.now()
    with time_machine.travel(start, tick=False), django_capture_on_commit_callbacks(execute=True):
        queued = enqueue_notice()

    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        queued.refresh_from_db()
        waits.append(round((queued.next_attempt_at - start).total_seconds()))
        start = queued.next_attempt_at
        with time_machine.travel(start - timedelta(seconds=1), tick=False):
            sweep_outbox.delay()
        assert OutboxMail.objects.get().attempts == len(waits), "not due yet: not tried"
        with time_machine.travel(start, tick=False):
            sweep_outbox.delay()

    queued.refresh_from_db()
    assert waits == [30, 60, 120, 240, 480, 960, 1920]
    assert queued.status == OutboxMail.Status.FAILED
    assert queued.attempts == MAX_ATTEMPTS
    assert "relay is down" in queued.last_error


def test_a_mail_not_yet_due_is_not_sent_early(db, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.accounts.failing_mail.FailingBackend"
    with django_capture_on_commit_callbacks(execute=True):
        queued = enqueue_notice()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    assert outbox_mail_send(mail_id=queued.pk) is False
    assert mail.outbox == []


class HeldRelay(EmailBackend):
    """A relay that holds each message until the test lets it go, so a second sender arrives
    while the first is still sending."""

    sending = threading.Event()
    release = threading.Event()

    def send_messages(self, messages):
        HeldRelay.sending.set()
        HeldRelay.release.wait(timeout=30)
        return super().send_messages(messages)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_and_sweep_racing_for_one_mail_send_it_once(settings):
    settings.EMAIL_BACKEND = "tests.accounts.test_outbox_faults.HeldRelay"
    HeldRelay.sending.clear()
    HeldRelay.release.clear()
    queued = OutboxMail.objects.create(
        kind="backup_codes_regenerated", to="tess@example.com", subject="Hi", body_text="."
    )
    results = []
    swept_while_sending = []

    def worker() -> None:
        try:
            results.append(outbox_mail_send(mail_id=queued.pk))
        finally:
            connection.close()

    def sweep() -> None:
        try:
            swept_while_sending.append(HeldRelay.sending.wait(timeout=30))
            sweep_outbox.apply()
        finally:
            HeldRelay.release.set()
            connection.close()

    threads = [threading.Thread(target=worker), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert swept_while_sending == [True]
    assert results == [True]
    assert len(mail.outbox) == 1
    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.SENT
    assert queued.attempts == 1
