"""Every combination of sign-in steps, passed in a browser as a person would.

Nobody is signed in until the last step is done (accounts/stages.py): while a step waits, the
dashboard sends the browser back to it, and there is no tracked session and no "signed in"
event yet. After the last step there is exactly one of each. Screenshots of each step's page
are written to docs/screenshots/ when SAVE_SCREENSHOTS=1.
"""

import os
import re
from base64 import b32decode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from tests.factories import TOTPDeviceFactory
from tests.mfa.helpers import backup_codes_issue, totp_code
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
NEW_PASSWORD = "quiet-harbour-copper-meadow"

HEADINGS = {
    "verify": "Enter your code",
    "enrol": "Set up an authenticator app",
    "new_password": "Change your password",
}


@dataclass(frozen=True)
class Combination:
    """What the person has and owes, the steps that follows, and the factor the sign-in uses."""

    name: str
    steps: tuple[str, ...]
    second_factor: str
    has_totp: bool = False
    uses_backup_code: bool = False
    mfa_required: bool = False
    password_required: bool = False
    password_expired: bool = False
    # Which step pages this combination photographs for docs/screenshots/.
    screenshots: tuple[str, ...] = ()


COMBINATIONS = [
    Combination(name="no-mfa", steps=(), second_factor="none"),
    Combination(
        name="totp",
        steps=("verify",),
        second_factor="totp",
        has_totp=True,
        screenshots=("verify",),
    ),
    Combination(
        name="backup-code",
        steps=("verify",),
        second_factor="backup_code",
        has_totp=True,
        uses_backup_code=True,
    ),
    Combination(
        name="enrolment",
        steps=("enrol",),
        second_factor="totp",
        mfa_required=True,
    ),
    Combination(
        name="new-password",
        steps=("new_password",),
        second_factor="none",
        password_required=True,
    ),
    Combination(
        name="totp-and-expired-password",
        steps=("verify", "new_password"),
        second_factor="totp",
        has_totp=True,
        password_expired=True,
    ),
    Combination(
        name="enrolment-and-new-password",
        steps=("enrol", "new_password"),
        second_factor="totp",
        mfa_required=True,
        password_required=True,
        screenshots=("enrol", "backup_codes", "new_password"),
    ),
]


def screenshot(page, combination: Combination, step: str, tmp_path: Path) -> None:
    name = f"sign-in-step-{step.replace('_', '-')}.png"
    to_docs = os.environ.get("SAVE_SCREENSHOTS") == "1" and step in combination.screenshots
    path = (SCREENSHOTS if to_docs else tmp_path) / name
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes().startswith(b"\x89PNG")


def app_code(secret: str) -> str:
    """What an authenticator app shows for a key typed in by hand."""
    return f"{totp(b32decode(secret.replace(' ', ''))):06d}"


def person_for(combination: Combination, technician: User) -> User:
    tenant = technician.tenant
    if combination.mfa_required:
        tenant.require_mfa = True
    if combination.password_expired:
        tenant.password_max_age_days = 30
        technician.password_changed_at = datetime.now(tz=UTC) - timedelta(days=31)
    tenant.save()
    technician.password_change_required = combination.password_required
    technician.save()
    if combination.has_totp:
        TOTPDeviceFactory(user=technician)
    return technician


def assert_not_signed_in_yet(page, person: User, step: str) -> None:
    """The pending sign-in is no sign-in: the dashboard leads back to the step, and nothing
    that a sign-in makes exists yet."""
    page.goto("/")
    expect(page.get_by_role("heading", name=HEADINGS[step])).to_be_visible()
    assert not UserSession.objects.filter(user=person).exists()
    assert not AuditEvent.objects.filter(
        event=AuditEventType.SIGN_IN_SUCCEEDED, target=person
    ).exists()
    person.refresh_from_db()
    assert person.last_login is None


def pass_verify(page, combination: Combination, person: User) -> None:
    code = backup_codes_issue(person)[0] if combination.uses_backup_code else totp_code(person)
    page.get_by_label("Code from your app").fill(code)
    page.get_by_role("button", name="Verify").click()


def pass_enrol(page, combination: Combination, tmp_path: Path) -> None:
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code from the app").fill(app_code(secret))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Save your backup codes")).to_be_visible()
    expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(10)
    screenshot(page, combination, "backup_codes", tmp_path)
    page.get_by_role("link", name="I've saved my codes, continue").click()


def pass_new_password(page) -> None:
    expect(page.get_by_label("Current password")).to_have_count(0)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda combination: combination.name)
def test_every_step_combination_signs_in_only_after_the_last_step(
    page, technician, password, combination, tmp_path
):
    person = person_for(combination, technician)
    with time_machine.travel(datetime.now(tz=UTC), tick=True):
        sign_in_on_page(page, person.email, password)

        for step in combination.steps:
            expect(page.get_by_role("heading", name=HEADINGS[step])).to_be_visible()
            screenshot(page, combination, step, tmp_path)
            assert_not_signed_in_yet(page, person, step)
            if step == "verify":
                pass_verify(page, combination, person)
            elif step == "enrol":
                pass_enrol(page, combination, tmp_path)
            else:
                pass_new_password(page)

        expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.goto("/")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    (signed_in,) = AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED, target=person)
    assert signed_in.details["second_factor"] == combination.second_factor
    assert UserSession.objects.filter(user=person).count() == 1
    person.refresh_from_db()
    assert person.last_login is not None
    assert not person.password_change_required
    if "new_password" in combination.steps:
        assert person.check_password(NEW_PASSWORD)
    if combination.mfa_required:
        assert TOTPDevice.objects.filter(user=person, confirmed=True).count() == 1
