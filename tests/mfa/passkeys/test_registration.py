"""Registering a passkey from /mfa/: the server side of the create() ceremony, and the page."""

import pytest
from django.core import mail
from django.test import Client
from webauthn.helpers import base64url_to_bytes

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from tests.factories import UserFactory
from tests.mfa.passkeys.authenticator import (
    ADD,
    SoftAuthenticator,
    options_on_page,
    passkey_register,
)
from tests.signing_in import sign_in

REFUSED = "Your passkey could not be added"


def registration_options(client: Client) -> dict:
    return options_on_page(client.get(ADD).content.decode(), "passkey-registration-options")


@pytest.fixture
def signed_in(clock, technician) -> Client:
    return sign_in(Client(), technician)


def test_passkey_is_registered_with_its_name_flags_and_a_mail(
    signed_in, technician, authenticator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = passkey_register(signed_in, authenticator, name="Work laptop")

    assert response.status_code == 302
    assert response.url == "/mfa/"
    passkey = PasskeyDevice.objects.get(user=technician)
    assert passkey.name == "Work laptop"
    assert passkey.confirmed
    assert passkey.backup_eligible and passkey.backed_up
    assert passkey.transports == ["internal", "hybrid"]
    assert passkey.credential_id
    added = AuditEvent.objects.get(event=AuditEventType.PASSKEY_ADDED)
    assert added.target == technician
    assert added.details == {"name": "Work laptop", "backup_eligible": True, "backed_up": True}
    assert [message.subject for message in mail.outbox] == ["Passkey added"]
    overview = signed_in.get("/mfa/").content.decode()
    assert "Work laptop" in overview and "Not yet" in overview


def test_options_name_the_site_require_a_discoverable_verified_passkey(signed_in, settings):
    options = registration_options(signed_in)

    assert options["rp"] == {"id": "localhost", "name": settings.MFA_ISSUER}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["user"]["name"] == "tech@northwind.example"
    assert len(base64url_to_bytes(options["user"]["id"])) == 32, "a random handle, not the id"


def test_second_passkey_shares_the_user_handle_and_excludes_the_first(
    signed_in, technician, authenticator
):
    passkey_register(signed_in, authenticator)
    first = PasskeyDevice.objects.get(user=technician)

    options = registration_options(signed_in)

    assert options["user"]["id"] == first.user_handle
    assert [item["id"] for item in options["excludeCredentials"]] == [first.credential_id]


@pytest.mark.parametrize(
    "lie",
    [
        {"origin": "http://evil.example"},
        {"origin": "http://localhost:9999"},
        {"rp_id": "evil.example"},
        {"user_verified": False},
    ],
    ids=["phishing-origin", "other-port", "wrong-rp-id", "no-user-verification"],
)
def test_answer_for_another_site_or_unverified_is_refused(signed_in, technician, lie):
    response = passkey_register(signed_in, SoftAuthenticator(**lie))

    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert not PasskeyDevice.objects.exists()
    assert not AuditEvent.objects.filter(event=AuditEventType.PASSKEY_ADDED).exists()


def test_answer_to_another_challenge_is_refused(signed_in, authenticator):
    options = registration_options(signed_in)
    options["challenge"] = "bm90LXRoZS1jaGFsbGVuZ2UtdGhlLXNlcnZlci1nYXZl"

    response = signed_in.post(ADD, {"name": "Key", "credential": authenticator.create(options)})

    assert REFUSED in response.content.decode()
    assert not PasskeyDevice.objects.exists()


def test_challenge_is_spent_by_the_first_answer(signed_in, authenticator):
    options = registration_options(signed_in)
    refused = signed_in.post(
        ADD, {"name": "Key", "credential": SoftAuthenticator(rp_id="evil.example").create(options)}
    )
    assert REFUSED in refused.content.decode()

    again = signed_in.post(ADD, {"name": "Key", "credential": authenticator.create(options)})

    assert REFUSED in again.content.decode()
    assert not PasskeyDevice.objects.exists()


def test_expired_challenge_is_refused(signed_in, clock, authenticator, settings):
    settings.PASSKEY_CHALLENGE_SECONDS = 60  # shorter than the password proof lasts
    options = registration_options(signed_in)
    clock.shift(settings.PASSKEY_CHALLENGE_SECONDS + 1)

    response = signed_in.post(ADD, {"name": "Key", "credential": authenticator.create(options)})

    assert REFUSED in response.content.decode()
    assert not PasskeyDevice.objects.exists()


def test_another_persons_credential_cannot_be_registered_again(
    clock, user_with_passkey, authenticator, other_tenant
):
    stolen = PasskeyDevice.objects.get(user=user_with_passkey)
    intruder = UserFactory(tenant=other_tenant)
    client = sign_in(Client(), intruder)
    options = registration_options(client)
    forged = SoftAuthenticator().create(
        options, credential_id=base64url_to_bytes(stolen.credential_id)
    )

    response = client.post(ADD, {"name": "Mine now", "credential": forged})

    assert "already registered" in response.content.decode()
    assert list(PasskeyDevice.objects.values_list("user", flat=True)) == [user_with_passkey.pk]
    refused = AuditEvent.objects.get(event=AuditEventType.PASSKEY_REFUSED)
    assert refused.target == intruder
    assert refused.details == {"ceremony": "register", "reason": "already_registered"}


def test_missing_or_garbage_answer_loses_the_name(signed_in):
    response = signed_in.post(ADD, {"name": "Work laptop", "credential": "{not json"})

    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert 'value="Work laptop"' in response.content.decode()
    empty = signed_in.post(ADD, {"name": "Work laptop", "credential": ""})
    assert "Your browser didn" in empty.content.decode()


def test_adding_needs_a_fresh_password_proof(signed_in, clock, settings):
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    response = signed_in.get(ADD)

    assert response.status_code == 302
    assert response.url.startswith("/mfa/confirm-password/")


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get(ADD)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
