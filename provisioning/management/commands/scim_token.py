from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from provisioning.services.tokens import token_create
from teams.models import Tenant


class Command(BaseCommand):
    help = (
        "Make a SCIM provisioning token for a tenant and print it, once, with the SCIM base "
        "URL to give the directory (Entra ID, Okta). Only a hash of the token is kept; it "
        "expires in a year and an Owner can revoke it in the admin. Audited in the tenant's "
        "trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", required=True, help="The tenant (slug).")
        parser.add_argument(
            "--name", default="Directory", help="Which directory uses it (shown in the trail)."
        )

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.", returncode=2)
        try:
            row, token = token_create(tenant=tenant, name=options["name"], actor=None)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages), returncode=2) from error
        self.stdout.write(f"Tenant URL: {settings.SITE_URL}/scim/v2/")
        self.stdout.write(f"Secret token: {token}")
        self.stdout.write(
            f"Token {row.name!r} expires {row.expires_at:%Y-%m-%d}. It is shown only now: "
            "copy it into the directory's provisioning settings."
        )
