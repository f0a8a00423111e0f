from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from teams.management.progress import progress_for
from teams.models import Tenant
from teams.services.inactivity import stale_accounts_deactivate

MAX_DAYS = 36_500


def positive_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(value)
    return days


positive_days.__name__ = f"number of days (1 to {MAX_DAYS})"


class Command(BaseCommand):
    help = (
        "Deactivate people with no sign-in for N days (people who never signed in count from "
        "when they joined, and a reactivation counts as activity). Operators and each tenant's "
        "last active Owner are kept. Their sessions end, each deactivation is audited, and a "
        "summary per tenant is printed. Running it again changes nothing. On a terminal, a "
        "progress bar shows how far it is."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days",
            type=positive_days,
            required=True,
            metavar="N",
            help="Deactivate after this many days without a sign-in (1 or more).",
        )
        parser.add_argument(
            "--tenant", default=None, metavar="SLUG", help="Only this tenant (its slug)."
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print who would be deactivated, and change nothing.",
        )

    def handle(self, *args, **options) -> None:
        tenant = None
        if options["tenant"] is not None:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with the slug {options['tenant']!r}.", returncode=2)
        progress = progress_for(self.stdout)
        try:
            summaries = stale_accounts_deactivate(
                days=options["days"], tenant=tenant, dry_run=options["dry_run"], progress=progress
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages), returncode=2) from error
        finally:
            if progress is not None:
                progress.finish()
        verb = "would deactivate" if options["dry_run"] else "deactivated"
        for summary in summaries:
            line = (
                f"{summary.tenant.name} ({summary.tenant.slug}): {verb} {len(summary.deactivated)}"
            )
            if not options["dry_run"]:
                line += f", ended {summary.sessions_ended} sessions"
            if summary.kept_last_owner:
                line += f"; kept {', '.join(summary.kept_last_owner)} as the last Owner"
            self.stdout.write(line)
            if options["verbosity"] >= 2:
                for email in summary.deactivated:
                    self.stdout.write(f"  {email}")
        total = sum(len(summary.deactivated) for summary in summaries)
        scope = f"in {len(summaries)} tenants" if tenant is None else ""
        self.stdout.write(f"Total: {verb} {total} people {scope}".rstrip() + ".")
