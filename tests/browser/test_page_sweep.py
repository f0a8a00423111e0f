"""Every page, as every kind of person, on a desktop and a phone, light and dark.

Each page is checked by axe-core (axe-playwright-python ships it): no serious or critical
violation. On the phone width no page scrolls sideways. A screenshot of each (viewport only, a
small JPEG) goes to docs/screenshots/ so a reviewer can look without running anything.
"""

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.contrib import admin
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from audit.models import AuditDelivery, AuditWebhook
from audit.webhooks import audit_webhook_set
from sso.models import IdentityProvider, ProviderIdentity
from sso.services import domain_claim, provider_save
from support.models import RecoveryRequest
from teams.models import AccessListEntry, AccessListException
from teams.services.access_list import access_list_entry_save, access_list_exception_save
from teams.services.roles import role_create
from teams.tokens import invitation_token_generator
from tests.factories import OperatorFactory, TOTPDeviceFactory, UserFactory
from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import fail_sign_in, sign_in, sign_in_on_page

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
# The browser's language picks the site's (Accept-Language); "en-GB" and "es-ES" ask for each.
LANGUAGES = {"en": "en-GB", "es": "es-ES"}

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
    ("admin-person-action", "/admin/accounts/user/{technician}/manage/role/"),
    ("security", "/security/"),
]
OPERATOR_PAGES = [
    ("dashboard", "/"),
    ("audit-trail", "/audit/"),
]
# The admin's pages are found, not listed (`admin_pages`): every registered model's list, add
# and change page the viewer may open. These keep the names their screenshots had before.
ADMIN_PAGE_NAMES = {
    "/admin/": "admin",
    "/admin/accounts/user/": "admin-people",
    "/admin/accounts/user/add/": "admin-person-add",
    "/admin/accounts/user/change/": "admin-person",
    "/admin/teams/role/": "admin-roles",
    "/admin/teams/role/change/": "admin-role",
    "/admin/teams/usersession/": "admin-sessions",
    "/admin/reviews/accessreviewentry/": "admin-access-review",
    "/admin/support/recoveryrequest/": "admin-recovery",
    "/admin/teams/tenant/": "admin-tenants",
    "/admin/axes/accessattempt/": "admin-lock-counters",
}
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
def world(tenant, owner, technician, password, settings):
    """A tenant with an owner, a technician, a person with an app, a custom role, an open
    recovery request, and a row of every model the admin lists: an access list entry and
    exception, an audit webhook, a single sign-on provider with a claimed domain and a linked
    identity, a session and a lock counter."""
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
    access_list_entry_save(
        entry=AccessListEntry(tenant=tenant, network="198.51.100.0/24", label="Office"),
        roles=[helpdesk],
        actor=owner,
    )
    access_list_exception_save(
        exception=AccessListException(
            tenant=tenant,
            user=with_app,
            expires_at=timezone.now() + timedelta(days=3),
            reason="Travelling this week",
        ),
        actor=owner,
    )
    # Addresses that are never asked: nothing is shipped or fetched while the sweep runs.
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = True
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    audit_webhook_set(actor=owner, tenant=tenant, url="https://hooks.northwind.example/audit")
    # The webhook's receiver answers 503: its page says so in words.
    AuditDelivery.objects.update_or_create(
        destination=AuditDelivery.Destination.WEBHOOK,
        chain_key=tenant.pk,
        webhook=AuditWebhook.objects.get(tenant=tenant),
        defaults={
            "attempts": 6,
            "failing_since": timezone.now(),
            "failure_kind": AuditDelivery.Failure.ANSWERED,
            "failure_status": 503,
        },
    )
    provider_save(
        provider=IdentityProvider(
            tenant=tenant,
            kind=IdentityProvider.Kind.OIDC,
            discovery_url="https://idp.northwind.example/.well-known/openid-configuration",
            client_id="northwind-client",
        ),
        client_secret="northwind-client-secret",
        break_glass=[owner],
        actor=owner,
    )
    domain_claim(tenant=tenant, domain="northwind.example")
    ProviderIdentity.objects.create(
        tenant=tenant,
        user=with_app,
        issuer="https://idp.northwind.example",
        subject="ada-subject",
        email_at_link=with_app.email,
    )
    fail_sign_in(Client(), invited.email, REMOTE_ADDR="198.51.100.7")
    sign_in(Client(), technician, REMOTE_ADDR="198.51.100.7")
    uidb64 = urlsafe_base64_encode(force_bytes(invited.pk))
    set_password = f"/accounts/reset/{uidb64}/{invitation_token_generator.make_token(invited)}/"
    # Operators always have an app (the factory adds one); the browser signs in with a backup
    # code each time, since the sweep signs in several times within one code's half minute.
    operator = OperatorFactory(email="root@platform.example", full_name="Root Operator")
    return {
        "operator_codes": backup_codes_issue(operator),
        "recovery": recovery.pk,
        "technician": technician.pk,
        "role": helpdesk.pk,
        "set_password": set_password,
        "with_app": with_app,
        "operator": operator,
        "owner_admin": admin_pages(owner),
        "operator_admin": admin_pages(operator),
    }


