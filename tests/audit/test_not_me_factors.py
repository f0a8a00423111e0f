""" "This wasn't me" removes the second factors an intruder added after the reported sign-in."""

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.alerts import report_link_token
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCodeDevice
from tests.audit.helpers import FIREFOX_LINUX, SAFARI_IPHONE
from tests.mfa.helpers import SETUP, backup_codes_issue
from tests.signing_in import device_code, prove_identity, sign_in, sign_in_with_totp

HOME = "192.0.2.10"
ELSEWHERE = "203.0.113.99"

pytestmark = pytest.mark.django_db


def report(technician) -> None:
    alert = AuditEvent.objects.get(event=AuditEventType.UNUSUAL_SIGN_IN, target=technician)
    response = Client().post(f"/audit/not-me/{report_link_token(alert=alert)}/")
    assert response.status_code == 200


def intruder_enrols_an_app(intruder: Client, technician) -> None:
    intruder.get(SETUP)
    device = TOTPDevice.objects.get(user=technician, confirmed=False)
    assert intruder.post(SETUP, {"otp_token": device_code(device)}).status_code in (200, 302)
    assert TOTPDevice.objects.filter(pk=device.pk, confirmed=True).exists()


def test_the_intruders_app_and_codes_go_and_the_person_signs_in_without_them(
    clock, technician, password
):
    sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)
    clock.shift(3600)
    intruder = sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)
    intruder_enrols_an_app(intruder, technician)
    assert BackupCodeDevice.objects.filter(user=technician).exists()

    report(technician)

    assert not TOTPDevice.objects.filter(user=technician).exists()
    assert not BackupCodeDevice.objects.filter(user=technician).exists()
    reported = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REPORTED)
    assert reported.details["factors_removed"] == ["backupcodedevice", "totpdevice"]
    # The person resets their password and signs in: no second step asks for the intruder's app.
    technician.set_password(password)
    technician.save()
    back = sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)
    assert back.get("/").status_code == 200


def test_the_persons_own_app_stays_and_codes_issued_since_go(clock, user_with_totp, password):
    own_app = TOTPDevice.objects.get(user=user_with_totp)
    backup_codes_issue(user_with_totp)
    sign_in_with_totp(Client(), user_with_totp, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)
    clock.shift(3600)
    intruder = sign_in_with_totp(
        Client(), user_with_totp, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE
    )
    prove_identity(intruder, user_with_totp, password=password)
    assert intruder.post("/mfa/backup-codes/", {"confirm": "on"}).status_code == 200
    assert AuditEvent.objects.filter(event=AuditEventType.BACKUP_CODES_REGENERATED).exists()

    report(user_with_totp)

    assert list(TOTPDevice.objects.filter(user=user_with_totp)) == [own_app]
    assert not BackupCodeDevice.objects.filter(user=user_with_totp).exists()
    reported = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REPORTED)
    assert reported.details["factors_removed"] == ["backupcodedevice"]


def test_factors_older_than_the_reported_sign_in_stay(clock, user_with_totp):
    backup_codes_issue(user_with_totp)
    sign_in_with_totp(Client(), user_with_totp, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)
    clock.shift(3600)
    sign_in_with_totp(
        Client(), user_with_totp, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE
    )

    report(user_with_totp)

    assert TOTPDevice.objects.filter(user=user_with_totp, confirmed=True).exists()
    assert BackupCodeDevice.objects.filter(user=user_with_totp).exists()
    reported = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REPORTED)
    assert reported.details["factors_removed"] == []


def test_an_app_enrolled_at_the_reported_sign_ins_own_step_goes_too(clock, technician, password):
    """The app was made when the intruder opened the enrolment step, before the sign-in it
    completed was recorded: measured from that event, it stayed. The attempt's start counts."""
    sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)
    technician.tenant.require_mfa = True
    technician.tenant.save()
    clock.shift(3600)
    intruder = sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)
    clock.shift(60)
    intruder.get(SETUP)
    device = TOTPDevice.objects.get(user=technician, confirmed=False)
    clock.shift(60)
    assert intruder.post(SETUP, {"otp_token": device_code(device)}).status_code == 200
    assert intruder.get("/").status_code == 200

    report(technician)

    assert not TOTPDevice.objects.filter(user=technician).exists()
    assert not BackupCodeDevice.objects.filter(user=technician).exists()
    reported = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REPORTED)
    assert reported.details["factors_removed"] == ["backupcodedevice", "totpdevice"]
