from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from teams.models import AccessListEntry, AccessListException, Tenant
from teams.services.access_list import access_list_clear


class Command(BaseCommand):
    help = (
        "Show a tenant's IP access list, or with --clear switch it off and remove every entry "
        "and exception: the operators' way back in for a tenant that shut itself out. "
        "Clearing is audited in the tenant's trail."
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

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.", returncode=2)
        if options["clear"]:
            removed = access_list_clear(tenant=tenant)
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
