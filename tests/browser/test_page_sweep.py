"""Every page, as every kind of person, on a desktop and a phone, light and dark.

Each page is checked by axe-core (axe-playwright-python ships it): no serious or critical
violation. On the phone width no page scrolls sideways. A screenshot of each (viewport only, a
small JPEG) goes to docs/screenshots/ so a reviewer can look without running anything.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from audit.models import AuditDelivery, AuditWebhook
from support.models import RecoveryRequest
from teams.services.roles import role_create
from teams.tokens import invitation_token_generator
from tests.factories import OperatorFactory, TOTPDeviceFactory, UserFactory
from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Set SCREENSHOTS=0 to run the checks without rewriting the committed pictures.
WRITE_SCREENSHOTS = os.environ.get("SCREENSHOTS", "1") != "0"
BLOCKING_IMPACTS = {"serious", "critical"}


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int


DESKTOP = Viewport("desktop", 1280, 800)
PHONE = Viewport("phone", 390, 844)
VIEWPORTS = [DESKTOP, PHONE]
SCHEMES = ["light", "dark"]

SIGNED_IN_PAGES = [
    ("dashboard", "/"),
    ("two-factor", "/mfa/"),
    ("backup-codes", "/mfa/backup-codes/"),
    ("totp-setup", "/mfa/totp/setup/"),
    ("sessions", "/accounts/sessions/"),
    ("sign-in-history", "/audit/logins/"),
    ("password-change", "/accounts/password/change/"),
    ("sign-out", "/accounts/logout/"),
    ("help", "/help/"),
]
OWNER_PAGES = [
    ("audit-trail", "/audit/"),
    ("access-review", "/access-review/"),
    ("recovery-queue", "/recovery/requests/"),
    ("recovery-request", "/recovery/requests/{recovery}/"),
    ("admin", "/admin/"),
    ("admin-people", "/admin/accounts/user/"),
    ("admin-person-add", "/admin/accounts/user/add/"),
    ("admin-person", "/admin/accounts/user/{technician}/change/"),
    ("admin-person-action", "/admin/accounts/user/{technician}/manage/role/"),
    ("admin-roles", "/admin/teams/role/"),
    ("admin-role", "/admin/teams/role/{role}/change/"),
    ("admin-sessions", "/admin/teams/usersession/"),
    ("admin-access-review", "/admin/reviews/accessreviewentry/"),
    ("admin-recovery", "/admin/support/recoveryrequest/"),
    ("security", "/security/"),
    ("admin-webhook", "/admin/audit/auditwebhook/{webhook}/change/"),
]
OPERATOR_PAGES = [
    ("dashboard", "/"),
    ("audit-trail", "/audit/"),
    ("admin", "/admin/"),
    ("admin-tenants", "/admin/teams/tenant/"),
    ("admin-lock-counters", "/admin/axes/accessattempt/"),
]
VISITOR_PAGES = [
    ("sign-in", "/accounts/login/"),
    ("forgot-password", "/accounts/password/reset/"),
    ("reset-sent", "/accounts/password/reset/sent/"),
    ("cant-sign-in", "/recovery/"),
    ("help", "/help/"),
    ("help-guide", "/help/codes-not-working/"),
    ("set-password", "{set_password}"),
    ("not-found", "/no-such-page/"),
]


@pytest.fixture
def world(tenant, owner, technician, password):
    """A tenant with an owner, a technician, a person with an app, a custom role, an open
    recovery request."""
    helpdesk = role_create(
        tenant=tenant,
        actor=owner,
        values={"name": "Helpdesk", "scopes": ["members:read", "audit:read", "lockout:unlock"]},
    )
    with_app = UserFactory(tenant=tenant, email="app@northwind.example", full_name="Ada App")
    TOTPDeviceFactory(user=with_app)
    invited = UserFactory(tenant=tenant, email="new@northwind.example", full_name="Nia New")
    invited.set_unusable_password()
    invited.save()
    recovery = RecoveryRequest.objects.create(
        tenant=tenant,
        person=technician,
        reason=RecoveryRequest.Reason.LOCKED_OUT,
        note="New phone, locked out after a few tries.",
        ip="198.51.100.7",
    )
    # A webhook whose receiver answers 503: its page says so in words.
    webhook = AuditWebhook.objects.create(
        tenant=tenant, url="https://receiver.example/audit", secret="whsec_" + "A" * 44
    )
    AuditDelivery.objects.create(
        destination=AuditDelivery.Destination.WEBHOOK,
        chain_key=tenant.pk,
        webhook=webhook,
        attempts=6,
        failing_since=timezone.now(),
        failure_kind=AuditDelivery.Failure.ANSWERED,
        failure_status=503,
    )
    uidb64 = urlsafe_base64_encode(force_bytes(invited.pk))
    set_password = f"/accounts/reset/{uidb64}/{invitation_token_generator.make_token(invited)}/"
    operator = OperatorFactory(email="root@platform.example", full_name="Root Operator")
    # Operators always need a second factor; a backup code per sign-in, since the sweep signs
    # in four times within one code's half minute.
    TOTPDeviceFactory(user=operator)
    return {
        "operator_codes": backup_codes_issue(operator),
        "recovery": recovery.pk,
        "technician": technician.pk,
        "role": helpdesk.pk,
        "webhook": webhook.pk,
        "set_password": set_password,
        "with_app": with_app,
        "operator": operator,
    }


def watch_for_errors(page) -> list[str]:
    """Collect what the browser console reports (a script refused by the Content-Security-Policy,
    a script error) and every request that failed (a missing favicon or stylesheet)."""
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            # A failed load is reported below, with its address.
            and not message.text.startswith("Failed to load resource")
            and errors.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            # The not-found page and the lock notice (429) answer with their status on purpose.
            and "/no-such-page/" not in response.url
            and response.status != 429
            and errors.append(f"{response.status} {response.url}")
        ),
    )
    return errors


def check_page(page, *, name: str, viewport: Viewport, scheme: str, axe: Axe) -> list[str]:
    """Run axe and the sideways-scroll check on the page shown; save its screenshot.

    Console errors and failed requests count on the site's own pages. The admin's change forms
    log Django admin's own inline-style writes refused by the Content-Security-Policy; those
    are Django's scripts, not ours, so admin pages are checked by axe and layout only."""
    problems = []
    if "/admin/" not in page.url:
        problems += [f"{name} {viewport.name} {scheme}: {error}" for error in page.errors]
    page.errors.clear()
    results = axe.run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING_IMPACTS:
            targets = [node["target"] for node in violation["nodes"][:3]]
            problems.append(f"{name} {viewport.name} {scheme}: {violation['id']} {targets}")
    if viewport is PHONE:
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            problems.append(f"{name} {scheme}: scrolls sideways by {overflow}px on a phone")
    if WRITE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=SCREENSHOTS / f"{name}-{viewport.name}-{scheme}.jpg",
            type="jpeg",
            quality=45,
        )
    return problems


