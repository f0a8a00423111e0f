"""A passkey as the second step: the server side of the get() ceremony after the password."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from tests.factories import UserFactory
from tests.mfa.passkeys.authenticator import (
    ADD,
    PASSKEY_VERIFY,
    SoftAuthenticator,
    passkey_register,
    second_step_options,
)
from tests.signing_in import VERIFY, sign_in

REFUSED = "That passkey didn"


def events(kind: AuditEventType):
    return AuditEvent.objects.filter(event=kind)


@pytest.fixture
def half_signed_in_with_passkey(user_with_passkey) -> Client:
    client = sign_in(Client(), user_with_passkey)
    assert client.get("/").url.startswith(VERIFY)
    return client


def answer(client: Client, authenticator: SoftAuthenticator, options: dict | None = None, **kw):
    options = options or second_step_options(client)
    return client.post(
        PASSKEY_VERIFY, {"credential": authenticator.get(options, **kw), "next": "/"}
    )


def test_passkey_completes_the_sign_in(
    half_signed_in_with_passkey, user_with_passkey, authenticator
):
    client = half_signed_in_with_passkey
    options = second_step_options(client)
    passkey = PasskeyDevice.objects.get(user=user_with_passkey)
    assert [item["id"] for item in options["allowCredentials"]] == [passkey.credential_id]
    assert options["rpId"] == "localhost"

    response = answer(client, authenticator, options)

    assert response.status_code == 302
    assert response.url == "/"
    assert client.session[SESSION_KEY] == str(user_with_passkey.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == passkey.persistent_id
    assert client.get("/").status_code == 200
    passkey.refresh_from_db()
    assert passkey.sign_count == 1
    assert passkey.last_used_at is not None
    assert events(AuditEventType.MFA_VERIFIED).order_by("pk").last().details == {
        "method": "passkey",
        "passkey": "Work laptop",
    }
    assert events(AuditEventType.SIGN_IN_SUCCEEDED).order_by("pk").last().details == {
        "door": "password",
        "second_factor": "passkey",
    }


@pytest.mark.parametrize(
    "lie",
    [{"origin": "http://evil.example"}, {"rp_id": "evil.example"}],
    ids=["wrong-origin", "wrong-rp-id"],
)
def test_answer_for_another_site_is_refused(half_signed_in_with_passkey, authenticator, lie):
    client = half_signed_in_with_passkey
    for name, value in lie.items():
        setattr(authenticator, name, value)

    response = answer(client, authenticator)

    assert response.status_code == 302
    assert response.url.startswith(VERIFY)
    assert REFUSED in client.get(response.url).content.decode()
    assert SESSION_KEY not in client.session
    assert events(AuditEventType.MFA_FAILED).count() == 1


def test_user_verification_is_not_needed_after_a_password(
    half_signed_in_with_passkey, authenticator
):
    authenticator.user_verified = False

    response = answer(half_signed_in_with_passkey, authenticator)

    assert response.url == "/"
    assert SESSION_KEY in half_signed_in_with_passkey.session


def test_answer_to_another_challenge_is_refused(half_signed_in_with_passkey, authenticator):
    client = half_signed_in_with_passkey
    options = {**second_step_options(client), "challenge": "c29tZS1vdGhlci1jaGFsbGVuZ2U"}

    answer(client, authenticator, options)

    assert SESSION_KEY not in client.session


def test_replayed_assertion_is_refused(
    half_signed_in_with_passkey, authenticator, user_with_passkey
):
    client = half_signed_in_with_passkey
    options = second_step_options(client)
    credential = authenticator.get(options)
    first = client.post(PASSKEY_VERIFY, {"credential": credential})
    assert first.status_code == 302
    client.post("/accounts/logout/")
    replayer = sign_in(Client(), user_with_passkey)
    second_step_options(replayer)

    replayed = replayer.post(PASSKEY_VERIFY, {"credential": credential})

    assert replayed.url.startswith(VERIFY)
    assert SESSION_KEY not in replayer.session


def test_expired_challenge_is_refused(half_signed_in_with_passkey, authenticator, clock, settings):
    client = half_signed_in_with_passkey
    options = second_step_options(client)
    clock.shift(settings.PASSKEY_CHALLENGE_SECONDS + 1)

    answer(client, authenticator, options)

    assert SESSION_KEY not in client.session


def test_counter_going_backwards_is_refused_and_flagged(
    half_signed_in_with_passkey, authenticator, user_with_passkey
):
    PasskeyDevice.objects.filter(user=user_with_passkey).update(sign_count=10)
    authenticator.credentials[-1].sign_count = 4  # a clone that fell behind the original

    answer(half_signed_in_with_passkey, authenticator)

    assert SESSION_KEY not in half_signed_in_with_passkey.session
    flagged = events(AuditEventType.PASSKEY_COUNTER_WENT_BACKWARDS).get()
    assert flagged.target == user_with_passkey
    assert flagged.details == {"passkey": "Work laptop", "stored": 10, "reported": 5}
    assert PasskeyDevice.objects.get(user=user_with_passkey).sign_count == 10


def test_authenticator_without_a_counter_keeps_working(
    half_signed_in_with_passkey, authenticator, user_with_passkey
):
    authenticator.counter_step = 0

    answer(half_signed_in_with_passkey, authenticator)

    assert SESSION_KEY in half_signed_in_with_passkey.session
    assert not events(AuditEventType.PASSKEY_COUNTER_WENT_BACKWARDS).exists()


def test_another_persons_passkey_is_refused(clock, user_with_passkey, authenticator, tenant):
    colleague = UserFactory(tenant=tenant)
    colleague_authenticator = SoftAuthenticator()
    colleague_client = sign_in(Client(), colleague)
    passkey_register(colleague_client, colleague_authenticator)
    client = sign_in(Client(), user_with_passkey)

    response = answer(client, colleague_authenticator)

    assert response.url.startswith(VERIFY)
    assert SESSION_KEY not in client.session
    refused = events(AuditEventType.PASSKEY_REFUSED).get()
    assert refused.target == user_with_passkey
    assert refused.details == {"ceremony": "second_step", "reason": "another_persons_passkey"}
    assert events(AuditEventType.MFA_FAILED).count() == 1


def test_refused_passkeys_count_toward_the_lockout(
    half_signed_in_with_passkey, authenticator, settings
):
    client = half_signed_in_with_passkey
    authenticator.origin = "http://evil.example"
    for _ in range(settings.LOCKOUT_FAILURES):
        answer(client, authenticator)
    authenticator.origin = "http://localhost:8000"

    response = answer(client, authenticator)

    assert response.status_code in (302, 429)
    assert SESSION_KEY not in client.session
    assert events(AuditEventType.ACCOUNT_LOCKED).count() == 1


def test_garbage_answer_is_a_clear_message(half_signed_in_with_passkey):
    client = half_signed_in_with_passkey
    second_step_options(client)

    response = client.post(PASSKEY_VERIFY, {"credential": '{"id": 1}'})

    assert response.url.startswith(VERIFY)
    assert REFUSED in client.get(response.url).content.decode()


def test_passkey_page_of_a_sign_in_does_not_let_a_password_add_one(
    clock, user_with_passkey, authenticator
):
    """Someone with only the password can't register their own passkey to skip the step."""
    client = sign_in(Client(), user_with_passkey)

    response = client.get(ADD)

    assert response.status_code == 302
    assert response.url.startswith(VERIFY)


def test_second_step_page_names_the_person_signing_in(half_signed_in_with_passkey, technician):
    page = half_signed_in_with_passkey.get(VERIFY).content.decode()

    assert f"You are signing in as <strong>{technician.email}</strong>" in page
    assert "Use your passkey" in page


def test_passkey_second_step_has_one_heading_and_one_signing_in_line(
    half_signed_in_with_passkey, technician
):
    page = half_signed_in_with_passkey.get(VERIFY).content.decode()

    assert '<h1 id="verify-heading">Use your passkey</h1>' in page
    assert page.count("You are signing in as") == 1
    assert '<h2 class="section-divider">Or type a code</h2>' in page
