"""A person who must choose a new password and also has (or must enrol) a second factor signs
in: the code first, then the new password, then the dashboard. The old flow sent them between
/mfa/verify/ and /accounts/password/change/ forever."""

from django.contrib.auth import SESSION_KEY
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import AuditEventType
from audit.models import AuditEvent
from tests.mfa.helpers import SETUP, totp_code
from tests.signing_in import VERIFY, device_code, sign_in

CHANGE = "/accounts/password/change/"
NEW_PASSWORD = "a brand new passphrase 42"


def signed_in_events():
    return AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED)


def test_code_then_new_password_then_dashboard(clock, user_with_totp):
    user_with_totp.password_change_required = True
    user_with_totp.save()
    client = sign_in(Client(), user_with_totp)

    after_code = client.post(VERIFY, {"otp_token": totp_code(user_with_totp), "next": "/"})

    assert after_code.status_code == 302
    assert after_code.url == f"{CHANGE}?next=%2F"
    assert SESSION_KEY not in client.session
    assert client.get("/").url.startswith(CHANGE)
    assert "asks you to choose a new password" in client.get(CHANGE).content.decode()
    assert not signed_in_events().exists()

    after_password = client.post(
        f"{CHANGE}?next=%2F", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert after_password.status_code == 302
    assert after_password.url == "/"
    assert client.get("/").status_code == 200
    assert client.session[SESSION_KEY] == str(user_with_totp.pk)
    user_with_totp.refresh_from_db()
    assert user_with_totp.check_password(NEW_PASSWORD)
    assert not user_with_totp.password_change_required
    assert signed_in_events().get().details == {"door": "password", "second_factor": "totp"}


def test_new_password_is_not_offered_before_the_code(clock, user_with_totp, password):
    user_with_totp.password_change_required = True
    user_with_totp.save()
    client = sign_in(Client(), user_with_totp)

    skipped = client.post(CHANGE, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert skipped.status_code == 302
    assert skipped.url.startswith(VERIFY)
    user_with_totp.refresh_from_db()
    assert user_with_totp.check_password(password)


def test_required_enrolment_then_new_password_then_dashboard(clock, technician):
    technician.tenant.require_mfa = True
    technician.tenant.save()
    technician.password_change_required = True
    technician.save()
    client = sign_in(Client(), technician)

    assert client.get("/").url.startswith(SETUP)
    assert client.get(SETUP).status_code == 200
    device = TOTPDevice.objects.get(user=technician, confirmed=False)
    enrolled = client.post(f"{SETUP}?next=%2F", {"otp_token": device_code(device)})

    assert enrolled.status_code == 200, "the backup codes are shown once"
    assert f"{CHANGE}?next=%2F" in enrolled.content.decode()
    assert SESSION_KEY not in client.session
    after_password = client.post(
        f"{CHANGE}?next=%2F", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert after_password.url == "/"
    assert client.get("/").status_code == 200
    assert signed_in_events().get().details == {"door": "password", "second_factor": "totp"}
