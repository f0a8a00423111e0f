import csv
import json

from django.core.management.base import BaseCommand, CommandError

from reviews.selectors import AccessReviewRow, access_review_rows
from teams.models import Tenant

COLUMNS = [
    "email",
    "name",
    "active",
    "role",
    "scopes",
    "last_sign_in_utc",
    "mfa",
    "backup_codes_left",
    "sessions",
    "locked",
    "password_age_days",
    "failures_7_days",
    "unusual_sign_ins_7_days",
    "flags",
]
# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _record(row: AccessReviewRow) -> dict:
    person = row.person
    return {
        "email": person.email,
        "name": person.full_name,
        "active": person.is_active,
        "role": person.role.name if person.role else "",
        "scopes": sorted(person.role.scope_set) if person.role else [],
        "last_sign_in_utc": row.last_sign_in_at.isoformat() if row.last_sign_in_at else None,
        "mfa": row.mfa,
        "backup_codes_left": row.backup_codes_left,
        "sessions": row.sessions,
        "locked": row.locked,
        "password_age_days": row.password_age_days,
        "failures_7_days": row.failures,
        "unusual_sign_ins_7_days": row.unusual,
        "flags": row.flags,
    }


def _cell(value) -> str:
    if isinstance(value, list):
        value = " ".join(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class Command(BaseCommand):
    help = (
        "Print a tenant's access review: every person with role, scopes, last sign-in, MFA, "
        "sessions, lock, password age and flags (the same data as the access review page)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="The tenant's slug.")
        parser.add_argument(
            "--format", choices=["csv", "json"], default="csv", help="Output format (csv)."
        )

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.", returncode=2)
        records = [_record(row) for row in access_review_rows(tenant=tenant)]
        if options["format"] == "json":
            self.stdout.write(json.dumps({"tenant": tenant.slug, "people": records}, indent=2))
            return
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        for record in records:
            writer.writerow([_cell(record[column]) for column in COLUMNS])
