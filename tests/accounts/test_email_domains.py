"""Addresses people sign in with: look-alike domains in their ASCII (Punycode) form, and domains
mail can't reach on the internet, are refused on every path that takes an email."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import PasswordResetRequest, User
from outbox.models import OutboxMail
from support.models import RecoveryRequest
from teams import scopes
from teams.models import Tenant
from tests.factories import builtin_role
from tests.signing_in import sign_in

PEOPLE = "/admin/accounts/user/"
# "аlpha.test" with a Cyrillic "а", as Punycode: it shows as alpha.test in a mail client.
PUNYCODE_LOOKALIKE = "x@xn--lpha-43d.test"
REFUSED = [
    (PUNYCODE_LOOKALIKE, "domain_mixed_scripts"),
    ("x@xn--80ak6aa92e.test", "domain_mixed_scripts"),  # "аррӏе", all Cyrillic, under .test
    ("x@xn--zz-.test", "domain_invalid_idna"),
    ("x@localhost", "domain_without_dot"),
    ("x@mail.localhost", "domain_reserved"),
    ("x@printer.local", "domain_reserved"),
    ("x@corp.internal", "domain_reserved"),
    ("x@nowhere.invalid", "domain_reserved"),
    ("x@router.home.arpa", "domain_reserved"),
]


@pytest.fixture
def production_domains(settings):
    settings.EMAIL_ALLOW_TEST_DOMAINS = False


def refusal_codes(email: str, tenant: Tenant) -> list[str]:
    person = User(email=email, tenant=tenant, role=builtin_role(tenant, scopes.TECHNICIAN))
    with pytest.raises(ValidationError) as refused:
        person.full_clean(exclude=["password"])
    return [error.code for error in refused.value.error_dict["email"]]


@pytest.mark.parametrize(("email", "code"), REFUSED)
def test_lookalike_punycode_and_local_domains_are_refused_by_the_model(tenant, email, code):
    assert code in refusal_codes(email, tenant)


@pytest.mark.parametrize("email", ["x@alpha.test", "x@demo.example", "x@sub.example"])
def test_test_and_documentation_domains_need_the_setting(tenant, production_domains, email):
    assert refusal_codes(email, tenant) == ["domain_reserved"]


@pytest.mark.parametrize(
    "email",
    [
        "ivan@xn--e1afmkfd.xn--p1ai",  # пример.рф, one script throughout
        "anna@xn--mnchen-3ya.de",  # münchen.de
        "tess@northwind.com",
    ],
)
def test_real_domains_pass_in_either_form(tenant, production_domains, email):
    person = User(email=email, tenant=tenant, role=builtin_role(tenant, scopes.TECHNICIAN))

    person.full_clean(exclude=["password"])


def test_the_admin_invites_nobody_at_a_punycode_lookalike(owner, tenant):
    client = sign_in(Client(), owner)

    response = client.post(
        PEOPLE + "add/",
        {"email": PUNYCODE_LOOKALIKE, "role": builtin_role(tenant, scopes.TECHNICIAN).pk},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"]
    assert not OutboxMail.objects.exists() and not mail.outbox
    assert not User.objects.filter(email=PUNYCODE_LOOKALIKE).exists()


@pytest.mark.parametrize("email", [PUNYCODE_LOOKALIKE, "tess@localhost"])
def test_an_email_change_to_a_lookalike_or_local_domain_is_refused(owner, technician, email):
    client = sign_in(Client(), owner)

    response = client.post(
        f"{PEOPLE}{technician.pk}/change/", {"email": email, "full_name": technician.full_name}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"]
    technician.refresh_from_db()
    assert technician.email == "tech@northwind.example"


@pytest.mark.parametrize("email", [PUNYCODE_LOOKALIKE, "x@localhost"])
def test_the_reset_request_form_refuses_the_address(client, db, email):
    response = client.post("/accounts/password/reset/", {"email": email})

    assert response.status_code == 200
    assert "field-error" in response.content.decode()
    assert not PasswordResetRequest.objects.exists()


@pytest.mark.parametrize("email", [PUNYCODE_LOOKALIKE, "x@localhost"])
def test_the_recovery_form_refuses_the_address(client, db, email):
    response = client.post("/recovery/", {"email": email, "reason": "locked_out"})

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert not RecoveryRequest.objects.exists()


@pytest.mark.parametrize("email", [PUNYCODE_LOOKALIKE, "owner@localhost"])
def test_create_tenant_refuses_the_owner_address(db, email):
    with pytest.raises(CommandError):
        call_command("create_tenant", "Alpha IT", "--owner-email", email)

    assert not Tenant.objects.exists()
    assert not OutboxMail.objects.exists()


@pytest.mark.parametrize("email", [PUNYCODE_LOOKALIKE, "x@localhost"])
def test_invite_user_refuses_the_address(owner, email):
    with pytest.raises(CommandError):
        call_command("invite_user", "--tenant", owner.tenant.slug, "--email", email)

    assert not User.objects.filter(email=email).exists()
    assert not OutboxMail.objects.exists()
