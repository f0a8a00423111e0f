import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp import user_has_device

from accounts.models import User
from teams import scopes
from teams.models import Role, Tenant
from teams.services.people import person_create
from teams.services.tenants import tenant_create

DEMO_SLUG = "demo-msp"
DEMO_OWNER = ("owner@demo.example", "Olivia Owner")
DEMO_TECHNICIANS = (
    ("tech1@demo.example", "Theo Technician"),
    ("tech2@demo.example", "Tara Technician"),
)


def demo_password() -> str:
    return "-".join(secrets.token_hex(3) for _ in range(4))


def first_sign_in_steps(person: User) -> str:
    """What a sign-in of this person asks for after the password, in words."""
    if user_has_device(person, confirmed=True):
        return "the password, then a code from their authenticator app"
    if person.tenant.require_mfa or person.role.require_mfa:
        return (
            "the password, then setting up an authenticator app (new tenants require "
            "two-factor authentication for every role)"
        )
    return "the password only (an owner relaxed two-factor authentication for this role)"


class Command(BaseCommand):
    help = (
        "Make a demo tenant with an owner and two technicians and print their passwords. "
        "Only with DEBUG on; running it again gives the same people new passwords."
    )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo makes accounts with printed passwords, so it only runs with DEBUG=1.",
                returncode=2,
            )
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
            if tenant is None:
                tenant = tenant_create(
                    name="Demo MSP",
                    slug=DEMO_SLUG,
                    owner_email=DEMO_OWNER[0],
                    owner_full_name=DEMO_OWNER[1],
                    actor=None,
                )
            technician_role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
            for email, full_name in DEMO_TECHNICIANS:
                if not User.objects.filter(email=email).exists():
                    person_create(
                        tenant=tenant,
                        email=email,
                        full_name=full_name,
                        role=technician_role,
                        actor=None,
                    )
            people = User.objects.for_tenant(tenant).filter(
                email__in=[DEMO_OWNER[0], *(email for email, _ in DEMO_TECHNICIANS)]
            )
            credentials = []
            for person in people.select_related("role", "tenant"):
                password = demo_password()
                person.set_password(password)
                person.save(
                    update_fields=["password", "password_changed_at", "password_breached_at"]
                )
                credentials.append(
                    (person.role.name, person.email, password, first_sign_in_steps(person))
                )
        self.stdout.write(f"Demo tenant: {tenant.name} ({tenant.slug})")
        for role_name, email, password, _steps in sorted(credentials):
            self.stdout.write(f"  {role_name:<11} {email:<22} password: {password}")
        self.stdout.write("What the first sign-in asks for:")
        for _role_name, email, _password, steps in sorted(credentials):
            self.stdout.write(f"  {email:<22} {steps}")
