"""A first sign-in through a provider that would create a person, with claims this site can't
accept: the refusal page, an audited failure counted toward the lockout, never a 500."""

import itertools

import pytest
from axes.models import AccessAttempt
from django.db.models import Sum
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.services import provider_save
from teams.models import Role
from tests.sso.conftest import sso_sign_in

pytestmark = pytest.mark.django_db

TYPED = "newcomer@northwind.example"
HOSTILE_TEXT = [
    "",
    "\x00",
    "a\x07b",
    "Eve\r\nClick https://evil.example/reset",
    "Eve \u202egnp.exe",
    "Eve\u2028Line two",
    "x" * 400,
    '"quoted"',
    "\x1b[31m",
]
SUBJECTS = itertools.count()


@pytest.fixture
def creating_provider(sso_tenant, owner):
    """Northwind's provider, set to add people it vouches for as Technicians."""
    sso_tenant.new_person_role = Role.objects.get(tenant=sso_tenant.tenant, name="Technician")
    return provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)


def failures_counted() -> int:
    return AccessAttempt.objects.aggregate(total=Sum("failures_since_start"))["total"] or 0


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ('"newcomer"@northwind.example', "New Comer"),
        ("newcomer@northwind.example", "Eve\r\nClick https://evil.example/reset"),
        ("newcomer@northwind.example", "Eve \u202egnp.exe"),
        ("newcomer@northwind.example", "New\x07Comer"),
        ("new\x01comer@northwind.example", "New Comer"),
        ("new\x00comer@northwind.example", "New Comer"),
        ("newcomer@northwind.example", "New\x00Comer"),
    ],
)
def test_claims_this_site_refuses_give_the_refusal_page_audited_and_counted(
    client, creating_provider, oidc, email, name
):
    oidc.sign_in_as(sub="sub-hostile", email=email, name=name)
    counted = failures_counted()

    response = sso_sign_in(client, TYPED)

    assert response.status_code == 403
    assert "sent an email address or name this site can" in response.content.decode()
    failure = AuditEvent.objects.get(event=AuditEventType.SSO_SIGN_IN_FAILED)
    assert failure.details["reason"] == "claims_invalid"
    assert failures_counted() > counted
    assert not User.objects.filter(tenant=creating_provider.tenant, email__contains="comer")
    assert not AuditEvent.objects.filter(event=AuditEventType.SSO_PERSON_CREATED).exists()


def test_hostile_claims_never_give_a_500(creating_provider, oidc):
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        local=st.one_of(
            st.sampled_from(HOSTILE_TEXT),
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
        ),
        name=st.one_of(
            st.sampled_from(HOSTILE_TEXT),
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
        ),
        domain=st.sampled_from(
            ["northwind.example", "NORTHWIND.example", "xn--nrthwind-73d.example", "localhost"]
        ),
    )
    def run(local, name, domain):
        oidc.sign_in_as(sub=f"sub-{next(SUBJECTS)}", email=f"{local}@{domain}", name=name)

        response = sso_sign_in(Client(), TYPED)

        assert response.status_code < 500, (local, name, domain, response.status_code)

    run()
