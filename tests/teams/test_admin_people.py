import pytest
from django.contrib.admin import helpers
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import UserSession
from tests.factories import OperatorFactory, UserFactory, builtin_role
from tests.signing_in import sign_in, sign_in_attempt

PEOPLE = "/admin/accounts/user/"


def act(client, action: str, people, **extra):
    return client.post(
        PEOPLE,
        {
            "action": action,
            "index": 0,
            helpers.ACTION_CHECKBOX_NAME: [person.pk for person in people],
            **extra,
        },
        follow=True,
    )


def events(event: AuditEventType, **filters):
    return list(AuditEvent.objects.filter(event=event, **filters))


def test_invite_form_has_no_password_and_creates_the_person_with_one_event(owner, tenant):
    client = sign_in(Client(), owner)
    page = client.get(PEOPLE + "add/").content.decode()
    assert 'type="password"' not in page
    assert 'name="tenant"' not in page

    response = client.post(
        PEOPLE + "add/",
        {
            "email": "  New.Person@Northwind.Example ",
            "full_name": "New Person",
            "role": builtin_role(tenant, scopes.TECHNICIAN).pk,
        },
    )

    assert response.status_code == 302
    person = User.objects.get(email="new.person@northwind.example")
    assert person.tenant == tenant
    assert not person.has_usable_password()
    invited = events(AuditEventType.PERSON_INVITED, target=person)
    assert len(invited) == 1
    assert invited[0].actor == owner


def test_invite_ignores_posted_tenant_staff_and_superuser(owner, tenant, other_tenant):
    client = sign_in(Client(), owner)

    client.post(
        PEOPLE + "add/",
        {
            "email": "sneaky@northwind.example",
            "role": builtin_role(tenant, scopes.TECHNICIAN).pk,
            "tenant": other_tenant.pk,
            "is_staff": "on",
            "is_superuser": "on",
        },
    )

    person = User.objects.get(email="sneaky@northwind.example")
    assert person.tenant == tenant
    assert not person.is_staff
    assert not person.is_superuser


def test_invite_refuses_another_tenants_role_and_a_role_above_the_inviter(
    tenant_admin, tenant, other_tenant
):
    client = sign_in(Client(), tenant_admin)

    for role in (builtin_role(other_tenant, scopes.TECHNICIAN), builtin_role(tenant, scopes.OWNER)):
        response = client.post(PEOPLE + "add/", {"email": "x@northwind.example", "role": role.pk})
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
    assert not User.objects.filter(email="x@northwind.example").exists()


