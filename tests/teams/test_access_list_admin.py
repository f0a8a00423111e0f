"""The IP access list in the admin: Owners edit it, other tenants' rows are 404, ranges are
validated, and no save shuts the saving person out without their say-so."""

import pytest
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import AccessListEntry, AccessListException, Tenant
from teams.services.access_list import access_list_entry_save, access_list_switch
from tests.factories import UserFactory, builtin_role
from tests.signing_in import sign_in

HERE = "127.0.0.1"  # the test client's address
ADD = "/admin/teams/accesslistentry/add/"


def allow(tenant, network, label="Office"):
    return access_list_entry_save(
        entry=AccessListEntry(tenant=tenant, network=network, label=label), roles=[], actor=None
    )


@pytest.fixture
def owner_client(owner):
    return sign_in(Client(), owner)


def test_owner_adds_an_entry_for_a_role(owner_client, tenant):
    technicians = builtin_role(tenant, scopes.TECHNICIAN)

    response = owner_client.post(
        ADD, {"network": "2001:DB8:0:0::/32", "label": "VPN", "roles": [technicians.pk]}
    )

    assert response.status_code == 302, response.content.decode()
    entry = AccessListEntry.objects.get()
    assert (entry.tenant, entry.network, list(entry.roles.all())) == (
        tenant,
        "2001:db8::/32",
        [technicians],
    )
    event = AuditEvent.objects.get(event=AuditEventType.ACCESS_LIST_CHANGED)
    assert event.details["action"] == "entry added"
    assert event.details["roles"] == ["Technician"]


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ("192.0.2.5/24", "has host bits set: the /24 range that holds it is 192.0.2.0/24"),
        ("192.0.2.0/33", "is not an IPv4 or IPv6 range"),
        ("office", "is not an IPv4 or IPv6 range"),
        ("2001:db8::1/32", "2001:db8::/32"),
    ],
)
def test_bad_ranges_are_refused_with_a_clear_message(owner_client, network, message):
    response = owner_client.post(ADD, {"network": network, "label": "Office"})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AccessListEntry.objects.exists()


def test_technicians_and_admins_cannot_edit_the_list(tenant, technician):
    from tests.factories import UserFactory

    admin_person = UserFactory(tenant=tenant, builtin=scopes.ADMIN)

    assert sign_in(Client(), admin_person).get(ADD).status_code == 403
    assert sign_in(Client(), technician).get(ADD).status_code in (302, 403)


def test_another_tenants_entries_are_404(owner_client, other_tenant):
    theirs = allow(other_tenant, "203.0.113.0/24", label="Contoso office")

    for path in ("change", "delete", "history"):
        response = owner_client.get(f"/admin/teams/accesslistentry/{theirs.pk}/{path}/")
        assert response.status_code == 404
    listing = owner_client.get("/admin/teams/accesslistentry/")
    assert "Contoso office" not in listing.content.decode()


def test_an_entry_posted_for_another_tenant_lands_in_ones_own(owner_client, tenant, other_tenant):
    owner_client.post(
        ADD, {"network": "192.0.2.0/24", "label": "Office", "tenant": other_tenant.pk}
    )

    assert AccessListEntry.objects.get().tenant == tenant


def test_switching_the_list_on_from_outside_it_asks_for_confirmation(owner_client, tenant):
    allow(tenant, "192.0.2.0/24")
    path = f"/admin/teams/tenant/{tenant.pk}/change/"
    form = {
        "require_mfa": "",
        "password_history_count": "0",
        "access_list_enabled": "on",
    }

    asked = owner_client.post(path, form)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert f"your current address ({HERE}) is outside the IP access list" in page
    assert 'type="checkbox" name="confirm_exclusion"' in page
    assert not Tenant.objects.get(pk=tenant.pk).access_list_enabled

    confirmed = owner_client.post(path, {**form, "confirm_exclusion": "on"})

    assert confirmed.status_code == 302
    tenant.refresh_from_db()
    assert tenant.access_list_enabled
    assert tenant.access_list_exempt_owner.email == "owner@northwind.example"


def test_the_confirmation_box_is_hidden_when_nothing_shuts_you_out(owner_client, tenant):
    allow(tenant, f"{HERE}/32", label="Here")

    page = owner_client.get(f"/admin/teams/tenant/{tenant.pk}/change/").content.decode()

    assert 'type="hidden" name="confirm_exclusion"' in page
    response = owner_client.post(
        f"/admin/teams/tenant/{tenant.pk}/change/",
        {"password_history_count": "0", "access_list_enabled": "on"},
    )
    assert response.status_code == 302


