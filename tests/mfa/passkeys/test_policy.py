"""A role that requires a passkey (a phishing-resistant factor), and operators when
OPERATORS_REQUIRE_PASSKEY is on."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from tests.factories import OperatorFactory, TOTPDeviceFactory
from tests.mfa.helpers import SETUP, totp_code
from tests.mfa.passkeys.authenticator import ADD, passkey_register
from tests.signing_in import VERIFY, sign_in


@pytest.fixture
def passkey_required(technician):
    technician.role.require_phishing_resistant = True
    technician.role.save()
    return technician


def test_person_without_any_factor_registers_a_passkey_at_sign_in(
    clock, passkey_required, authenticator
):
    client = sign_in(Client(), passkey_required, next_page="/")

    assert client.get("/").url.startswith(ADD)
    assert client.get(SETUP).url.startswith(ADD), "not an authenticator app instead"
    page = client.get(ADD).content.decode()
    assert "Your organisation requires a passkey" in page
    response = passkey_register(client, authenticator)

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(passkey_required.pk)
    assert client.get("/").status_code == 200
    signed_in = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_SUCCEEDED)
    assert signed_in.details == {"door": "password", "second_factor": "passkey"}


def test_person_with_an_app_proves_it_then_registers_a_passkey(
    clock, passkey_required, authenticator
):
    TOTPDeviceFactory(user=passkey_required)
    client = sign_in(Client(), passkey_required)
    assert client.get(ADD).url.startswith(VERIFY), "a password alone adds no passkey"

    after_code = client.post(VERIFY, {"otp_token": totp_code(passkey_required)})

    assert after_code.url.startswith(ADD)
    assert SESSION_KEY not in client.session
    passkey_register(client, authenticator)
    assert client.session[SESSION_KEY] == str(passkey_required.pk)


def test_codes_no_longer_pass_once_a_passkey_is_required_and_held(
    clock, passkey_required, authenticator
):
    TOTPDeviceFactory(user=passkey_required)
    client = sign_in(Client(), passkey_required)
    client.post(VERIFY, {"otp_token": totp_code(passkey_required)})
    passkey_register(client, authenticator)
    client.post("/accounts/logout/")
    clock.shift(30)

    client = sign_in(Client(), passkey_required)
    page = client.get(VERIFY).content.decode()
    refused = client.post(VERIFY, {"otp_token": totp_code(passkey_required)})

    assert "sign you in any more" in page
    assert refused.status_code == 200
    assert "requires a passkey to sign in" in refused.content.decode()
    assert SESSION_KEY not in client.session


def test_last_passkey_cannot_be_removed_while_required(clock, passkey_required, authenticator):
    client = sign_in(Client(), passkey_required)
    passkey_register(client, authenticator)
    passkey = PasskeyDevice.objects.get(user=passkey_required)

    response = client.post(f"/mfa/passkeys/{passkey.pk}/remove/")

    assert response.url == "/mfa/"
    assert "can&#x27;t remove your last one" in client.get("/mfa/").content.decode()
    assert PasskeyDevice.objects.filter(pk=passkey.pk).exists()


def test_operators_must_register_a_passkey_when_the_setting_says_so(db, clock, settings):
    settings.OPERATORS_REQUIRE_PASSKEY = True
    operator = OperatorFactory()

    client = sign_in(Client(), operator)

    assert client.get("/").url.startswith(ADD)


def test_operators_are_not_asked_by_default(db, clock):
    client = sign_in(Client(), OperatorFactory())

    assert client.get("/").status_code == 200
