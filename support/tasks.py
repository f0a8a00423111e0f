from celery import shared_task

# The module, not its functions: `support.services` queues these tasks, so each module refers
# to the other only when called.
from support import services


@shared_task(ignore_result=True)
def process_recovery_attempt(attempt_id: int) -> None:
    services.recovery_attempt_process(attempt_id=attempt_id)


@shared_task(ignore_result=True)
def sweep_recovery_attempts() -> None:
    """Look up the recovery form submissions whose task never ran (the broker was down)."""
    for attempt_id in services.recovery_attempts_due_ids():
        services.recovery_attempt_process(attempt_id=attempt_id)


@shared_task(ignore_result=True)
def expire_recovery_requests() -> None:
    services.recovery_requests_expire()
