from celery import shared_task

from accounts.lockout import LockoutHandler
from accounts.outbox import outbox_due_ids, outbox_mail_send
from accounts.services import (
    password_reset_request_process,
    password_reset_requests_due_ids,
    password_reset_requests_prune,
)


@shared_task(ignore_result=True)
def send_outbox_mail(mail_id: int) -> None:
    outbox_mail_send(mail_id=mail_id)


@shared_task(ignore_result=True)
def sweep_outbox() -> None:
    """Send whatever is still pending and due: mails whose queueing failed or that will retry."""
    for mail_id in outbox_due_ids():
        outbox_mail_send(mail_id=mail_id)


@shared_task(ignore_result=True)
def process_password_reset_request(reset_request_id: int) -> None:
    password_reset_request_process(reset_request_id=reset_request_id)


@shared_task(ignore_result=True)
def sweep_password_reset_requests() -> None:
    """Look up the reset requests whose task never ran (the broker was down), then forget old
    ones."""
    for reset_request_id in password_reset_requests_due_ids():
        password_reset_request_process(reset_request_id=reset_request_id)
    password_reset_requests_prune()


@shared_task(ignore_result=True)
def clean_expired_lockouts() -> None:
    """Delete lockout counters whose time has passed; they no longer count for anything."""
    LockoutHandler().clean_expired_user_attempts()
