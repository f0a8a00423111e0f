from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from teams.services.tenants import tenant_onboard


class Command(BaseCommand):
    help = (
        "Make a tenant (an MSP) with its built-in roles (Owner, Admin, Technician, Read-only) "
        "and its first Owner, email the Owner a link to choose their password, then print the "
        "tenant's slug."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="The MSP's name, as people will see it.")
        parser.add_argument("--owner-email", required=True, help="Email of the tenant's Owner.")
        parser.add_argument("--owner-name", default="", help="The Owner's full name.")
        parser.add_argument(
            "--slug", default="", help="Short id used by other commands (default: from the name)."
        )

    def handle(self, *args, **options) -> None:
        try:
            tenant = tenant_onboard(
                name=options["name"],
                owner_email=options["owner_email"],
                owner_full_name=options["owner_name"],
                slug=options["slug"],
                actor=None,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages), returncode=2) from error
        self.stdout.write(tenant.slug)
