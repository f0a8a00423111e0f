"""An identity provider's own multi-factor sign-in never stands in for a required passkey.

With "accept the provider's MFA" on, a person whose role requires a passkey signed in through
the provider (`amr: mfa`) without one: the provider's MFA passed the second step that only
their passkey may pass. Now the attempt's factor policy counts only a passkey for them: they
prove the passkey they have, or register one.
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.services import provider_save
from tests.mfa.passkeys.authenticator import (
    ADD,
    ORIGIN,
    SoftAuthenticator,
    passkey_register,
    second_step_options,
)
from tests.signing_in import VERIFY, sign_in
from tests.sso.conftest import sso_sign_in


@pytest.fixture(autouse=True)
def site_on_localhost(settings):
    """The relying party is SITE_URL's host; the soft authenticator answers for it."""
    settings.SITE_URL = ORIGIN


@pytest.fixture
def provider_mfa_accepted(sso_tenant, owner, oidc, technician):
    sso_tenant.provider_mfa_accepted = True
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)
    oidc.sign_in_as(sub="sub-tess", email=technician.email, amr=["pwd", "mfa"])
    return sso_tenant


def passkey_required(technician):
    technician.role.require_phishing_resistant = True
    technician.role.save()


def test_a_person_with_a_passkey_still_proves_it_after_the_providers_mfa(
    clock, technician, provider_mfa_accepted
):
    authenticator = SoftAuthenticator()
    passkey_register(sign_in(Client(), technician), authenticator)
    passkey_required(technician)
    client = Client()

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 302 and response.url.startswith(VERIFY)
    assert SESSION_KEY not in client.session
    assert not AuditEvent.objects.filter(
        event=AuditEventType.SIGN_IN_SUCCEEDED, details__second_factor="identity_provider"
    ).exists()
    options = second_step_options(client)
    client.post("/mfa/passkeys/verify/", {"credential": authenticator.get(options)})
    assert client.session[SESSION_KEY] == str(technician.pk)
    assert (
        AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED)
        .latest("id")
        .details["second_factor"]
        == "passkey"
    )


def test_a_person_without_a_passkey_registers_one_after_the_providers_mfa(
    clock, technician, provider_mfa_accepted
):
    passkey_required(technician)
    client = Client()

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 302 and response.url.startswith(ADD)
    assert SESSION_KEY not in client.session
    passkey_register(client, SoftAuthenticator())
    assert client.session[SESSION_KEY] == str(technician.pk)


def test_without_a_required_passkey_the_providers_mfa_still_stands_in(
    clock, technician, provider_mfa_accepted
):
    client = Client()

    sso_sign_in(client, technician.email)

    assert client.session[SESSION_KEY] == str(technician.pk)
