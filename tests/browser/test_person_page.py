"""The person page, clicked through as an owner: two actions confirmed and done, axe clean at
each step, and its pictures at 1280 and 390 px, light and dark, in English and Spanish."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import RememberedBrowser, UserSession
from tests.factories import TOTPDeviceFactory
from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
BLOCKING_IMPACTS = {"serious", "critical"}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
WORDS = {
    "en": {"locale": "en-GB", "email": "Email", "password": "Password", "sign_in": "Sign in"},
    "es": {
        "locale": "es-ES",
        "email": "Correo electrónico",
        "password": "Contraseña",
        "sign_in": "Iniciar sesión",
    },
}


def axe_problems(page, axe: Axe, name: str) -> list[str]:
    results = axe.run(page)
    return [
        f"{name}: {violation['id']} {[node['target'] for node in violation['nodes'][:3]]}"
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


@pytest.fixture
def technician_with_everything(tenant, technician):
    """A technician signed in twice, with a remembered browser, an app and backup codes."""
    tenant.remember_browser_days = 30
    tenant.save(update_fields=["remember_browser_days"])
    sign_in(Client(), technician, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT=FIREFOX)
    sign_in(Client(), technician, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=FIREFOX)
    now = timezone.now()
    RememberedBrowser.objects.create(
        tenant=tenant,
        user=technician,
        token_hash="c" * 64,
        user_agent=FIREFOX,
        created_at=now,
        expires_at=now + timedelta(days=30),
    )
    TOTPDeviceFactory(user=technician)
    backup_codes_issue(technician)
    return technician


def open_as_owner(browser, live_server, owner, password, *, language, width, height, scheme):
    words = WORDS[language]
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": height},
        color_scheme=scheme,
        locale=words["locale"],
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label(words["email"]).fill(owner.email)
    page.get_by_label(words["password"]).fill(password)
    page.get_by_role("button", name=words["sign_in"], exact=True).click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))
    return context, page


def test_an_owner_ends_sessions_and_deactivates_from_the_person_page(
    browser, live_server, owner, password, technician_with_everything
):
    person = technician_with_everything
    axe = Axe()
    problems = []
    context, page = open_as_owner(
        browser, live_server, owner, password, language="en", width=1280, height=900, scheme="light"
    )
    try:
        page.goto("/admin/accounts/user/")
        page.get_by_role("link", name=person.email).click()
        expect(page.get_by_role("heading", name="Status")).to_be_visible()
        expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        expect(page.get_by_text("198.51.100.7").first).to_be_visible()
        expect(page.get_by_role("heading", name="Last sign-ins")).to_be_visible()
        expect(page.get_by_role("cell", name="Password only", exact=True).first).to_be_visible()
        problems += axe_problems(page, axe, "person page")

        page.get_by_role("link", name="End all sessions").click()
        expect(page.get_by_text(f"End every session of {person.email}?")).to_be_visible()
        problems += axe_problems(page, axe, "confirmation")
        page.get_by_role("button", name="Yes, end all sessions").click()
        expect(page.get_by_text(f"Ended 2 sessions of {person.email}.")).to_be_visible()
        assert not UserSession.objects.filter(user=person).exists()
        problems += axe_problems(page, axe, "person page after an action")

        page.get_by_role("link", name="Deactivate").click()
        page.get_by_role("button", name="Yes, deactivate").click()
        expect(page.get_by_text(f"Deactivated {person.email}")).to_be_visible()
        expect(page.locator(".person-status")).to_contain_text("Deactivated")
        expect(page.get_by_role("link", name="Reactivate")).to_be_visible()
        assert not User.objects.get(pk=person.pk).is_active
        assert AuditEvent.objects.filter(
            event=AuditEventType.PERSON_DEACTIVATED, target=person, actor=owner
        ).exists()
    finally:
        context.close()

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_person_page_on_a_desktop_and_a_phone_light_and_dark(
    browser, live_server, owner, password, technician_with_everything, language
):
    axe = Axe()
    problems = []
    for width, height in ((1280, 900), (390, 844)):
        for scheme in ("light", "dark"):
            context, page = open_as_owner(
                browser,
                live_server,
                owner,
                password,
                language=language,
                width=width,
                height=height,
                scheme=scheme,
            )
            try:
                page.goto(f"/admin/accounts/user/{technician_with_everything.pk}/change/")
                expect(page.locator(".person-status")).to_be_visible()
                name = f"person page {language} {width} {scheme}"
                problems += axe_problems(page, axe, name)
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                if overflow > 0:
                    problems.append(f"{name}: scrolls sideways by {overflow}px")
                suffix = "" if language == "en" else f"-{language}"
                page.screenshot(
                    path=SCREENSHOTS / f"person-page-{width}-{scheme}{suffix}.png", full_page=True
                )
            finally:
                context.close()

    assert not problems, "\n".join(problems)
