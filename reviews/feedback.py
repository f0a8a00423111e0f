"""What the access review page and the admin say after a bulk action, worded the same in both."""

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User


def bulk_outcome_announce(
    request: HttpRequest, *, label: str, done: list[User], refused: dict[str, str]
) -> None:
    """Say who a bulk action changed and why anyone was skipped."""
    if done:
        messages.success(
            request,
            _("%(action)s: done for %(people)s.")
            % {"action": label, "people": ", ".join(person.email for person in done)},
        )
    for email, reason in refused.items():
        messages.error(request, _("%(email)s: %(reason)s") % {"email": email, "reason": reason})
    if not done and not refused:
        messages.info(request, _("Nothing needed changing."))


def review_recorded_message(people_reviewed: int) -> str:
    """What the page and the admin say once a review is recorded."""
    return ngettext(
        "Access review recorded: %(count)d person reviewed.",
        "Access review recorded: %(count)d people reviewed.",
        people_reviewed,
    ) % {"count": people_reviewed}
