from django.core.management.base import BaseCommand

from teams.management.progress import progress_for
from teams.services.sessions import sessions_expire


class Command(BaseCommand):
    help = (
        "End every session past its idle timeout or absolute lifetime (the stricter of its "
        "role's and its tenant's limits) or, started through the tenant's identity provider, "
        "its single sign-on maximum age; audit each, and print how many ended. Celery beat "
        "runs the same every minute. On a terminal, a progress bar shows how far it is."
    )

    def handle(self, *args, **options) -> None:
        progress = progress_for(self.stdout)
        counts = sessions_expire(progress=progress)
        if progress is not None:
            progress.finish()
        single_sign_on = (
            f", {counts['single_sign_on']} past the single sign-on maximum age"
            if counts["single_sign_on"]
            else ""
        )
        self.stdout.write(
            f"Ended {sum(counts.values())} sessions: {counts['idle']} idle, "
            f"{counts['lifetime']} past their lifetime{single_sign_on}."
        )