def admin_pages(person) -> list[tuple[str, str]]:
    """Every admin page `person` may open: the index, and each registered model's list, add
    page and change page (of the first row listed). Found from the admin's registry, so a new
    model is swept without anyone listing it here."""
    client = sign_in(Client(), person)
    pages = [("admin", "/admin/")]
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        listed = client.get(base)
        if listed.status_code != 200:
            continue
        default = f"admin-{model._meta.model_name}"
        pages.append((ADMIN_PAGE_NAMES.get(base, default), base))
        if client.get(f"{base}add/").status_code == 200:
            pages.append((ADMIN_PAGE_NAMES.get(f"{base}add/", f"{default}-add"), f"{base}add/"))
        first = model_admin.get_queryset(listed.wsgi_request).order_by("pk").first()
        if first is not None:
            name = ADMIN_PAGE_NAMES.get(f"{base}change/", f"{default}-change")
            pages.append((name, f"{base}{first.pk}/change/"))
    return pages


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


def check_page(
    page, *, name: str, viewport: Viewport, scheme: str, axe: Axe, language: str = "en"
) -> list[str]:
    """Run axe and the sideways-scroll check on the page shown; save its screenshot.

    Console errors and failed requests count on the site's own pages. The admin's change forms
    log Django admin's own inline-style writes refused by the Content-Security-Policy; those
    are Django's scripts, not ours, so admin pages are checked by axe and layout only."""
    problems = []
    where = f"{name} {viewport.name} {scheme} {language}"
    if "/admin/" not in page.url:
        problems += [f"{where}: {error}" for error in page.errors]
    page.errors.clear()
    results = axe.run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING_IMPACTS:
            targets = [node["target"] for node in violation["nodes"][:3]]
            problems.append(f"{where}: {violation['id']} {targets}")
    if viewport is PHONE:
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            problems.append(f"{where}: scrolls sideways by {overflow}px on a phone")
    if viewport is DESKTOP:
        problems += navigation_on_one_line(page, where=where)
    # Spanish pictures at one width and scheme: the layout is the English one's, in other words.
    if WRITE_SCREENSHOTS and (language == "en" or (viewport is DESKTOP and scheme == "light")):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        suffix = "" if language == "en" else f"-{language}"
        page.screenshot(
            path=SCREENSHOTS / f"{name}{suffix}-{viewport.name}-{scheme}.jpg",
            type="jpeg",
            quality=45,
        )
    return problems


# The top navigation on a desktop: the site's links, or the admin's header (its name beside its
# links). Each must stay one row high in every language.
ONE_LINE_CHECK = """() => {
    const box = (selector) => document.querySelector(selector)?.getBoundingClientRect();
    const branding = box('#header > #branding'), tools = box('#header > #user-tools');
    if (branding && tools) {
        const lineHeight = parseFloat(getComputedStyle(document.querySelector('#user-tools'))
            .fontSize) * 1.8;
        return tools.top >= branding.bottom - 1 || tools.height > lineHeight;
    }
    const items = [...document.querySelectorAll('.site-nav li')]
        .map((item) => item.getBoundingClientRect());
    return items.some((item) => item.top >= items[0].bottom - 1);
}"""


def navigation_on_one_line(page, *, where: str) -> list[str]:
    if page.evaluate(ONE_LINE_CHECK):
        return [f"{where}: the top navigation wraps to a second line"]
    return []


# Pages a visit is sent to instead of the one asked for: a sign-in step not done, or a link
# refused. A sweep that lands there would check and photograph the wrong page.
DETOURS = ("/accounts/login/", "/mfa/verify/", "/mfa/totp/setup/", "/mfa/passkeys/add/")
# What a page shows when it is the page asked for, where the address alone can't tell.
HEADINGS = {"visitor-set-password": "Choose a password"}


