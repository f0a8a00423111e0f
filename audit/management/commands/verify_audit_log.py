import sys

from django.core.management.base import BaseCommand, CommandError

from audit.integrity import chain_verify, chains_to_verify
from teams.models import Tenant

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chains: every event matches its hash and follows the one "
        "before it, and no event is missing. Exits 0 when intact; otherwise names the first "
        "event that does not match in each broken chain and exits 1."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--tenant", metavar="SLUG", help="Check only this tenant's chain (default: all)."
        )

    def handle(self, *args, **options) -> None:
        tenant = None
        if options["tenant"] is not None:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant has the slug {options['tenant']!r}.", returncode=2)
        broken = []
        checked = 0
        chains = chains_to_verify(tenant=tenant)
        for chain_tenant, chain in chains:
            total = max(chain.length - chain.checkpoint_sequence, 0)
            progress = self._progress_bar(chain_tenant, total) if sys.stderr.isatty() else None
            report = chain_verify(tenant=chain_tenant, chain=chain, progress=progress)
            if progress is not None:
                sys.stderr.write("\n")
            checked += report.checked
            if not report.intact:
                broken.append(report)
                self.stderr.write(f"Broken: {report.label}: {report.problem}")
        if broken:
            raise CommandError(
                f"{len(broken)} of {len(chains)} audit chains are broken: see above.", returncode=1
            )
        self.stdout.write(f"Audit log intact: {checked} events in {len(chains)} chains.")

    def _progress_bar(self, tenant: Tenant | None, total: int):
        label = f"tenant {tenant.slug}" if tenant else "platform events"

        def show(done: int) -> None:
            share = done / total if total else 1
            filled = round(BAR_WIDTH * min(share, 1))
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            sys.stderr.write(f"\r{label} [{bar}] {share:4.0%} {done}/{total}")
            sys.stderr.flush()

        return show