def test_inviting_an_email_that_already_has_an_account_invites_nobody(owner, technician, tenant):
    response = sign_in(Client(), owner).post(
        PEOPLE + "add/",
        {"email": "TECH@northwind.example", "role": builtin_role(tenant, scopes.TECHNICIAN).pk},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == PEOPLE
    assert "already has an account" not in response.content.decode()
    technician.refresh_from_db()
    assert technician.role == builtin_role(tenant, scopes.TECHNICIAN)
    assert not events(AuditEventType.PERSON_INVITED)


def test_editing_details_is_audited_once_and_role_and_tenant_posts_are_ignored(
    owner, technician, tenant, other_tenant
):
    client = sign_in(Client(), owner)

    response = client.post(
        f"{PEOPLE}{technician.pk}/change/",
        {
            "email": "tess@northwind.example",
            "full_name": "Tess Renamed",
            "role": builtin_role(tenant, scopes.OWNER).pk,
            "tenant": other_tenant.pk,
            "is_active": "",
            "is_superuser": "on",
        },
    )

    assert response.status_code == 302
    technician.refresh_from_db()
    assert (technician.email, technician.full_name) == ("tess@northwind.example", "Tess Renamed")
    assert technician.role.name == "Technician"
    assert technician.tenant == tenant
    assert technician.is_active and not technician.is_superuser
    [edited] = events(AuditEventType.PERSON_EDITED)
    assert edited.details == {
        "changed": {
            "email": ["tech@northwind.example", "tess@northwind.example"],
            "full_name": ["Tess Tech", "Tess Renamed"],
        },
        "sessions": 0,
    }


def test_an_admin_cannot_edit_an_owner(tenant_admin, owner):
    client = sign_in(Client(), tenant_admin)

    page = client.get(f"{PEOPLE}{owner.pk}/change/")
    posted = client.post(f"{PEOPLE}{owner.pk}/change/", {"email": "mine@northwind.example"})

    assert page.status_code == 200
    assert 'name="email"' not in page.content.decode()
    assert posted.status_code == 403
    owner.refresh_from_db()
    assert owner.email == "owner@northwind.example"


def test_deactivate_ends_sessions_at_once_with_one_event(owner, technician):
    laptop, phone = sign_in(Client(), technician), sign_in(Client(), technician)
    client = sign_in(Client(), owner)

    response = act(client, "deactivate", [technician])

    assert "Deactivated 1 person" in response.content.decode()
    technician.refresh_from_db()
    assert not technician.is_active
    assert not UserSession.objects.filter(user=technician).exists()
    for browser in (laptop, phone):
        response = browser.get("/", follow=True)
        assert "This session was ended. Sign in again to continue." in response.content.decode()
        assert SESSION_KEY not in browser.session
    [deactivated] = events(AuditEventType.PERSON_DEACTIVATED)
    assert (deactivated.actor, deactivated.target) == (owner, technician)
    assert deactivated.details == {"sessions": 2}
    assert not events(AuditEventType.SESSION_REVOKED)


def test_reactivate_lets_the_person_sign_in_again(owner, technician, password, client):
    technician.is_active = False
    technician.save()

    act(sign_in(Client(), owner), "reactivate", [technician])

    technician.refresh_from_db()
    assert technician.is_active
    assert len(events(AuditEventType.PERSON_REACTIVATED, target=technician)) == 1
    assert sign_in_attempt(client, technician.email, password).status_code == 302


def test_the_last_owner_cannot_be_deactivated_or_demoted_in_the_admin(owner, tenant):
    operator_like = UserFactory(tenant=tenant, builtin=scopes.ADMIN)
    client = sign_in(Client(), operator_like)

    refused = act(client, "deactivate", [owner])
    assert "You can&#x27;t change owner@northwind.example" in refused.content.decode()

    second = UserFactory(tenant=tenant, builtin=scopes.OWNER, email="second@northwind.example")
    owner_client = sign_in(Client(), second)
    act(owner_client, "deactivate", [owner])
    owner.refresh_from_db()
    assert not owner.is_active

    last = act(
        owner_client,
        "change_role",
        [second],
        apply="1",
        role=builtin_role(tenant, scopes.ADMIN).pk,
    )
    assert "is the last Owner of Northwind IT" in last.content.decode()
    second.refresh_from_db()
    assert second.role.name == "Owner"


def test_change_role_asks_for_the_role_then_changes_it_and_ends_sessions(owner, technician, tenant):
    tech_browser = sign_in(Client(), technician)
    client = sign_in(Client(), owner)

    step = act(client, "change_role", [technician])
    assert step.status_code == 200
    assert "Choose the role these people get" in step.content.decode()

    done = act(
        client, "change_role", [technician], apply="1", role=builtin_role(tenant, scopes.ADMIN).pk
    )

    assert "Gave 1 person the role Admin" in done.content.decode()
    technician.refresh_from_db()
    assert technician.role.name == "Admin"
    assert tech_browser.get("/").status_code == 302
    [changed] = events(AuditEventType.ROLE_CHANGED)
    assert changed.details == {"from": "Technician", "to": "Admin", "sessions": 1}


def test_change_role_offers_only_roles_the_actor_may_grant(tenant_admin, technician, tenant):
    client = sign_in(Client(), tenant_admin)

    step = act(client, "change_role", [technician]).content.decode()
    refused = act(
        client, "change_role", [technician], apply="1", role=builtin_role(tenant, scopes.OWNER).pk
    )

    assert ">Owner<" not in step
    assert ">Read-only<" in step
    assert "Choose one of the roles listed." in refused.content.decode()
    technician.refresh_from_db()
    assert technician.role.name == "Technician"


def test_revoke_sessions_action_ends_them_with_one_event(owner, technician):
    browser = sign_in(Client(), technician)

    act(sign_in(Client(), owner), "revoke_sessions", [technician])

    assert browser.get("/").status_code == 302
    [revoked] = events(AuditEventType.SESSION_REVOKED, target=technician)
    assert revoked.details == {"reason": "revoked by an administrator", "sessions": 1}


def test_read_only_people_see_the_actions_they_hold_and_no_more(tenant):
    helpdesk = UserFactory(tenant=tenant, builtin=scopes.ADMIN)
    page = sign_in(Client(), helpdesk).get(PEOPLE).content.decode()

    assert 'value="deactivate"' in page
    assert 'value="change_role"' in page
    assert 'value="delete_selected"' not in page


def people_list_queries(client, filters: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PEOPLE, filters)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("filters", [{}, {"is_active__exact": "1"}, {"q": "northwind"}])
def test_people_list_query_count_does_not_grow_with_people(owner, tenant, filters):
    client = sign_in(Client(), owner)
    UserFactory.create_batch(9, tenant=tenant)
    client.get(PEOPLE)
    at_10 = people_list_queries(client, filters)

    role = builtin_role(tenant, scopes.TECHNICIAN)
    User.objects.bulk_create(
        User(email=f"bulk{n}@northwind.example", tenant=tenant, role=role) for n in range(990)
    )
    at_1000 = people_list_queries(client, filters)

    assert User.objects.for_tenant(tenant).count() == 1000
    assert at_10 == at_1000


def test_operators_invite_into_any_tenant_with_that_tenants_role(tenant, other_tenant):
    client = sign_in(Client(), OperatorFactory())

    mismatch = client.post(
        PEOPLE + "add/",
        {
            "email": "mixed@contoso.example",
            "tenant": other_tenant.pk,
            "role": builtin_role(tenant, scopes.TECHNICIAN).pk,
        },
    )
    made = client.post(
        PEOPLE + "add/",
        {
            "email": "carl@contoso.example",
            "tenant": other_tenant.pk,
            "role": builtin_role(other_tenant, scopes.ADMIN).pk,
        },
    )

    assert "The role must belong to the person&#x27;s own tenant." in mismatch.content.decode()
    assert made.status_code == 302
    person = User.objects.get(email="carl@contoso.example")
    assert (person.tenant, person.role.name) == (other_tenant, "Admin")
