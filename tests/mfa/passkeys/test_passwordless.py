"""Signing in with a passkey alone, from the sign-in page, where the tenant allows it."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts.attempt import PENDING_SESSION_KEY
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from sso.encryption import secret_encrypt
from sso.models import IdentityProvider
from teams.models import AccessListEntry, UserSession
from teams.services.access_list import access_list_entry_save, access_list_switch
from tests.factories import UserFactory
from tests.mfa.passkeys.authenticator import (
    SIGN_IN,
    SIGN_IN_OPTIONS,
    SoftAuthenticator,
    passkey_register,
    sign_in_options,
)
from tests.signing_in import sign_in

REFUSED = "That passkey didn"
LOGIN = "/accounts/login/"


def events(kind: AuditEventType):
    return AuditEvent.objects.filter(event=kind)


@pytest.fixture
def passwordless_on(tenant):
    tenant.passwordless_sign_in = True
    tenant.save()
    return tenant


def passkey_sign_in(client: Client, authenticator: SoftAuthenticator, options=None, **extra):
    options = options or sign_in_options(client)
    return client.post(
        SIGN_IN, {"credential": authenticator.get(options), "next": "/audit/logins/"}, **extra
    )


def message_after(client: Client, response) -> str:
    return client.get(response.url).content.decode()


def test_passkey_alone_signs_in(passwordless_on, user_with_passkey, authenticator):
    client = Client()
    options = sign_in_options(client)
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"

    response = passkey_sign_in(client, authenticator, options)

    assert response.status_code == 302
    assert response.url == "/audit/logins/"
    assert client.session[SESSION_KEY] == str(user_with_passkey.pk)
    assert client.get("/").status_code == 200, "verified: no second step asked"
    passed = events(AuditEventType.PASSKEY_SIGN_IN_PASSED).get()
    assert (passed.target, passed.details) == (user_with_passkey, {"passkey": "Work laptop"})
    signed_in = events(AuditEventType.SIGN_IN_SUCCEEDED).order_by("pk").last()
    assert signed_in.details == {"door": "passkey", "second_factor": "passkey"}
    assert UserSession.objects.filter(user=user_with_passkey).count() == 2


def test_sign_in_page_offers_passkeys_in_the_email_autofill(client, passwordless_on):
    page = client.get(LOGIN).content.decode()

    assert 'autocomplete="username webauthn"' in page
    assert 'data-passkey-form="sign-in"' in page
    assert "/static/js/passkeys" in page
    assert "sessionid" not in client.cookies, "options are asked for by script, not the page"


def test_sign_in_page_offers_no_passkey_alone_where_it_would_be_refused(
    client, tenant, other_tenant, user_with_passkey
):
    """Off by default: nobody could sign in with a passkey alone, so no button says they can;
    on in one tenant, a browser last used for another tenant is not offered it either."""
    assert "Use a passkey" not in client.get(LOGIN).content.decode()

    other_tenant.passwordless_sign_in = True
    other_tenant.save()
    assert "Use a passkey" in client.get(LOGIN).content.decode()

    browser = sign_in(Client(), user_with_passkey)
    browser.post("/accounts/logout/")
    assert "Use a passkey" not in browser.get(LOGIN).content.decode()

    other_tenant.passwordless_sign_in = False
    other_tenant.save()
    assert "Use a passkey" not in Client().get(LOGIN).content.decode(), "asked again when saved"


def test_off_by_default(user_with_passkey, authenticator):
    client = Client()

    response = passkey_sign_in(client, authenticator)

    assert response.url.startswith(LOGIN)
    assert SESSION_KEY not in client.session
    assert "allow signing in with a passkey alone" in message_after(client, response)
    refused = events(AuditEventType.PASSKEY_SIGN_IN_FAILED).get()
    assert refused.details == {"email": user_with_passkey.email, "refused": "passwordless_off"}
    assert not events(AuditEventType.PASSKEY_SIGN_IN_PASSED).exists()


def test_user_verification_is_required(passwordless_on, user_with_passkey, authenticator):
    authenticator.user_verified = False
    client = Client()

    response = passkey_sign_in(client, authenticator)

    assert response.url.startswith(LOGIN)
    assert SESSION_KEY not in client.session
    assert REFUSED in message_after(client, response)
    assert events(AuditEventType.PASSKEY_SIGN_IN_FAILED).count() == 1


@pytest.mark.parametrize(
    "lie", [{"origin": "http://evil.example"}, {"rp_id": "evil.example"}], ids=["origin", "rp-id"]
)
def test_answer_for_another_site_is_refused(passwordless_on, user_with_passkey, authenticator, lie):
    for name, value in lie.items():
        setattr(authenticator, name, value)
    client = Client()

    passkey_sign_in(client, authenticator)

    assert SESSION_KEY not in client.session


def test_replayed_assertion_is_refused(passwordless_on, user_with_passkey, authenticator):
    first = Client()
    credential = authenticator.get(sign_in_options(first))
    first.post(SIGN_IN, {"credential": credential})
    assert SESSION_KEY in first.session
    attacker = Client()
    sign_in_options(attacker)

    attacker.post(SIGN_IN, {"credential": credential})

    assert SESSION_KEY not in attacker.session


def test_answer_without_options_is_refused(passwordless_on, user_with_passkey, authenticator):
    stolen_options = sign_in_options(Client())
    client = Client()

    passkey_sign_in(client, authenticator, stolen_options)

    assert SESSION_KEY not in client.session


def test_passkey_whose_user_handle_names_someone_else_is_refused(
    passwordless_on, user_with_passkey, authenticator
):
    authenticator.credentials[-1].user_handle = b"someone else entirely, 32 bytes"
    client = Client()

    passkey_sign_in(client, authenticator)

    assert SESSION_KEY not in client.session
    refused = events(AuditEventType.PASSKEY_REFUSED).get()
    assert refused.details == {"ceremony": "sign_in", "reason": "user_handle_mismatch"}


def test_counter_going_backwards_is_refused_and_flagged(
    passwordless_on, user_with_passkey, authenticator
):
    PasskeyDevice.objects.filter(user=user_with_passkey).update(sign_count=50)
    client = Client()

    passkey_sign_in(client, authenticator)

    assert SESSION_KEY not in client.session
    assert events(AuditEventType.PASSKEY_COUNTER_WENT_BACKWARDS).get().target == user_with_passkey


def test_locked_account_is_refused_before_the_passkey_is_checked(
    passwordless_on, user_with_passkey, authenticator, settings
):
    for _ in range(settings.LOCKOUT_FAILURES):
        Client().post(LOGIN, {"username": user_with_passkey.email, "password": "wrong-password!"})
    client = Client()

    response = passkey_sign_in(client, authenticator)

    assert response.status_code in (302, 429)
    assert SESSION_KEY not in client.session
    assert PasskeyDevice.objects.get(user=user_with_passkey).sign_count == 0


def test_required_new_password_still_comes_after_the_passkey(
    passwordless_on, user_with_passkey, authenticator
):
    user_with_passkey.password_change_required = True
    user_with_passkey.save()
    client = Client()

    response = passkey_sign_in(client, authenticator)

    assert response.url.startswith("/accounts/password/change/")
    assert SESSION_KEY not in client.session
    assert client.session[PENDING_SESSION_KEY]["due"] == ["new_password"]


def test_ip_access_list_refuses_a_passkey_from_outside(
    passwordless_on, user_with_passkey, authenticator, owner
):
    access_list_entry_save(
        entry=AccessListEntry(tenant=passwordless_on, network="192.0.2.0/24", label="Office"),
        roles=(),
        actor=None,
    )
    access_list_switch(tenant=passwordless_on, enabled=True, actor=None)
    client = Client(REMOTE_ADDR="198.51.100.1")

    response = passkey_sign_in(client, authenticator)

    assert response.status_code == 403
    assert SESSION_KEY not in client.session
    assert events(AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST).count() == 1


def test_deactivated_person_is_refused(passwordless_on, user_with_passkey, authenticator):
    user_with_passkey.is_active = False
    user_with_passkey.save()
    client = Client()

    passkey_sign_in(client, authenticator)

    assert SESSION_KEY not in client.session


def test_signed_in_session_gets_no_options(client_signed_in):
    assert client_signed_in.post(SIGN_IN_OPTIONS).status_code == 400


def test_options_and_sign_in_refuse_get(client):
    assert client.get(SIGN_IN_OPTIONS).status_code == 405
    assert client.get(SIGN_IN).status_code == 405


def test_passkey_of_another_tenant_signs_in_only_its_own_person(
    clock, passwordless_on, user_with_passkey, authenticator, other_tenant
):
    other_tenant.passwordless_sign_in = True
    other_tenant.save()
    stranger = UserFactory(tenant=other_tenant)
    stranger_authenticator = SoftAuthenticator()
    passkey_register(sign_in(Client(), stranger), stranger_authenticator)
    client = Client()

    passkey_sign_in(client, stranger_authenticator)

    assert client.session[SESSION_KEY] == str(stranger.pk)


def sso_required(tenant, break_glass) -> IdentityProvider:
    provider = IdentityProvider.objects.create(
        tenant=tenant,
        kind=IdentityProvider.Kind.OIDC,
        discovery_url="https://idp.northwind.example/.well-known/openid-configuration",
        client_id="northwind-client",
        client_secret_encrypted=secret_encrypt("northwind-client-secret"),
        policy=IdentityProvider.Policy.REQUIRED,
    )
    provider.break_glass.set(break_glass)
    return provider


def test_a_passkey_alone_is_refused_where_single_sign_on_is_required(
    passwordless_on, user_with_passkey, authenticator, owner
):
    # Required single sign-on is the owner's one place to switch a leaving technician off: a
    # passkey alone would sign them in without the provider.
    sso_required(passwordless_on, break_glass=[owner])
    client = Client()

    response = passkey_sign_in(client, authenticator)

    assert response.url.startswith(LOGIN)
    assert SESSION_KEY not in client.session
    assert "signs you in with your organisation" in message_after(client, response)
    refused = events(AuditEventType.PASSKEY_SIGN_IN_FAILED).get()
    assert refused.details == {
        "email": user_with_passkey.email,
        "refused": "single_sign_on_required",
    }
    assert not events(AuditEventType.PASSKEY_SIGN_IN_PASSED).exists()


def test_a_break_glass_persons_passkey_alone_still_signs_in(
    passwordless_on, user_with_passkey, authenticator, owner
):
    sso_required(passwordless_on, break_glass=[owner, user_with_passkey])
    client = Client()

    response = passkey_sign_in(client, authenticator)

    assert response.url == "/audit/logins/"
    assert client.session[SESSION_KEY] == str(user_with_passkey.pk)
