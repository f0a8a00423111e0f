"""Signing people in the way their browsers do: through the real sign-in form and second step.

Every test that needs someone signed in goes through these, or through the `client_signed_in`
and `half_signed_in` fixtures built on them, so the session, its tracking row and the audit
events a test sees are the ones a person's sign-in makes. `extra` arguments are request
headers for the test client, such as `REMOTE_ADDR` and `HTTP_USER_AGENT`.
"""

from typing import TYPE_CHECKING

from django.http import HttpResponse
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

LOGIN = "/accounts/login/"
VERIFY = "/mfa/verify/"
WRONG_PASSWORD = "not-the-password-at-all"


def device_code(device: TOTPDevice, *, steps: int = 0) -> str:
    """What the authenticator app shows `steps` time steps from now (time-machine's clock)."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=steps)
    return f"{code:0{device.digits}d}"


def sign_in_attempt(
    client: Client, email: str, password: str, *, next_page: str | None = None, **extra
) -> HttpResponse:
    """Send the sign-in form with what was typed into it; the answer, whatever it is.

    `next_page` is the form's hidden `next` field, the page asked for before signing in.
    """
    data = {"username": email, "password": password}
    if next_page is not None:
        data["next"] = next_page
    return client.post(LOGIN, data, **extra)


def sign_in(
    client: Client,
    user: User,
    *,
    password: str = DEFAULT_PASSWORD,
    next_page: str | None = None,
    **extra,
) -> Client:
    """Pass the sign-in form as `user` in `client` (`Client()` for a browser of its own).

    Someone with a second factor is then half signed in: only the second step lets them on
    (`sign_in_with_totp` does both). Operators, who always have one, are taken through their
    second step too: tests that sign an operator in are about what operators do.
    """
    response = sign_in_attempt(client, user.email, password, next_page=next_page, **extra)
    assert response.status_code == 302, response.content
    if user.is_superuser and response.url.startswith(VERIFY):
        device = TOTPDevice.objects.get(user=user, confirmed=True)
        # A code is accepted once per time step; a test may sign one operator in twice within
        # a step (time stands still in many), as a person would by waiting for the next code.
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
        verified = client.post(VERIFY, {"otp_token": device_code(device)}, **extra)
        assert verified.status_code == 302, verified.content
    return client


def sign_in_with_totp(
    client: Client,
    user: User,
    device: TOTPDevice | None = None,
    *,
    password: str = DEFAULT_PASSWORD,
    **extra,
) -> Client:
    """Pass the sign-in form, then the second step with a code from `device`.

    The device is the person's confirmed authenticator app unless one is given.
    """
    sign_in(client, user, password=password, **extra)
    device = device or TOTPDevice.objects.get(user=user, confirmed=True)
    response = client.post(VERIFY, {"otp_token": device_code(device)}, **extra)
    assert response.status_code == 302, response.content
    assert not response.url.startswith(VERIFY), response.url
    return client


def fail_sign_in(client: Client, email: str, **extra) -> None:
    """Type a wrong password for `email`; the form refuses it (no lock is in the way)."""
    response = sign_in_attempt(client, email, WRONG_PASSWORD, **extra)
    assert response.status_code == 200, response.status_code


def sign_in_on_page(page: "Page", email: str, password: str = DEFAULT_PASSWORD) -> None:
    """Fill in and send the sign-in form in a browser page (Playwright), as a person does.

    Where it leads is for the test to expect: the dashboard, the second step or a refusal.
    """
    page.goto(LOGIN)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


REAUTHENTICATE = "/mfa/confirm-password/"


def prove_identity(
    client: Client,
    user: User,
    *,
    password: str = DEFAULT_PASSWORD,
    next_page: str | None = None,
    **extra,
) -> HttpResponse:
    """Pass the proof page as `user`: the password and, when they have an authenticator app,
    a code from it (the proof page asks for both then)."""
    data = {"password": password}
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        # The sign-in may have used this time step's code already (time stands still in many
        # tests); a person would wait for the next one.
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
        data["otp_token"] = device_code(device)
    if next_page is not None:
        data["next"] = next_page
    return client.post(REAUTHENTICATE, data, **extra)
