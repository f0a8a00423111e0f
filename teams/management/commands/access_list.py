import getpass

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import User, normalize_email
from teams.models import AccessListEntry, AccessListException, Tenant, is_operator
from teams.services.access_list import access_list_clear


class Command(BaseCommand):
    help = (
        "Show a tenant's IP access list, or with --clear switch it off and remove every entry "
        "and exception: the operators' way back in for a tenant that shut itself out. "
        "Clearing is audited in the tenant's trail, naming the operator (--operator) and the "
        "system account that ran it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--tenant", required=True, metavar="SLUG", help="The tenant (its slug)."
        )
        parser.add_argument(
            "--clear",
            action="store_true",
            help="Switch the list off and remove all its entries and exceptions.",
        )
        parser.add_argument(
            "--operator",
            metavar="EMAIL",
            help="Who is clearing it: an active operator's email (required with --clear).",
        )

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.", returncode=2)
        if options["clear"]:
            removed = access_list_clear(
                tenant=tenant, actor=self._operator(options["operator"]), run_by=_system_account()
            )
            self.stdout.write(
                f"Cleared the IP access list of {tenant.slug}: {removed} "
                f"entr{'y' if removed == 1 else 'ies'} removed; the list is off."
            )
            return
        self.stdout.write(
            f"{tenant.slug}: IP access list {'on' if tenant.access_list_enabled else 'off'}"
        )
        for entry in AccessListEntry.objects.for_tenant(tenant).prefetch_related("roles"):
            roles = ", ".join(role.name for role in entry.roles.all()) or "everybody"
            self.stdout.write(f"  {entry.network}\t{entry.label}\t{roles}")
        live = AccessListException.objects.for_tenant(tenant).filter(expires_at__gt=timezone.now())
        for exception in live.select_related("user"):
            self.stdout.write(
                f"  exception: {exception.user.email} until {exception.expires_at.isoformat()}"
            )

    @staticmethod
    def _operator(email: str | None) -> User:
        """The operator named on the command line: a destructive change says who made it."""
        if not email:
            raise CommandError(
                "--clear needs --operator EMAIL: the operator clearing the list, for the audit "
                "trail.",
                returncode=2,
            )
        operator = User.objects.filter(email=normalize_email(email)).first()
        if operator is None or not is_operator(operator):
            raise CommandError(f"No active operator with the email {email!r}.", returncode=2)
        return operator


def _system_account() -> str:
    """The operating-system account running the command, or "unknown" where the system has no
    name for it (a container's numeric user)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
