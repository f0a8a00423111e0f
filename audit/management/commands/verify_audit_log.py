import sys

from django.core.management.base import BaseCommand, CommandError

from audit.integrity import chain_label, chains_to_verify, chains_verify
from audit.models import AuditChain
from teams.models import Tenant

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chains: every event matches its hash and follows the one "
        "before it, and no event is missing. By default each chain is checked from its last "
        "signed checkpoint (what is new since the hourly check); --full checks from the "
        "start. Exits 0 when intact; otherwise names the first event (or checkpoint) that "
        "does not match in each broken chain and exits 1."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--tenant", metavar="SLUG", help="Check only this tenant's chain (default: all)."
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Check every event from each chain's start, not from its last checkpoint.",
        )

    def handle(self, *args, **options) -> None:
        tenant = None
        if options["tenant"] is not None:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant has the slug {options['tenant']!r}.", returncode=2)
        chains = chains_to_verify(tenant=tenant)
        progress = self._progress_bars(chains) if sys.stderr.isatty() else None
        reports = chains_verify(chains, progress=progress, full=options["full"])
        if progress is not None and chains:
            sys.stderr.write("\n")
        broken = [report for report in reports if not report.intact]
        for report in broken:
            self.stderr.write(f"Broken: {report.label}: {report.problem}")
        checked = sum(report.checked for report in reports)
        if broken:
            raise CommandError(
                f"{len(broken)} of {len(chains)} audit chains are broken: see above.", returncode=1
            )
        since = [report for report in reports if report.from_checkpoint]
        note = (
            f" ({len(since)} checked from their last checkpoint; --full checks everything)"
            if since
            else ""
        )
        self.stdout.write(f"Audit log intact: {checked} events in {len(chains)} chains{note}.")

    def _progress_bars(self, chains: list[tuple[Tenant | None, AuditChain]]):
        """One bar per chain, each finished on its own line before the next begins."""
        drawn = []

        def show(index: int, done: int) -> None:
            if drawn and drawn[-1] != index:
                sys.stderr.write("\n")
            if not drawn or drawn[-1] != index:
                drawn.append(index)
            chain_tenant, chain = chains[index]
            total = max(chain.length - chain.checkpoint_sequence, done)
            share = done / total if total else 1
            filled = round(BAR_WIDTH * min(share, 1))
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            sys.stderr.write(f"\r{chain_label(chain_tenant)} [{bar}] {share:4.0%} {done}/{total}")
            sys.stderr.flush()

        return show
