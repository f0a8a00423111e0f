from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from sso.models import ClaimedDomain, domain_normalize
from sso.services import domain_claim, domain_release
from teams.models import Tenant


class Command(BaseCommand):
    help = (
        "List the email domains claimed for single sign-on, or claim or release one for a "
        "tenant. People whose email is on a claimed domain are offered (or, when required, "
        "sent to) that tenant's identity provider on the sign-in page. A domain belongs to one "
        "tenant only: check that the tenant really owns it (a DNS TXT record, the domain's "
        "admin) before claiming. Audited in the tenant's trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="The tenant (its slug).")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--claim", metavar="DOMAIN", help="Claim DOMAIN for the tenant.")
        action.add_argument("--release", metavar="DOMAIN", help="Release DOMAIN.")
        parser.add_argument(
            "--note", default="", help="How ownership was checked, kept with the claim."
        )

    def handle(self, *args, **options) -> None:
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with the slug {options['tenant']!r}.", returncode=2)
        if options["claim"]:
            if tenant is None:
                raise CommandError("--claim needs --tenant.", returncode=2)
            try:
                claimed = domain_claim(tenant=tenant, domain=options["claim"], note=options["note"])
            except ValidationError as error:
                raise CommandError(" ".join(error.messages), returncode=2) from error
            self.stdout.write(f"Claimed {claimed.domain} for {tenant.slug}.")
            return
        if options["release"]:
            domain = domain_normalize(options["release"])
            claimed = ClaimedDomain.objects.filter(domain=domain).select_related("tenant").first()
            if claimed is None or (tenant is not None and claimed.tenant_id != tenant.pk):
                owner = " by that tenant" if tenant else ""
                raise CommandError(f"{domain} is not claimed{owner}.", returncode=2)
            domain_release(claimed=claimed)
            self.stdout.write(f"Released {domain} from {claimed.tenant.slug}.")
            return
        claims = ClaimedDomain.objects.select_related("tenant").order_by("domain")
        if tenant is not None:
            claims = claims.filter(tenant=tenant)
        for claimed in claims:
            self.stdout.write(f"{claimed.domain}\t{claimed.tenant.slug}\t{claimed.note}")
