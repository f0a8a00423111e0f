from celery import shared_task

# The module, not its functions: `accounts.services` queues these tasks, so each module refers
# to the other only when called.
from accounts import breached, services
from accounts.lockout import LockoutHandler


@shared_task(ignore_result=True)
def process_password_reset_request(reset_request_id: int) -> None:
    services.password_reset_request_process(reset_request_id=reset_request_id)


@shared_task(ignore_result=True)
def sweep_password_reset_requests() -> None:
    """Look up the reset requests whose task never ran (the broker was down), then forget old
    ones."""
    for reset_request_id in services.password_reset_requests_due_ids():
        services.password_reset_request_process(reset_request_id=reset_request_id)
    services.password_reset_requests_prune()


@shared_task(ignore_result=True)
def clean_expired_lockouts() -> None:
    """Delete lockout counters whose time has passed; they no longer count for anything."""
    LockoutHandler().clean_expired_user_attempts()


@shared_task(ignore_result=True)
def recheck_breached_passwords() -> None:
    """Check again the passwords set while the breached-password service could not be asked."""
    for check_id in breached.breached_checks_due_ids():
        breached.breached_check_run(check_id=check_id)
