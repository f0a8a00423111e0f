"""Helpers for MFA tests: real codes computed from a device's key, as an authenticator app does,
and the password step alone."""

from datetime import UTC, datetime

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from mfa.models import BackupCodeDevice

# Ten seconds into a 30-second step, so a test's own requests never cross into the next step.
MID_STEP = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
LOGIN = "/accounts/login/"
VERIFY = "/mfa/verify/"
SETUP = "/mfa/totp/setup/"


def device_code(device: TOTPDevice, *, steps: int = 0) -> str:
    """The device's code `steps` time steps away from now (the clock time_machine sets)."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=steps)
    return f"{code:0{device.digits}d}"


def totp_code(user, *, steps: int = 0) -> str:
    return device_code(TOTPDevice.objects.get(user=user, confirmed=True), steps=steps)


def backup_codes_issue(user) -> list[str]:
    """Give a person a fresh set of backup codes and return them in clear."""
    device, _ = BackupCodeDevice.objects.get_or_create(user=user, defaults={"name": "Backup codes"})
    return device.codes_replace()


def password_step(user, password: str, client: Client | None = None, **extra) -> Client:
    """Pass the password step only, as a browser would."""
    client = client or Client()
    response = client.post(LOGIN, {"username": user.email, "password": password}, **extra)
    assert response.status_code == 302, response.content
    return client
