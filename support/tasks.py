from celery import shared_task

from support.services import (
    access_review_summaries_send,
    recovery_attempt_process,
    recovery_attempts_due_ids,
    recovery_requests_expire,
)


@shared_task(ignore_result=True)
def process_recovery_attempt(attempt_id: int) -> None:
    recovery_attempt_process(attempt_id=attempt_id)


@shared_task(ignore_result=True)
def sweep_recovery_attempts() -> None:
    """Look up the recovery form submissions whose task never ran (the broker was down)."""
    for attempt_id in recovery_attempts_due_ids():
        recovery_attempt_process(attempt_id=attempt_id)


@shared_task(ignore_result=True)
def expire_recovery_requests() -> None:
    recovery_requests_expire()


@shared_task(ignore_result=True)
def send_access_review_summaries() -> None:
    access_review_summaries_send()
