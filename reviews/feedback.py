"""What the access review page and the admin say after a bulk action, worded the same in both."""

from django.contrib import messages
from django.http import HttpRequest

from accounts.models import User


def bulk_outcome_announce(
    request: HttpRequest, *, label: str, done: list[User], refused: dict[str, str]
) -> None:
    """Say who a bulk action changed and why anyone was skipped."""
    if done:
        messages.success(
            request, f"{label}: done for " + ", ".join(person.email for person in done) + "."
        )
    for email, reason in refused.items():
        messages.error(request, f"{email}: {reason}")
    if not done and not refused:
        messages.info(request, "Nothing needed changing.")
