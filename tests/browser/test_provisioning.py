"""An Owner makes a provisioning token in the admin (shown once, with a copy button) and maps a
directory group to a role (screenshots to docs/screenshots/ when SAVE_SCREENSHOTS=1)."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from audit.events import AuditEventType
from audit.models import AuditEvent
from provisioning.models import DirectoryGroup, ProvisioningToken
from provisioning.services.tokens import token_digest
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def test_owner_makes_a_token_sees_it_once_and_maps_a_group(
    page, owner, technician, tenant, password, tmp_path
):
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    sign_in_on_page(page, owner.email, password)
    page.goto("/admin/")
    page.get_by_role("link", name="Provisioning tokens").first.click()
    page.get_by_role("link", name="Add provisioning token").click()
    page.get_by_label("Name").fill("Entra ID production")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("This is the only time the token is shown.")).to_be_visible()
    expect(page.get_by_role("button", name="Copy the token")).to_be_visible()
    token = page.locator("#scim-token code").inner_text()
    row = ProvisioningToken.objects.get(name="Entra ID production")
    assert row.tenant == tenant and row.digest == token_digest(token)
    assert token not in str(ProvisioningToken.objects.values_list().get(pk=row.pk))
    page.screenshot(path=str(folder / "scim-token.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(folder / "scim-token-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("link", name="I've copied the token, continue").click()
    expect(page.get_by_text("Entra ID production")).to_be_visible()
    expect(page.get_by_text(token)).to_have_count(0)

    group = DirectoryGroup.objects.create(tenant=tenant, display_name="Helpdesk Admins")
    group.members.add(technician)
    page.goto(f"/admin/provisioning/directorygroup/{group.pk}/change/")
    page.get_by_label("Role").select_option(label="Admin")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("was changed successfully")).to_be_visible()
    page.screenshot(path=str(folder / "scim-groups.png"), full_page=True)

    technician.refresh_from_db()
    assert technician.role.name == "Admin"
    assert AuditEvent.objects.filter(event=AuditEventType.DIRECTORY_GROUP_MAPPED).exists()
