import factory
from django.utils import timezone
from django.utils.text import slugify
from django_otp.plugins.otp_totp.models import TOTPDevice
from factory.django import DjangoModelFactory

from accounts.models import User
from teams import scopes
from teams.models import Role, Tenant, UserSession
from teams.services.tenants import builtin_roles_create

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"MSP {n}")
    slug = factory.LazyAttribute(lambda tenant: slugify(tenant.name))

    @factory.post_generation
    def builtin_roles(tenant, create, extracted, **kwargs):
        if create:
            builtin_roles_create(tenant=tenant)

    @factory.post_generation
    def roles_require_mfa(tenant, create, extracted, **kwargs):
        """A real tenant's roles require MFA from the start (tests/teams/test_mfa_by_default.py).
        Most tests are about something else, so their tenant's owner has relaxed it, unless the
        test asks for `TenantFactory(roles_require_mfa=True)`."""
        if create and not extracted:
            Role.objects.filter(tenant=tenant).update(require_mfa=False)


def builtin_role(tenant: Tenant, builtin: scopes.BuiltinRole) -> Role:
    return Role.objects.for_tenant(tenant).get(name=builtin.name)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        builtin = scopes.TECHNICIAN

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")
    tenant = factory.SubFactory(TenantFactory)
    role = factory.LazyAttribute(lambda user: builtin_role(user.tenant, user.builtin))
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def saved(user, create, extracted, **kwargs):
        if create:
            user.save()


class OperatorFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"operator{n}@platform.example")
    is_staff = True
    is_superuser = True
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def saved(user, create, extracted, **kwargs):
        if create:
            user.save()

    @factory.post_generation
    def authenticator(user, create, extracted, **kwargs):
        """Operators must have a second factor, so each has an authenticator app unless the
        test asks for `OperatorFactory(authenticator=False)`; `tests.signing_in.sign_in`
        passes an operator's second step with it."""
        if create and extracted is not False:
            TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


class UserSessionFactory(DjangoModelFactory):
    """A tracked session of `user`, active now."""

    class Meta:
        model = UserSession

    user = factory.SubFactory(UserFactory)
    tenant = factory.LazyAttribute(lambda session: session.user.tenant)
    session_key = factory.Sequence(lambda n: f"session-{n}".ljust(32, "x"))
    started_at = factory.LazyFunction(timezone.now)
    last_active_at = factory.LazyAttribute(lambda session: session.started_at)


class TOTPDeviceFactory(DjangoModelFactory):
    """An authenticator app of `user`, confirmed: the next sign-in asks for its code.

    `confirmed=False` is an app whose setup was started and not finished. Codes for it:
    `tests.signing_in.device_code`.
    """

    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Authenticator app"
    confirmed = True
