"""Passkeys in Chromium, with a virtual authenticator through Playwright's CDP session.

The authenticator is Chromium's own (WebAuthn.addVirtualAuthenticator): a platform
authenticator with resident keys and user verification, as a phone or laptop has. The site is
served and named as `localhost`, a secure context and a valid RP id (127.0.0.1 is not one).
Screenshots of the passkey pages, at desktop and phone widths, are written to
docs/screenshots/ when SAVE_SCREENSHOTS=1.
"""

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from playwright.sync_api import expect

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from tests.factories import UserFactory
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIGNED_IN = "Your account"

# The answer to navigator.credentials.get() for the options in the page's json_script block,
# asked for with no allowCredentials: the authenticator then uses whatever passkey it holds for
# the site, the way an attacker's own script would. Returns the answer's JSON for the form.
ASSERT_WITH_ANY_PASSKEY = """
async (blockId) => {
  const b64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const unb64 = (text) => Uint8Array.from(
    atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
  const json = JSON.parse(document.getElementById(blockId).textContent);
  const credential = await navigator.credentials.get({publicKey: {
    challenge: unb64(json.challenge), rpId: json.rpId, userVerification: "preferred"}});
  const r = credential.response;
  return JSON.stringify({id: credential.id, rawId: b64(credential.rawId), type: credential.type,
    clientExtensionResults: {}, response: {clientDataJSON: b64(r.clientDataJSON),
    authenticatorData: b64(r.authenticatorData), signature: b64(r.signature),
    userHandle: r.userHandle ? b64(r.userHandle) : null}});
}
"""


@pytest.fixture(autouse=True)
def site_is_the_live_server(settings, live_server):
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.SITE_URL = live_server.url


def virtual_authenticator(page) -> tuple:
    """A platform authenticator in this page's browser context: resident keys, verifies its
    holder, touches itself. Returns the CDP session and the authenticator's id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def credentials_of(cdp, authenticator_id) -> list[dict]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def copy_credentials(source: tuple, target: tuple) -> None:
    """Put the source authenticator's passkeys into the target one: the same passkey, synced to
    another device (or stolen)."""
    for credential in credentials_of(*source):
        target[0].send(
            "WebAuthn.addCredential", {"authenticatorId": target[1], "credential": credential}
        )


def screenshot(page, name: str, tmp_path: Path) -> None:
    to_docs = os.environ.get("SAVE_SCREENSHOTS") == "1"
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = (SCREENSHOTS if to_docs else tmp_path) / f"passkey-{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.read_bytes().startswith(b"\x89PNG")
    page.set_viewport_size(DESKTOP)


def register_passkey(page, name: str = "Work laptop", tmp_path: Path | None = None) -> None:
    page.goto("/mfa/")
    page.get_by_role("link", name="Add a passkey").click()
    expect(page.get_by_role("heading", name="Add a passkey")).to_be_visible()
    if tmp_path is not None:
        screenshot(page, "add", tmp_path)
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create passkey").click()
    expect(page.get_by_text("Your passkey is added.")).to_be_visible()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").first.click()


def test_person_registers_a_passkey_then_uses_it_as_the_second_step(
    page, technician, password, tmp_path
):
    authenticator = virtual_authenticator(page)
    sign_in_on_page(page, technician.email, password)
    expect(page.get_by_role("heading", name=SIGNED_IN)).to_be_visible()

    register_passkey(page, tmp_path=tmp_path)

    expect(page.get_by_role("list", name="Your passkeys")).to_contain_text("Work laptop")
    screenshot(page, "overview", tmp_path)
    (credential,) = credentials_of(*authenticator)
    assert credential["isResidentCredential"]
    passkey = PasskeyDevice.objects.get(user=technician)
    assert passkey.credential_id == credential["credentialId"].rstrip("=").replace(
        "+", "-"
    ).replace("/", "_")
    sign_out(page)

    sign_in_on_page(page, technician.email, password)
    expect(page.get_by_role("heading", name="Use your passkey")).to_be_visible()
    screenshot(page, "second-step", tmp_path)
    page.get_by_role("button", name="Use your passkey").click()

    expect(page.get_by_role("heading", name=SIGNED_IN)).to_be_visible()
    signed_in = AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED).order_by("pk")
    assert signed_in.last().details == {"door": "password", "second_factor": "passkey"}
    page.goto(f"/mfa/passkeys/{passkey.pk}/rename/")
    screenshot(page, "rename", tmp_path)


def test_person_signs_in_with_the_passkey_alone(new_page, technician, password, tmp_path):
    technician.tenant.passwordless_sign_in = True
    technician.tenant.save()
    phone = new_page()
    phone_authenticator = virtual_authenticator(phone)
    sign_in_on_page(phone, technician.email, password)
    register_passkey(phone)
    laptop = new_page()
    laptop_authenticator = virtual_authenticator(laptop)
    copy_credentials(phone_authenticator, laptop_authenticator)

    laptop.goto("/accounts/login/?next=/audit/logins/")
    screenshot(laptop, "sign-in", tmp_path)
    laptop.get_by_role("button", name="Use a passkey").click()

    expect(laptop.get_by_role("heading", name="Sign-in history")).to_be_visible()
    laptop.goto("/")
    expect(laptop.get_by_role("heading", name=SIGNED_IN)).to_be_visible()
    assert AuditEvent.objects.filter(event=AuditEventType.PASSKEY_SIGN_IN_PASSED).count() == 1


def test_email_field_autofill_offers_the_passkey_where_the_tenant_allows_it(
    new_page, technician, password
):
    """Conditional mediation: Chromium's virtual authenticator picks the passkey from the
    email field's autofill by itself, as a person would choose it from the list."""
    technician.tenant.passwordless_sign_in = True
    technician.tenant.save()
    page = new_page()
    virtual_authenticator(page)
    sign_in_on_page(page, technician.email, password)
    register_passkey(page)

    sign_out(page)  # which lands on the sign-in page

    expect(page.get_by_role("heading", name=SIGNED_IN)).to_be_visible()
    assert AuditEvent.objects.filter(event=AuditEventType.PASSKEY_SIGN_IN_PASSED).count() == 1