def landed_where_asked(page, *, name: str, path: str, language: str) -> list[str]:
    landed = urlparse(page.url).path
    if landed != urlparse(path).path and landed.startswith(DETOURS):
        return [f"{name}: asked for {path}, shown {landed}"]
    heading = HEADINGS.get(name) if language == "en" else None
    if heading and not page.get_by_role("heading", name=heading).is_visible():
        return [f"{name}: no heading {heading!r} on {landed}"]
    return []


def speak(context, live_server, language: str) -> None:
    """Switch the browser's language with the cookie the footer's switcher sets (it outranks
    Accept-Language), so one sign-in serves both languages."""
    context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    )


# Which pages are visited in which width, scheme and language. Every page is visited in English
# at every width and scheme, and in Spanish at one of them, turn by turn (page i at combination
# i % 4): each page is seen in both languages, and each combination in Spanish across every four
# pages. The admin's found pages (about seventy) would take minutes more that way, so each is
# visited twice: in English at combination i % 4, and in Spanish at the opposite width and
# scheme. Each admin page is then seen at both widths, in both schemes and both languages, and
# every width × scheme × language across every four pages.
COMBINATIONS = [(viewport, scheme) for viewport in VIEWPORTS for scheme in SCHEMES]


def visited(index: int, *, viewport, scheme: str, language: str, rotated: bool) -> bool:
    turn = COMBINATIONS[index % len(COMBINATIONS)]
    if not rotated:
        return language == "en" or (viewport, scheme) == turn
    if language == "en":
        return (viewport, scheme) == turn
    opposite = (PHONE if turn[0] is DESKTOP else DESKTOP, "dark" if turn[1] == "light" else "light")
    return (viewport, scheme) == opposite


def visit_all(browser, live_server, pages, *, who: str, sign_in=None, admin_pages=()) -> list[str]:
    """Each page in the widths, schemes and languages `visited` gives it: signed in once per
    width and scheme, then swept in English and in Spanish (the language cookie)."""
    axe = Axe()
    problems = []
    swept = [(page, False) for page in pages] + [(page, True) for page in admin_pages]
    for viewport, scheme in COMBINATIONS:
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": viewport.width, "height": viewport.height},
            color_scheme=scheme,
            locale=LANGUAGES["en"],
            timezone_id="Europe/London",
        )
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            page.errors = watch_for_errors(page)
            if sign_in is not None:
                sign_in(page)
            for language in LANGUAGES:
                speak(context, live_server, language)
                for index, ((name, path), rotated) in enumerate(swept):
                    if not visited(
                        index, viewport=viewport, scheme=scheme, language=language, rotated=rotated
                    ):
                        continue
                    # What the page before reports late (an admin page's, not checked) is not
                    # this page's.
                    page.errors.clear()
                    page.goto(path)
                    problems += landed_where_asked(
                        page, name=f"{who}-{name}", path=path, language=language
                    )
                    problems += check_page(
                        page,
                        name=f"{who}-{name}",
                        viewport=viewport,
                        scheme=scheme,
                        language=language,
                        axe=axe,
                    )
        finally:
            context.close()
    return problems


def test_signed_out_visitor_pages(browser, live_server, world):
    pages = [(name, path.format(**world)) for name, path in VISITOR_PAGES]

    problems = visit_all(browser, live_server, pages, who="visitor")

    assert not problems, "\n".join(problems)


BACKUP = "/mfa/verify/?code=backup"


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
                page.goto(BACKUP)
                problems += check_page(
                    page, name="visitor-backup-code", viewport=viewport, scheme=scheme, axe=axe
                )
                speak(context, live_server, "es")
                for name, path in (("second-step", "/mfa/verify/"), ("backup-code", BACKUP)):
                    page.goto(path)
                    problems += check_page(
                        page,
                        name=f"visitor-{name}",
                        viewport=viewport,
                        scheme=scheme,
                        language="es",
                        axe=axe,
                    )
                speak(context, live_server, "en")
                page.goto("/mfa/verify/")
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
        admin_pages=world["owner_admin"],
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

    problems = visit_all(
        browser,
        live_server,
        OPERATOR_PAGES,
        admin_pages=world["operator_admin"],
        who="operator",
        sign_in=sign_in,
    )

    assert not problems, "\n".join(problems)
