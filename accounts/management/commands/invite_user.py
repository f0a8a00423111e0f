from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from teams import scopes
from teams.models import Role, Tenant
from teams.services.people import person_invite


class Command(BaseCommand):
    help = (
        "Add a person to a tenant and email them a link to choose their own password. "
        "The link works once and for INVITATION_TIMEOUT (three days by default); "
        "if it expires, the person uses “Forgot password?” on the sign-in page."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--email", required=True, help="The person's email address.")
        parser.add_argument(
            "--role",
            default=scopes.TECHNICIAN.name,
            help=f"Name of one of the tenant's roles (default: {scopes.TECHNICIAN.name}).",
        )
        parser.add_argument("--name", default="", help="The person's full name.")

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant has the slug {options['tenant']!r}.", returncode=2)
        role = Role.objects.for_tenant(tenant).filter(name__iexact=options["role"]).first()
        if role is None:
            names = ", ".join(Role.objects.for_tenant(tenant).values_list("name", flat=True))
            raise CommandError(
                f"{tenant.name} has no role named {options['role']!r}. Its roles: {names}.",
                returncode=2,
            )
        try:
            person = person_invite(
                tenant=tenant,
                email=options["email"],
                role=role,
                full_name=options["name"],
                actor=None,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages), returncode=2) from error
        self.stdout.write(
            f"Invited {person.email} to {tenant.name} as {role.name}; "
            "a link to choose a password is on its way."
        )
