import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

import accounts.proofs
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCodeDevice
from teams.models import UserSession
from tests.mfa.helpers import backup_codes_issue, totp_code
from tests.signing_in import LOGIN, VERIFY, sign_in, sign_in_attempt


def events(kind: AuditEventType):
    return AuditEvent.objects.filter(event=kind)


def test_password_alone_leaves_a_person_with_a_factor_half_signed_in(
    clock, user_with_totp, password
):
    client = Client()
    response = sign_in_attempt(client, user_with_totp.email, password)

    assert response.status_code == 302
    assert response.url == f"{VERIFY}?next=%2F"
    assert SESSION_KEY not in client.session, "nobody is signed in before the second step"
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert not UserSession.objects.filter(user=user_with_totp).exists()
    assert client.get("/").url == f"{VERIFY}?next=%2F"
    due = events(AuditEventType.SECOND_STEP_DUE).get()
    assert due.target == user_with_totp
    assert due.details == {"step": "verify"}
    assert not events(AuditEventType.SIGN_IN_SUCCEEDED).exists()


def test_correct_code_completes_sign_in_and_rotates_the_session_key(half_signed_in, user_with_totp):
    half_key = half_signed_in.session.session_key
    assert not UserSession.objects.filter(user=user_with_totp).exists()

    response = half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp), "next": "/"})

    assert response.status_code == 302
    assert response.url == "/"
    new_key = half_signed_in.session.session_key
    assert new_key != half_key
    assert SessionStore(session_key=half_key).load() == {}
    assert UserSession.objects.get(user=user_with_totp).session_key == new_key
    assert half_signed_in.get("/").status_code == 200
    verified = events(AuditEventType.MFA_VERIFIED).get()
    assert verified.details == {"method": "totp"}
    succeeded = events(AuditEventType.SIGN_IN_SUCCEEDED).get()
    assert succeeded.details == {"door": "password", "second_factor": "totp"}
    assert succeeded.actor == user_with_totp


def test_old_session_cookie_is_anonymous_after_the_second_step(half_signed_in, user_with_totp):
    planted = Client()
    planted.cookies["sessionid"] = half_signed_in.session.session_key

    half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp)})

    response = planted.get("/")
    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


def test_wrong_code_is_refused_audited_and_counted_as_a_failed_sign_in(
    half_signed_in, user_with_totp, monkeypatch
):
    counted = []
    record = accounts.proofs.sign_in_failure_record
    monkeypatch.setattr(
        accounts.proofs,
        "sign_in_failure_record",
        lambda **kwargs: (counted.append(kwargs), record(**kwargs)),
    )
    wrong = f"{(int(totp_code(user_with_totp)) + 1) % 1_000_000:06d}"

    response = half_signed_in.post(VERIFY, {"otp_token": wrong})

    assert response.status_code == 200
    assert "That code didn&#x27;t work" in response.content.decode()
    assert half_signed_in.get("/").url.startswith(VERIFY)
    assert [call["event"] for call in counted] == [AuditEventType.MFA_FAILED]
    assert counted[0]["email"] == user_with_totp.email
    failed = events(AuditEventType.MFA_FAILED).get()
    assert failed.target == user_with_totp
    assert wrong not in str(failed.details)
    assert not events(AuditEventType.SIGN_IN_SUCCEEDED).exists()


@pytest.mark.parametrize("steps", [-1, 1])
def test_code_one_step_off_is_accepted_and_the_window_stays_on_the_servers_clock(
    half_signed_in, user_with_totp, steps
):
    response = half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp, steps=steps)})

    assert response.status_code == 302
    assert TOTPDevice.objects.get(user=user_with_totp).drift == 0


def test_a_phone_one_step_ahead_never_moves_the_window_further(clock, user_with_totp):
    """30 seconds either way of the server's clock (ASVS 5.0 V6.5.5), however often a phone
    that runs ahead is used: the window doesn't follow it."""
    for _ in range(3):
        browser = sign_in(Client(), user_with_totp)
        ahead = totp_code(user_with_totp, steps=1)
        assert browser.post(VERIFY, {"otp_token": ahead}).status_code == 302
        clock.shift(30)

    two_ahead = totp_code(user_with_totp, steps=2)
    refused = sign_in(Client(), user_with_totp).post(VERIFY, {"otp_token": two_ahead})

    assert refused.status_code == 200


