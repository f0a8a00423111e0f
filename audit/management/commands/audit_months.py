from django.core.management.base import BaseCommand

from audit.partitions import MONTHS_AHEAD, audit_months_ensure


class Command(BaseCommand):
    help = (
        f"On PostgreSQL: make the audit log's monthly partitions for this month and the "
        f"{MONTHS_AHEAD} ahead (the release runs it; beat does daily). Nothing on SQLite."
    )

    def handle(self, *args, **options) -> None:
        made = audit_months_ensure()
        self.stdout.write(
            f"Audit months made: {', '.join(made)}." if made else "Audit months: none to make."
        )
