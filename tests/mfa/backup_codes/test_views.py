import re
from urllib.parse import unquote

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCode, BackupCodeDevice, backup_code_format
from tests.factories import TOTPDeviceFactory, UserFactory
from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import VERIFY, prove_identity, sign_in, sign_in_with_totp

CODES = "/mfa/backup-codes/"


@pytest.fixture
def codes(user_with_totp) -> list[str]:
    return backup_codes_issue(user_with_totp)


def test_codes_are_stored_hashed_never_in_clear(codes):
    stored = list(BackupCode.objects.values_list("lookup", "code_hash"))

    assert len(stored) == 10
    for code in codes:
        secret_part = code[3:]
        assert all(secret_part not in code_hash for _, code_hash in stored)
        assert all(code not in code_hash for _, code_hash in stored)
    assert {lookup for lookup, _ in stored} == {code[:3] for code in codes}


def test_backup_code_passes_the_second_step_once(
    clock, user_with_totp, codes, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), user_with_totp)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(VERIFY, {"otp_token": codes[0]})

    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.get(event=AuditEventType.MFA_VERIFIED).details == {
        "method": "backup_code"
    }
    used = AuditEvent.objects.get(event=AuditEventType.BACKUP_CODE_USED)
    assert used.details == {"codes_left": 9}
    assert codes[0] not in str(used.details)
    assert AuditEvent.objects.get(event=AuditEventType.SIGN_IN_SUCCEEDED).details == {
        "door": "password",
        "second_factor": "backup_code",
    }
    assert [message.subject for message in mail.outbox] == ["A backup code was used to sign in"]

    again = sign_in(Client(), user_with_totp)
    assert again.post(VERIFY, {"otp_token": codes[0]}).status_code == 200
    assert AuditEvent.objects.filter(event=AuditEventType.MFA_FAILED).count() == 1


@pytest.mark.parametrize("typed", ["upper", "formatted", "spaced"])
def test_backup_code_is_accepted_however_it_is_typed(clock, user_with_totp, codes, typed):
    code = {
        "upper": codes[1].upper(),
        "formatted": backup_code_format(codes[1]),
        "spaced": " " + " ".join(codes[1]) + " ",
    }[typed]
    client = sign_in(Client(), user_with_totp)

    assert client.post(VERIFY, {"otp_token": code}).status_code == 302


def test_someone_elses_backup_code_does_not_work(clock, user_with_totp, codes):
    stranger = UserFactory(tenant=user_with_totp.tenant)
    TOTPDeviceFactory(user=stranger)
    client = sign_in(Client(), stranger)

    assert client.post(VERIFY, {"otp_token": codes[0]}).status_code == 200
    assert BackupCodeDevice.objects.get(user=user_with_totp).codes_left() == 10


def test_a_wrong_backup_code_then_a_right_one_signs_in(clock, user_with_totp, codes):
    client = sign_in(Client(), user_with_totp)
    client.post(VERIFY, {"otp_token": "zzzzz-zzzzz"})

    response = client.post(VERIFY, {"otp_token": codes[0]})

    assert response.status_code == 302
    assert BackupCodeDevice.objects.get(user=user_with_totp).codes_left() == 9


def test_status_page_shows_codes_left_but_never_the_codes(clock, user_with_totp, codes):
    client = sign_in_with_totp(Client(), user_with_totp)

    response = client.get(CODES)

    page = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert "<strong>10</strong> unused backup codes" in page
    assert not any(code in page for code in codes)


def test_regenerate_shows_a_new_set_once_and_the_old_codes_die(
    clock, user_with_totp, codes, django_capture_on_commit_callbacks
):
    client = sign_in_with_totp(Client(), user_with_totp)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CODES, {"confirm": "on"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new_codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", page)
    assert len(new_codes) == 10
    download = unquote(re.search(r'href="data:text/plain;charset=utf-8,([^"]+)"', page).group(1))
    assert all(code in download for code in new_codes)
    regenerated = AuditEvent.objects.get(event=AuditEventType.BACKUP_CODES_REGENERATED)
    assert regenerated.details == {"codes": 10}
    assert [message.subject for message in mail.outbox] == ["New backup codes"]

    clock.shift(30)
    old = sign_in(Client(), user_with_totp)
    assert old.post(VERIFY, {"otp_token": codes[2]}).status_code == 200
    clock.shift(60)
    assert old.post(VERIFY, {"otp_token": new_codes[2]}).status_code == 302


def test_regenerate_needs_the_box_ticked(clock, user_with_totp, codes):
    client = sign_in_with_totp(Client(), user_with_totp)

    response = client.post(CODES, {})

    assert response.status_code == 200
    assert "Tick the box to confirm" in response.content.decode()
    assert not AuditEvent.objects.filter(event=AuditEventType.BACKUP_CODES_REGENERATED).exists()


def test_regenerate_needs_a_fresh_password(clock, user_with_totp, password, codes, settings):
    client = sign_in_with_totp(Client(), user_with_totp)
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    response = client.post(CODES, {"confirm": "on"})

    assert response.status_code == 302
    assert response.url.startswith("/mfa/confirm-password/")
    assert not AuditEvent.objects.filter(event=AuditEventType.BACKUP_CODES_REGENERATED).exists()
    prove_identity(client, user_with_totp, password=password)
    assert client.post(CODES, {"confirm": "on"}).status_code == 200


def test_regenerate_without_an_app_is_refused(client_signed_in):
    response = client_signed_in.post(CODES, {"confirm": "on"}, follow=True)

    assert "Set up an authenticator app first" in response.content.decode()
    assert not BackupCodeDevice.objects.exists()


@pytest.mark.parametrize("left, warned", [(3, False), (2, True), (0, True)])
def test_dashboard_warns_when_two_or_fewer_codes_are_left(
    clock, user_with_totp, codes, left, warned
):
    client = sign_in_with_totp(Client(), user_with_totp)
    unused = BackupCode.objects.filter(device__user=user_with_totp)
    unused.filter(pk__in=list(unused.values_list("pk", flat=True))[left:]).update(
        used_at=timezone.now()
    )

    page = client.get("/").content.decode()

    assert (f"You have {left} backup code" in page) is warned
    assert ('href="/mfa/backup-codes/"' in page) is warned


def test_the_confirm_box_sits_inline_before_its_label(clock, user_with_totp, codes):
    page = sign_in_with_totp(Client(), user_with_totp).get(CODES).content.decode()

    row = re.search(
        r'<div class="field field-check">\s*<input[^>]*type="checkbox"[^>]*>\s*<label', page
    )
    assert row, "the checkbox and its label share one form row, box first"
