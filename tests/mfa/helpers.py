"""Helpers for MFA tests: real codes computed from a person's app, as an authenticator app does,
backup codes in clear, and second steps sent at the same instant."""

from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice

from mfa.models import BackupCodeDevice
from teams.proofs import factor_proof_record, password_proof_record
from tests.at_once import at_once
from tests.signing_in import VERIFY, device_code

SETUP = "/mfa/totp/setup/"


def totp_code(user, *, steps: int = 0) -> str:
    """The code of the person's confirmed app `steps` time steps away from now."""
    return device_code(TOTPDevice.objects.get(user=user, confirmed=True), steps=steps)


def backup_codes_issue(user) -> list[str]:
    """Give a person a fresh set of backup codes and return them in clear."""
    device, _ = BackupCodeDevice.objects.get_or_create(user=user, defaults={"name": "Backup codes"})
    return device.codes_replace()


def request_with_fresh_proof():
    """A request whose session proved the acting person's password and second factor just now,
    as `mfa.services.mfa_factors_reset` demands."""
    request = RequestFactory().post("/admin/")
    request.session = SessionStore()
    password_proof_record(request=request)
    factor_proof_record(request=request)
    return request


def submit_all_at_once(clients, data: dict, path: str = VERIFY) -> list[int]:
    """POST `data` to `path` (the second step unless told) from every client at the same
    instant; the status codes, one per client."""
    return at_once(len(clients), lambda index: clients[index].post(path, data).status_code)
