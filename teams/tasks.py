from celery import shared_task

from teams.services.inactivity import inactivity_policy_apply
from teams.services.sessions import sessions_expire


@shared_task(ignore_result=True)
def expire_idle_sessions() -> None:
    """Every minute: end sessions past their idle timeout or lifetime, server-side."""
    sessions_expire()


@shared_task(ignore_result=True)
def apply_inactivity_policy() -> None:
    """Daily: each tenant's "deactivate after N days without sign-in", warning a week ahead."""
    inactivity_policy_apply()
