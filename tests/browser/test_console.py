"""The owner's console, as an owner clicks through it: the dashboard's to-dos and the link that
fixes one, "all is well" once nothing is left, the Security page saved, and a webhook made
(its secret shown once, copied) and sent a test event. Each page is checked by axe (no
serious or critical violation) at 1280 and 390 px, light and dark, and in Spanish; its
screenshots go to docs/screenshots/console-*.png when SAVE_SCREENSHOTS=1."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from audit.models import AuditDelivery, AuditWebhook
from support.models import RecoveryRequest
from teams import scopes
from teams.models import Role
from tests.audit.shipping_receivers import WebhookReceiver
from tests.factories import UserFactory
from tests.signing_in import sign_in_attempt, sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
SHAPES = [("desktop", 1280, 800), ("phone", 390, 844)]
SCHEMES = ["light", "dark"]


def troubles(tenant) -> User:
    """A locked-out technician without the factor their role requires, asking for help; an
    invitation about to lapse; a breached password; a failing webhook."""
    technician = UserFactory(
        tenant=tenant, builtin=scopes.TECHNICIAN, email="tech@northwind.example"
    )
    Role.objects.filter(tenant=tenant, name=scopes.TECHNICIAN.name).update(require_mfa=True)
    from django.test import Client

    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(Client(), technician.email, "not-the-password")
    RecoveryRequest.objects.create(
        tenant=tenant, person=technician, reason=RecoveryRequest.Reason.LOCKED_OUT
    )
    invitee = UserFactory(tenant=tenant, email="new@northwind.example", full_name="Nia New")
    User.objects.filter(pk=invitee.pk).update(
        password="!unusable",
        password_changed_at=None,
        invitation_sent_at=timezone.now() - timedelta(days=2, hours=6),
    )
    breached = UserFactory(tenant=tenant, email="leaky@northwind.example")
    User.objects.filter(pk=breached.pk).update(password_breached_at=timezone.now())
    return technician


class Shots:
    """Screenshots (to docs/ or a temporary folder) and axe's serious or critical findings."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
        self.axe = Axe()
        self.problems: list[str] = []

    def take(self, page, name: str) -> None:
        """Check and photograph `page` at each width and scheme, then in Spanish."""
        for shape, width, height in SHAPES:
            page.set_viewport_size({"width": width, "height": height})
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme)
                self.check(page, f"{name}-{shape}-{scheme}")
                page.screenshot(
                    path=str(self.folder / f"{name}-{shape}-{scheme}.png"), full_page=True
                )
        page.set_viewport_size({"width": 1280, "height": 800})
        page.emulate_media(color_scheme="light")

    def take_spanish(self, page, name: str) -> None:
        for shape, width, height in SHAPES:
            page.set_viewport_size({"width": width, "height": height})
            self.check(page, f"{name}-es-{shape}")
            page.screenshot(path=str(self.folder / f"{name}-es-{shape}-light.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})

    def check(self, page, label: str) -> None:
        # The admin's links fade between colours (Django's `transition`): axe must see where
        # they end, not a colour halfway through a switch of scheme.
        page.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")
        for violation in self.axe.run(page).response["violations"]:
            if violation["impact"] in {"serious", "critical"}:
                self.problems.append(
                    f"{label}: {violation['id']} {violation['nodes'][0]['target']}"
                )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            self.problems.append(f"{label}: scrolls sideways by {overflow}px")


def spanish(page, live_server, on: bool) -> None:
    page.context.add_cookies(
        [
            {
                "name": settings.LANGUAGE_COOKIE_NAME,
                "value": "es" if on else "en",
                "url": live_server.url,
            }
        ]
    )


def test_an_owner_works_through_the_console(
    new_page, live_server, owner, tenant, password, tmp_path, settings
):
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = True
    settings.AUDIT_SHIPPING_TIMEOUT = 2.0
    technician = troubles(tenant)
    shots = Shots(tmp_path)
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in_on_page(page, owner.email, password)

    # The dashboard opens on what needs doing; each to-do leads to the place that fixes it.
    todos = page.get_by_role("region", name="What needs doing")
    expect(todos.get_by_text("1 person locked out")).to_be_visible()
    expect(todos.get_by_text("1 recovery request waiting")).to_be_visible()
    expect(todos.get_by_text("1 invitation lapsing within 2 days or lapsed")).to_be_visible()
    expect(todos.get_by_text("password was found in a data breach")).to_be_visible()
    shots.take(page, "console-dashboard-todos")
    spanish(page, live_server, True)
    page.reload()
    expect(page.get_by_role("heading", name="Qué hay que hacer")).to_be_visible()
    shots.take_spanish(page, "console-dashboard-todos")
    spanish(page, live_server, False)
    page.goto("/")
    todos.get_by_role("link", name="See who is locked").click()
    expect(page.get_by_role("link", name=technician.email)).to_be_visible()

    # The Security page: the list not enforced, the owner's address allowed (no entry
    # applies to anyone yet); a change saved.
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    expect(page.get_by_text("Not enforced")).to_be_visible()
    expect(
        page.get_by_text("Your current address (127.0.0.1) is allowed by the list.")
    ).to_be_visible()
    shots.take(page, "console-security")
    page.get_by_label("Idle timeout (minutes)").fill("20")
    page.get_by_role("button", name="Save the security settings").click()
    expect(page.get_by_text("The security settings were saved.")).to_be_visible()
    expect(page.get_by_label("Idle timeout (minutes)")).to_have_value("20")
    spanish(page, live_server, True)
    page.reload()
    expect(page.get_by_role("heading", name="Seguridad", exact=True)).to_be_visible()
    shots.take_spanish(page, "console-security")
    spanish(page, live_server, False)

    # A webhook: the secret shown once, copied with the button; a test event sent.
    receiver = WebhookReceiver()
    receiver.start()
    try:
        page.goto("/admin/audit/auditwebhook/add/")
        page.get_by_label("Address").fill(receiver.url)
        page.get_by_role("button", name="Save", exact=True).click()
        secret = page.locator("code.secret-value").inner_text()
        assert secret == AuditWebhook.objects.get().secret
        page.get_by_role("button", name="Copy the secret").click()
        expect(page.get_by_text("Copied.")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == secret
        receiver.secret = secret
        shots.take(page, "console-webhook-secret")
        page.get_by_role("link", name="I have copied it: go to the webhook").click()
        # The "webhook set" event went out at once, before the receiver knew the secret.
        expect(page.locator(".webhook-delivery")).to_contain_text(
            "— 1 try — the receiver answered 400"
        )
        page.get_by_role("button", name="Send a test event").click()
        expect(page.get_by_text("A test event was sent.")).to_be_visible()
        expect(page.get_by_text("reached the receiver.")).to_be_visible()
        assert "AUDIT_WEBHOOK_TEST_SENT" in [item["type"] for item in receiver.received]
        shots.take(page, "console-webhook")
        spanish(page, live_server, True)
        page.reload()
        expect(page.get_by_role("button", name="Enviar un evento de prueba")).to_be_visible()
        shots.take_spanish(page, "console-webhook")
        spanish(page, live_server, False)
    finally:
        receiver.stop()

    # Everything fixed: the dashboard says all is well.
    for person in User.objects.filter(tenant=tenant).exclude(pk=owner.pk):
        person.delete()
    AuditDelivery.objects.filter(webhook__isnull=False).update(attempts=0, failing_since=None)
    page.goto("/")
    expect(page.get_by_text("All is well")).to_be_visible()
    shots.take(page, "console-dashboard-empty")
    spanish(page, live_server, True)
    page.reload()
    expect(page.get_by_text("Todo en orden")).to_be_visible()
    shots.take_spanish(page, "console-dashboard-empty")

    assert not shots.problems, "\n".join(shots.problems)
