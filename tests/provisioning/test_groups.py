"""Directory groups and the roles they give, driven with Entra- and Okta-shaped bodies and with
scim2-client (the python-scim project's client) against the site's WSGI application."""

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_models import Group, ScimProvider, User

from audit.events import AuditEventType
from audit.models import AuditEvent
from provisioning.models import DirectoryGroup
from provisioning.services.groups import group_role_set
from provisioning.services.settings import provisioning_settings_save
from teams import scopes
from tests.factories import builtin_role
from tests.provisioning.conftest import body

pytestmark = pytest.mark.django_db


def test_membership_of_a_mapped_group_moves_the_role_both_ways(scim, tenant, owner, technician):
    group_id = scim.post("Groups", body("okta_create_group")).json()["id"]
    group = DirectoryGroup.objects.get(scim_id=group_id)
    group_role_set(group=group, role=builtin_role(tenant, scopes.ADMIN), actor=owner)

    added = scim.patch(f"Groups/{group_id}", body("entra_add_member", PERSON_ID=str(technician.pk)))
    assert added.status_code == 204
    technician.refresh_from_db()
    assert technician.role.name == "Admin"
    change = AuditEvent.objects.get(event=AuditEventType.ROLE_CHANGED, target=technician)
    assert change.actor_label == "provisioning: Entra ID"

    removed = scim.patch(
        f"Groups/{group_id}", body("okta_group_members", PERSON_ID=str(technician.pk))
    )
    assert removed.status_code == 204
    technician.refresh_from_db()
    assert technician.role.name == "Technician"


def test_the_role_holding_most_scopes_wins_among_mapped_groups(scim, tenant, owner, technician):
    readers = scim.post("Groups", {**body("okta_create_group"), "displayName": "Readers"}).json()
    admins = scim.post("Groups", body("okta_create_group")).json()
    group_role_set(
        group=DirectoryGroup.objects.get(scim_id=readers["id"]),
        role=builtin_role(tenant, scopes.READ_ONLY),
        actor=owner,
    )
    group_role_set(
        group=DirectoryGroup.objects.get(scim_id=admins["id"]),
        role=builtin_role(tenant, scopes.ADMIN),
        actor=owner,
    )
    for group in (readers, admins):
        scim.patch(f"Groups/{group['id']}", body("entra_add_member", PERSON_ID=str(technician.pk)))

    technician.refresh_from_db()
    assert technician.role.name == "Admin"


def test_no_owner_role_by_mapping_unless_the_tenant_allows(scim, tenant, owner, technician):
    group_id = scim.post("Groups", body("okta_create_group")).json()["id"]
    group = DirectoryGroup.objects.get(scim_id=group_id)

    with pytest.raises(Exception, match="Owners"):
        group_role_set(group=group, role=builtin_role(tenant, scopes.OWNER), actor=owner)

    provisioning_settings_save(tenant=tenant, actor=owner, mail_joiners=False, manage_owners=True)
    group_role_set(group=group, role=builtin_role(tenant, scopes.OWNER), actor=owner)
    scim.patch(f"Groups/{group_id}", body("entra_add_member", PERSON_ID=str(technician.pk)))
    technician.refresh_from_db()
    assert technician.role.name == "Owner"

    provisioning_settings_save(tenant=tenant, actor=owner, mail_joiners=False, manage_owners=False)
    scim.patch(f"Groups/{group_id}", body("entra_remove_member", PERSON_ID=str(technician.pk)))
    technician.refresh_from_db()
    assert technician.role.name == "Owner"
    assert AuditEvent.objects.filter(
        event=AuditEventType.DIRECTORY_ROLE_NOT_CHANGED, target=technician
    ).exists()


def test_the_last_owner_keeps_the_role_when_leaving_the_owners_group(scim, tenant, owner):
    provisioning_settings_save(tenant=tenant, actor=owner, mail_joiners=False, manage_owners=True)
    group_id = scim.post("Groups", body("okta_create_group")).json()["id"]
    group = DirectoryGroup.objects.get(scim_id=group_id)
    group_role_set(group=group, role=builtin_role(tenant, scopes.OWNER), actor=owner)
    scim.patch(f"Groups/{group_id}", body("entra_add_member", PERSON_ID=str(owner.pk)))

    scim.patch(f"Groups/{group_id}", body("entra_remove_member", PERSON_ID=str(owner.pk)))

    owner.refresh_from_db()
    assert owner.role.name == "Owner"
    refusal = AuditEvent.objects.get(event=AuditEventType.DIRECTORY_ROLE_NOT_CHANGED)
    assert refusal.details["reason"] == "last_owner"


@pytest.fixture
def site_wsgi_app():
    """The site's WSGI application, called in the test's own transaction. Django's test client
    keeps the database connection open across requests by disconnecting `close_old_connections`
    from the request signals; calling the application directly needs the same."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_scim2_client_creates_finds_and_groups_a_user(tenant, scim_token, site_wsgi_app):
    client = WSGISCIMClient(
        site_wsgi_app,
        base_url="http://localhost/scim/v2",
        headers={"Authorization": f"Bearer {scim_token}"},
        provider=ScimProvider(models=[User, Group]),
    )

    created = client.create(User(user_name="lee.client@northwind.example"))
    found = client.query(
        User, query_parameters={"filter": 'userName eq "lee.client@northwind.example"'}
    )
    group = client.create(Group(display_name="Field techs"))

    assert found.total_results == 1
    assert found.resources[0].id == created.id
    assert group.display_name == "Field techs"
    assert client.query(Group, group.id).display_name == "Field techs"


def test_okta_renames_a_group_and_a_taken_name_is_a_conflict(scim):
    group_id = scim.post("Groups", body("okta_create_group")).json()["id"]
    scim.post("Groups", {**body("okta_create_group"), "displayName": "Readers"})

    renamed = scim.patch(f"Groups/{group_id}", body("okta_rename_group", GROUP_ID=group_id))
    taken = scim.patch(
        f"Groups/{group_id}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Readers"}],
        },
    )
    filtered = scim.get("Groups", data={"filter": 'displayName eq "Helpdesk Leads"'}).json()

    assert renamed.status_code == 204
    assert taken.status_code == 409 and taken.json()["scimType"] == "uniqueness"
    assert [group["id"] for group in filtered["Resources"]] == [group_id]
    assert scim.delete(f"Groups/{group_id}").status_code == 204
    assert scim.get(f"Groups/{group_id}").status_code == 404