@pytest.mark.parametrize("steps", [-2, 2, 10])
def test_code_two_or_more_steps_off_is_refused(half_signed_in, user_with_totp, steps):
    response = half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp, steps=steps)})

    assert response.status_code == 200
    assert events(AuditEventType.MFA_FAILED).count() == 1
    assert TOTPDevice.objects.get(user=user_with_totp).drift == 0


def test_code_already_used_is_refused_as_a_replay(clock, user_with_totp):
    first = sign_in(Client(), user_with_totp)
    second = sign_in(Client(), user_with_totp)
    code = totp_code(user_with_totp)

    assert first.post(VERIFY, {"otp_token": code}).status_code == 302
    replay = second.post(VERIFY, {"otp_token": code})

    assert replay.status_code == 200
    assert second.get("/").url.startswith(VERIFY)
    clock.shift(30)
    assert second.post(VERIFY, {"otp_token": totp_code(user_with_totp)}).status_code == 302


def test_earlier_code_is_refused_once_a_later_one_was_used(clock, user_with_totp):
    """Accepting the next step's code moves the floor: the current code is spent too."""
    first = sign_in(Client(), user_with_totp)
    second = sign_in(Client(), user_with_totp)

    assert first.post(VERIFY, {"otp_token": totp_code(user_with_totp, steps=1)}).status_code == 302
    assert second.post(VERIFY, {"otp_token": totp_code(user_with_totp)}).status_code == 200


def test_a_wrong_code_then_the_right_one_a_moment_later_signs_in(half_signed_in, user_with_totp):
    refused = half_signed_in.post(VERIFY, {"otp_token": "000000"})

    accepted = half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp)})

    assert "didn&#x27;t work" in refused.content.decode()
    assert "Too many wrong codes" not in refused.content.decode()
    assert accepted.status_code == 302
    assert events(AuditEventType.MFA_FAILED).count() == 1
    assert events(AuditEventType.MFA_VERIFIED).count() == 1


def test_a_refused_code_is_not_shown_back_in_the_box(half_signed_in):
    response = half_signed_in.post(VERIFY, {"otp_token": "123987"})

    assert "123987" not in response.content.decode()


def test_code_box_asks_phones_for_digits_and_backup_codes_get_a_text_box(half_signed_in):
    app_page = half_signed_in.get(VERIFY).content.decode()
    backup_page = half_signed_in.get(VERIFY, {"code": "backup"}).content.decode()

    assert 'inputmode="numeric"' in app_page
    assert 'autocomplete="one-time-code"' in app_page
    assert "Use a backup code" in app_page
    assert 'inputmode="numeric"' not in backup_page
    assert 'autocomplete="one-time-code"' in backup_page
    assert "Backup code" in backup_page


def test_second_step_page_has_no_navigation_that_would_bounce(half_signed_in):
    page = half_signed_in.get(VERIFY).content.decode()

    assert 'aria-label="Main"' not in page
    assert "Not you? Sign out" in page


def test_every_wrong_code_counts_toward_the_account_lockout(
    half_signed_in, user_with_totp, clock, settings, monkeypatch
):
    counted = []
    monkeypatch.setattr(
        accounts.proofs, "sign_in_failure_record", lambda **kwargs: counted.append(kwargs)
    )

    for attempt in range(settings.LOCKOUT_FAILURES):
        half_signed_in.post(VERIFY, {"otp_token": f"{attempt:06d}"})
        clock.shift(60)

    assert len(counted) == settings.LOCKOUT_FAILURES
    assert {call["event"] for call in counted} == {AuditEventType.MFA_FAILED}
    assert {call["email"] for call in counted} == {user_with_totp.email}


def test_wrong_codes_lock_the_account_and_then_no_code_is_checked(
    half_signed_in, user_with_totp, clock, settings
):
    for attempt in range(settings.LOCKOUT_FAILURES):
        response = half_signed_in.post(VERIFY, {"otp_token": f"{attempt:06d}"})
        clock.shift(60)
    assert response.status_code == 429

    response = half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp)})

    assert response.status_code == 429
    assert "Retry-After" in response
    assert TOTPDevice.objects.get(user=user_with_totp).last_t == -1
    assert not events(AuditEventType.MFA_VERIFIED).exists()
    assert events(AuditEventType.ACCOUNT_LOCKED).count() == 1