# Pages a visit is sent to instead of the one asked for: a sign-in step not done, or a link
# refused. A sweep that lands there would check and photograph the wrong page.
DETOURS = ("/accounts/login/", "/mfa/verify/", "/mfa/totp/setup/", "/mfa/passkeys/add/")
# What a page shows when it is the page asked for, where the address alone can't tell.
HEADINGS = {"visitor-set-password": "Choose a password"}


def landed_where_asked(page, *, name: str, path: str) -> list[str]:
    landed = urlparse(page.url).path
    if landed != urlparse(path).path and landed.startswith(DETOURS):
        return [f"{name}: asked for {path}, shown {landed}"]
    heading = HEADINGS.get(name)
    if heading and not page.get_by_role("heading", name=heading).is_visible():
        return [f"{name}: no heading {heading!r} on {landed}"]
    return []


def visit_all(browser, live_server, pages, *, who: str, sign_in=None) -> list[str]:
    axe = Axe()
    problems = []
    for viewport in VIEWPORTS:
        for scheme in SCHEMES:
            context = browser.new_context(
                base_url=live_server.url,
                viewport={"width": viewport.width, "height": viewport.height},
                color_scheme=scheme,
                locale="en-GB",
                timezone_id="Europe/London",
            )
            context.set_default_timeout(10_000)
            try:
                page = context.new_page()
                page.errors = watch_for_errors(page)
                if sign_in is not None:
                    sign_in(page)
                for name, path in pages:
                    page.goto(path)
                    problems += landed_where_asked(page, name=f"{who}-{name}", path=path)
                    problems += check_page(
                        page, name=f"{who}-{name}", viewport=viewport, scheme=scheme, axe=axe
                    )
            finally:
                context.close()
    return problems


def test_signed_out_visitor_pages(browser, live_server, world):
    pages = [(name, path.format(**world)) for name, path in VISITOR_PAGES]

    problems = visit_all(browser, live_server, pages, who="visitor")

    assert not problems, "\n".join(problems)


def test_pages_in_the_middle_of_a_sign_in(browser, live_server, world, password, settings):
    """The second step (after the password) and the lock notice (after too many failures)."""
    axe = Axe()
    problems = []
    for viewport in VIEWPORTS:
        for scheme in SCHEMES:
            context = browser.new_context(
                base_url=live_server.url,
                viewport={"width": viewport.width, "height": viewport.height},
                color_scheme=scheme,
            )
            try:
                page = context.new_page()
                page.errors = watch_for_errors(page)
                sign_in_on_page(page, world["with_app"].email, password)
                expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
                problems += check_page(
                    page, name="visitor-second-step", viewport=viewport, scheme=scheme, axe=axe
                )
                page.goto("/mfa/verify/?code=backup")
                problems += check_page(
                    page, name="visitor-backup-code", viewport=viewport, scheme=scheme, axe=axe
                )
                page.get_by_role("button", name="Not you? Sign out").click()
                for _ in range(settings.LOCKOUT_FAILURES):
                    sign_in_on_page(page, f"locked-{viewport.name}-{scheme}@example.com", "wrong")
                expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
                problems += check_page(
                    page, name="visitor-locked", viewport=viewport, scheme=scheme, axe=axe
                )
            finally:
                context.close()

    assert not problems, "\n".join(problems)


def test_technician_pages(browser, live_server, world, technician, password):
    problems = visit_all(
        browser,
        live_server,
        SIGNED_IN_PAGES,
        who="technician",
        sign_in=lambda page: sign_in_on_page(page, technician.email, password),
    )

    assert not problems, "\n".join(problems)


def test_owner_pages_site_and_admin(browser, live_server, world, owner, password):
    pages = [(name, path.format(**world)) for name, path in SIGNED_IN_PAGES[:1] + OWNER_PAGES]

    problems = visit_all(
        browser,
        live_server,
        pages,
        who="owner",
        sign_in=lambda page: sign_in_on_page(page, owner.email, password),
    )

    assert not problems, "\n".join(problems)


def test_operator_pages(browser, live_server, world, password):
    operator, codes = world["operator"], world["operator_codes"]

    def sign_in(page) -> None:
        sign_in_on_page(page, operator.email, password)
        page.get_by_label("Code from your app").fill(codes.pop())
        page.get_by_role("button", name="Verify").click()

    problems = visit_all(browser, live_server, OPERATOR_PAGES, who="operator", sign_in=sign_in)

    assert not problems, "\n".join(problems)