def test_editing_the_range_that_holds_you_asks_first_and_the_exempt_owner_gets_in(
    owner_client, owner, tenant, password
):
    entry = allow(tenant, f"{HERE}/32", label="Here")
    # Set up outside any request (no address), so the Owner's confirmation comes with it.
    access_list_switch(tenant=tenant, enabled=True, actor=owner, confirm_exclusion=True)
    path = f"/admin/teams/accesslistentry/{entry.pk}/change/"

    asked = owner_client.post(path, {"network": "192.0.2.0/24", "label": "Office"})

    assert asked.status_code == 200
    assert "Tick the box to save it anyway" in asked.content.decode()
    assert AccessListEntry.objects.get().network == f"{HERE}/32"

    owner_client.post(
        path, {"network": "192.0.2.0/24", "label": "Office", "confirm_exclusion": "on"}
    )

    assert AccessListEntry.objects.get().network == "192.0.2.0/24"
    # The saving Owner is the exempt one: still signed in, and can still sign in.
    assert owner_client.get("/").status_code == 200


def test_deleting_the_range_that_holds_you_asks_first(owner_client, owner, tenant):
    allow(tenant, "192.0.2.0/24")
    here = allow(tenant, f"{HERE}/32", label="Here")
    # Set up outside any request (no address), so the Owner's confirmation comes with it.
    access_list_switch(tenant=tenant, enabled=True, actor=owner, confirm_exclusion=True)
    path = f"/admin/teams/accesslistentry/{here.pk}/delete/"

    shown = owner_client.get(path).content.decode()
    assert "I understand that I can" in shown
    refused = owner_client.post(path, {"post": "yes"})
    assert refused.status_code == 302
    assert AccessListEntry.objects.filter(pk=here.pk).exists()

    owner_client.post(path, {"post": "yes", "confirm_exclusion": "1"})

    assert not AccessListEntry.objects.filter(pk=here.pk).exists()
    assert (
        AuditEvent.objects.filter(event=AuditEventType.ACCESS_LIST_CHANGED)
        .latest("sequence")
        .details["action"]
        == "entry removed"
    )


def test_owner_grants_an_exception(owner_client, technician, tenant):
    response = owner_client.post(
        "/admin/teams/accesslistexception/add/",
        {
            "user": technician.pk,
            "expires_at_0": "2099-01-01",
            "expires_at_1": "00:00:00",
            "reason": "travel",
        },
    )

    assert response.status_code == 200
    assert "at most a year" in response.content.decode()
    assert not AccessListException.objects.exists()


@pytest.mark.parametrize("user", [" ", "", "\t", "abc"])
def test_a_blank_or_unreadable_person_on_an_exception_is_a_form_error(owner_client, user):
    response = owner_client.post(
        "/admin/teams/accesslistexception/add/",
        {"user": user, "expires_at_0": "2099-01-01", "expires_at_1": "12:00", "reason": "Travel"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["user"]
    assert not AccessListException.objects.exists()


def test_switching_the_list_on_tells_the_exempt_owner_they_stay_signed_in(owner_client, tenant):
    allow(tenant, "192.0.2.0/24")
    path = f"/admin/teams/tenant/{tenant.pk}/change/"

    asked = owner_client.post(path, {"password_history_count": "0", "access_list_enabled": "on"})

    page = asked.content.decode()
    assert "You stay signed in only because you are the Owner exempt from the list" in page
    assert "you would be signed out at once" not in page
    owner_client.post(
        path,
        {"password_history_count": "0", "access_list_enabled": "on", "confirm_exclusion": "on"},
    )
    assert Tenant.objects.get(pk=tenant.pk).access_list_exempt_owner.email == (
        "owner@northwind.example"
    )
    assert owner_client.get("/").status_code == 200


def test_someone_not_exempt_is_warned_they_would_be_signed_out(owner, tenant):
    admin_person = UserFactory(
        tenant=tenant, builtin=scopes.OWNER, email="second@northwind.example"
    )
    access_list_switch(tenant=tenant, enabled=True, actor=owner, confirm_exclusion=True)
    allow(tenant, "192.0.2.0/24")
    here = allow(tenant, f"{HERE}/32", label="Here")
    client = sign_in(Client(), admin_person)

    asked = client.post(
        f"/admin/teams/accesslistentry/{here.pk}/change/",
        {"network": "198.51.100.0/24", "label": "Here"},
    )
    shown = client.get(f"/admin/teams/accesslistentry/{here.pk}/delete/").content.decode()

    assert "you would be signed out at once" in asked.content.decode()
    assert "exempt" not in asked.content.decode()
    assert "you would be signed out at once" in shown


def test_the_list_page_says_whether_the_list_is_enforced(owner_client, owner, tenant):
    allow(tenant, f"{HERE}/32", label="Here")

    before = owner_client.get("/admin/teams/accesslistentry/").content.decode()
    access_list_switch(tenant=tenant, enabled=True, actor=owner, confirm_exclusion=True)
    after = owner_client.get("/admin/teams/accesslistentry/").content.decode()

    assert "Not enforced" in before
    assert "Not enforced" not in after and "Enforced" in after