def test_successful_and_failed_totp_codes_never_throttle_backup_codes(clock, user_with_totp):
    codes = backup_codes_issue(user_with_totp)
    for _ in range(3):
        client = sign_in(Client(), user_with_totp)
        assert client.post(VERIFY, {"otp_token": totp_code(user_with_totp)}).status_code == 302
        clock.shift(30)
    client = sign_in(Client(), user_with_totp)
    client.post(VERIFY, {"otp_token": "000000"})

    response = client.post(VERIFY, {"otp_token": codes[0]})

    assert response.status_code == 302
    backup_device = BackupCodeDevice.objects.get(user=user_with_totp)
    assert backup_device.throttling_failure_count == 0


def test_verify_page_shows_server_utc_time_clock_tips_and_help(half_signed_in):
    response = half_signed_in.get(VERIFY)

    page = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "09:00:10 UTC" in page
    assert 'datetime="2026-03-02T09:00:10+00:00"' in page
    assert "set automatically" in page
    assert "time zone" in page
    assert "Restart the authenticator app" in page
    assert "Can't sign in?" in page
    assert 'name="otp_token"' in page
    assert 'autocomplete="one-time-code"' in page


def test_next_is_kept_through_the_second_step_but_only_within_the_site(
    clock, user_with_totp, password
):
    client = Client()
    response = sign_in_attempt(client, user_with_totp.email, password, next_page="/mfa/")
    assert response.url == f"{VERIFY}?next=%2Fmfa%2F"
    assert 'value="/mfa/"' in client.get(response.url).content.decode()

    done = client.post(VERIFY, {"otp_token": totp_code(user_with_totp), "next": "/mfa/"})
    assert done.url == "/mfa/"

    clock.shift(30)
    other = sign_in(Client(), user_with_totp)
    offsite = other.post(
        VERIFY, {"otp_token": totp_code(user_with_totp), "next": "https://evil.example/"}
    )
    assert offsite.url == "/"


def test_verified_session_visiting_the_second_step_moves_on(half_signed_in, user_with_totp):
    half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp)})

    response = half_signed_in.get(VERIFY)

    assert response.status_code == 302
    assert response.url == "/"


def test_person_without_a_factor_is_signed_in_by_the_password(client, technician, password):
    response = sign_in_attempt(client, technician.email, password)

    assert response.url == "/"
    assert events(AuditEventType.SIGN_IN_SUCCEEDED).get().details == {
        "door": "password",
        "second_factor": "none",
    }
    assert not events(AuditEventType.SECOND_STEP_DUE).exists()


def test_anonymous_visitor_to_the_second_step_goes_to_sign_in(client, db):
    response = client.get(VERIFY)

    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"otp_token": ""},
        {"otp_token": "   "},
        {"otp_token": "1" * 5000},
        {"otp_token": "\x00\x1b[31m"},
        {"otp_token": "12345"},
        {"otp_token": "１２３４５６"},
        {"otp_token": ["123456", "654321"]},
    ],
)
def test_malformed_codes_get_a_message_not_a_crash(half_signed_in, data):
    response = half_signed_in.post(VERIFY, data)

    assert response.status_code == 200
    assert "field-error" in response.content.decode() or "form-errors" in (
        response.content.decode()
    )
    assert half_signed_in.get("/").url.startswith(VERIFY)


def test_sign_out_works_from_the_second_step(half_signed_in):
    response = half_signed_in.post("/accounts/logout/")

    assert response.status_code == 302
    assert SESSION_KEY not in half_signed_in.session


def test_a_right_password_does_not_restart_the_count_of_guessed_codes(
    half_signed_in, user_with_totp, clock, settings
):
    for attempt in range(settings.LOCKOUT_FAILURES - 1):
        half_signed_in.post(VERIFY, {"otp_token": f"{attempt:06d}"})
        clock.shift(60)

    again = sign_in(Client(), user_with_totp)
    response = again.post(VERIFY, {"otp_token": "999999"})

    assert response.status_code == 429


def test_a_completed_sign_in_restarts_the_count(half_signed_in, user_with_totp, clock, settings):
    for attempt in range(settings.LOCKOUT_FAILURES - 1):
        half_signed_in.post(VERIFY, {"otp_token": f"{attempt:06d}"})
        clock.shift(60)
    half_signed_in.post(VERIFY, {"otp_token": totp_code(user_with_totp)})
    clock.shift(60)

    again = sign_in(Client(), user_with_totp)
    response = again.post(VERIFY, {"otp_token": "999999"})

    assert response.status_code == 200