def test_passkey_alone_is_refused_where_the_tenant_does_not_allow_it(
    new_page, technician, password, other_tenant
):
    """The button shows on a browser that signed in nowhere yet while some tenant allows a
    passkey alone; this person's tenant doesn't, so it is refused."""
    other_tenant.passwordless_sign_in = True
    other_tenant.save()
    phone = new_page()
    phone_authenticator = virtual_authenticator(phone)
    sign_in_on_page(phone, technician.email, password)
    register_passkey(phone)
    laptop = new_page()
    copy_credentials(phone_authenticator, virtual_authenticator(laptop))

    laptop.goto("/accounts/login/")
    laptop.get_by_role("button", name="Use a passkey").click()

    expect(laptop.get_by_text("allow signing in with a passkey alone")).to_be_visible()
    laptop.goto("/")
    expect(laptop.get_by_role("heading", name="Sign in")).to_be_visible()


def test_another_persons_passkey_is_refused_at_the_second_step(
    new_page, technician, password, tenant
):
    colleague = UserFactory(tenant=tenant)
    colleague_page = new_page()
    colleague_authenticator = virtual_authenticator(colleague_page)
    sign_in_on_page(colleague_page, colleague.email, password)
    register_passkey(colleague_page, name="Colleague's phone")
    own_page = new_page()
    own_authenticator = virtual_authenticator(own_page)
    sign_in_on_page(own_page, technician.email, password)
    register_passkey(own_page)
    sign_out(own_page)
    attacker = new_page()
    copy_credentials(colleague_authenticator, virtual_authenticator(attacker))
    sign_in_on_page(attacker, technician.email, password)
    expect(attacker.get_by_role("heading", name="Use your passkey")).to_be_visible()

    forged = attacker.evaluate(ASSERT_WITH_ANY_PASSKEY, "passkey-second-step-options")
    attacker.locator("form[data-passkey-form=verify] input[name=credential]").evaluate(
        "(input, value) => { input.value = value; input.form.submit(); }", forged
    )

    expect(attacker.get_by_text("That passkey didn")).to_be_visible()
    attacker.goto("/")
    expect(attacker.get_by_role("heading", name="Use your passkey")).to_be_visible()
    refused = AuditEvent.objects.get(event=AuditEventType.PASSKEY_REFUSED)
    assert refused.target == technician
    assert own_authenticator  # the person's own passkey stayed on their own device


def test_replayed_assertion_is_refused(new_page, technician, password):
    page = new_page()
    authenticator = virtual_authenticator(page)
    sign_in_on_page(page, technician.email, password)
    register_passkey(page)
    sign_out(page)
    sign_in_on_page(page, technician.email, password)
    with page.expect_request(re.compile(r"/mfa/passkeys/verify/$")) as sent:
        page.get_by_role("button", name="Use your passkey").click()
    expect(page.get_by_role("heading", name=SIGNED_IN)).to_be_visible()
    captured = sent.value.post_data_json["credential"]
    assert authenticator

    replayer = new_page()
    sign_in_on_page(replayer, technician.email, password)
    replayer.locator("form[data-passkey-form=verify] input[name=credential]").evaluate(
        "(input, value) => { input.value = value; input.form.submit(); }", captured
    )

    expect(replayer.get_by_text("That passkey didn")).to_be_visible()
    replayer.goto("/")
    expect(replayer.get_by_role("heading", name="Use your passkey")).to_be_visible()


def test_answer_made_for_another_origin_is_refused(page, technician, password, settings):
    virtual_authenticator(page)
    sign_in_on_page(page, technician.email, password)
    register_passkey(page)
    sign_out(page)
    # The same RP id, another origin: what a look-alike page on another port would send.
    real_site = settings.SITE_URL
    settings.SITE_URL = re.sub(r":\d+$", ":1", real_site)

    sign_in_on_page(page, technician.email, password)
    page.get_by_role("button", name="Use your passkey").click()

    expect(page.get_by_text("That passkey didn")).to_be_visible()
    signed_in = AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED)
    assert signed_in.count() == 1, "only the password sign-in that registered the passkey"
    assert AuditEvent.objects.filter(event=AuditEventType.MFA_FAILED).count() == 1
    page.goto("/")
    expect(page.get_by_role("heading", name="Use your passkey")).to_be_visible()


def test_the_proof_page_takes_the_password_with_the_passkey(page, technician, password):
    """Long after signing in, removing a passkey asks for the password and a factor: the
    passkey button sends both."""
    with time_machine.travel(datetime.now(tz=UTC), tick=True) as clock:
        virtual_authenticator(page)
        sign_in_on_page(page, technician.email, password)
        register_passkey(page)
        passkey = PasskeyDevice.objects.get(user=technician)
        clock.shift(6 * 60)

        page.goto(f"/mfa/passkeys/{passkey.pk}/remove/")
        expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
        page.get_by_label("Current password").fill(password)
        page.get_by_role("button", name="Continue with your passkey").click()

        expect(page.get_by_role("heading", name=re.compile("Remove the passkey"))).to_be_visible()
        proved = AuditEvent.objects.get(event=AuditEventType.REAUTHENTICATED)
        assert proved.details == {"factor": "passkey"}
