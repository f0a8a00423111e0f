import pytest
import time_machine
from django.core import mail
from django.db import transaction

from outbox.models import OutboxMail
from outbox.services import mail_enqueue, outbox_mail_send
from outbox.tasks import sweep_outbox


def enqueue_notice(to: str = "tess@example.com") -> OutboxMail:
    return mail_enqueue(
        to=to,
        kind="backup_codes_regenerated",
        context={},
    )


def test_mail_is_sent_after_commit_with_text_html_and_footer(
    db, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queued = enqueue_notice()
        assert mail.outbox == []

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["tess@example.com"]
    assert message.subject == "New backup codes"
    assert "A new set of backup codes was made for your account." in message.body
    assert "We never ask for your password by email" in message.body
    assert settings.SITE_URL in message.body
    assert message.alternatives[0][1] == "text/html"
    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.SENT


def test_nothing_is_sent_when_the_change_rolls_back(db, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        enqueue_notice()
        raise RuntimeError("the change failed")

    assert callbacks == []
    assert mail.outbox == []
    assert not OutboxMail.objects.exists()


def test_failed_delivery_stays_pending_and_the_sweep_sends_it_later(
    db, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.accounts.failing_mail.FailingBackend"
    with (
        time_machine.travel("2026-05-01 10:00:00+00:00", tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        queued = enqueue_notice()
    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.PENDING
    assert queued.attempts == 1
    assert "SMTPServerDisconnected" in queued.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel("2026-05-01 10:00:10+00:00", tick=False):
        sweep_outbox.delay()
    assert mail.outbox == []
    with time_machine.travel("2026-05-01 10:01:00+00:00", tick=False):
        sweep_outbox.delay()

    assert len(mail.outbox) == 1
    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.SENT


def test_a_sent_mail_is_never_sent_again(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        queued = enqueue_notice()

    assert outbox_mail_send(mail_id=queued.pk) is False
    sweep_outbox.delay()

    assert len(mail.outbox) == 1
