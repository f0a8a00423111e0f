import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.services import mfa_factors_reset
from teams import scopes
from teams.models import Role
from teams.services.people import person_create, person_deactivate, person_role_change
from teams.services.roles import role_create, role_delete, role_update, tenant_policy_update
from teams.services.sessions import user_sessions_end
from tests.factories import OperatorFactory, TOTPDeviceFactory, UserFactory, builtin_role
from tests.signing_in import sign_in

ROLES = "/admin/teams/role/"


def refused_code(call) -> str:
    with pytest.raises(ValidationError) as refusal:
        call()
    return refusal.value.code


@pytest.fixture
def role_manager(tenant):
    """A custom role that may write roles but holds little else."""
    owner = UserFactory(tenant=tenant, builtin=scopes.OWNER)
    role = role_create(
        tenant=tenant,
        actor=owner,
        values={
            "require_mfa": False,
            "name": "Role manager",
            "scopes": ["roles:write", "members:read"],
        },
    )
    return UserFactory(tenant=tenant, role=role)


def test_nobody_creates_a_role_with_a_scope_they_lack(role_manager, tenant):
    code = refused_code(
        lambda: role_create(
            tenant=tenant,
            actor=role_manager,
            values={
                "require_mfa": False,
                "name": "Sneaky",
                "scopes": ["members:read", "audit:export"],
            },
        )
    )

    assert code == "scope_not_held"
    assert not Role.objects.filter(name="Sneaky").exists()


def test_nobody_edits_a_role_above_their_own(role_manager, tenant):
    admin_role = builtin_role(tenant, scopes.ADMIN)

    code = refused_code(
        lambda: role_update(role=admin_role, actor=role_manager, values={"max_sessions": 1})
    )

    assert code == "above_you"
    admin_role.refresh_from_db()
    assert admin_role.max_sessions == 5


def test_nobody_gives_a_person_a_role_with_scopes_they_lack(tenant_admin, technician, tenant):
    code = refused_code(
        lambda: person_role_change(
            person=technician, role=builtin_role(tenant, scopes.OWNER), actor=tenant_admin
        )
    )

    assert code == "scope_not_held"
    technician.refresh_from_db()
    assert technician.role.name == "Technician"


def test_nobody_invites_with_a_role_above_their_own(tenant_admin, tenant):
    code = refused_code(
        lambda: person_create(
            tenant=tenant,
            email="boss@northwind.example",
            role=builtin_role(tenant, scopes.OWNER),
            actor=tenant_admin,
        )
    )

    assert code == "scope_not_held"


def test_nobody_acts_on_a_person_above_them(tenant_admin, owner, tenant):
    for call in (
        lambda: person_deactivate(person=owner, actor=tenant_admin),
        lambda: person_role_change(
            person=owner, role=builtin_role(tenant, scopes.TECHNICIAN), actor=tenant_admin
        ),
        lambda: user_sessions_end(user=owner, actor=tenant_admin, reason="x"),
    ):
        assert refused_code(call) == "above_you"
    owner.refresh_from_db()
    assert owner.is_active and owner.role.name == "Owner"


def test_the_last_owner_can_be_neither_demoted_nor_deactivated(owner, tenant):
    operator = OperatorFactory()

    for call in (
        lambda: person_role_change(
            person=owner, role=builtin_role(tenant, scopes.ADMIN), actor=owner
        ),
        lambda: person_deactivate(person=owner, actor=operator),
    ):
        assert refused_code(call) == "last_owner"
    owner.refresh_from_db()
    assert owner.is_active and owner.role.name == "Owner"


def test_an_owner_with_a_fellow_owner_may_step_down(owner, tenant):
    UserFactory(tenant=tenant, builtin=scopes.OWNER)

    person_role_change(person=owner, role=builtin_role(tenant, scopes.ADMIN), actor=owner)

    owner.refresh_from_db()
    assert owner.role.name == "Admin"


def test_nobody_deactivates_themselves(tenant_admin):
    assert (
        refused_code(lambda: person_deactivate(person=tenant_admin, actor=tenant_admin)) == "self"
    )


def test_nobody_acts_on_another_tenants_people(owner, other_owner, other_tenant):
    other = UserFactory(tenant=other_tenant)

    assert refused_code(lambda: person_deactivate(person=other, actor=owner)) == "other_tenant"
    assert (
        refused_code(
            lambda: person_role_change(
                person=other, role=builtin_role(other_tenant, scopes.ADMIN), actor=owner
            )
        )
        == "other_tenant"
    )


def test_builtin_roles_keep_their_name_and_scopes_but_limits_change(owner, tenant):
    technician_role = builtin_role(tenant, scopes.TECHNICIAN)

    assert (
        refused_code(
            lambda: role_update(
                role=technician_role, actor=owner, values={"scopes": ["audit:read"]}
            )
        )
        == "builtin_role"
    )
    role_update(role=technician_role, actor=owner, values={"idle_timeout_minutes": 15})

    technician_role.refresh_from_db()
    assert technician_role.scopes == []
    assert technician_role.idle_timeout_minutes == 15
    [edited] = AuditEvent.objects.filter(event=AuditEventType.ROLE_EDITED)
    assert edited.details == {"role": "Technician", "changed": {"idle_timeout_minutes": [30, 15]}}


def test_a_role_in_use_or_built_in_cannot_be_deleted(owner, tenant):
    custom = role_create(
        tenant=tenant, actor=owner, values={"require_mfa": False, "name": "Helpdesk", "scopes": []}
    )
    UserFactory(tenant=tenant, role=custom)

    assert refused_code(lambda: role_delete(role=custom, actor=owner)) == "role_in_use"
    assert (
        refused_code(lambda: role_delete(role=builtin_role(tenant, scopes.ADMIN), actor=owner))
        == "builtin_role"
    )


def test_shrinking_a_role_takes_scopes_away_on_the_next_request(owner, tenant):
    custom = role_create(
        tenant=tenant,
        actor=owner,
        values={"require_mfa": False, "name": "Helpdesk", "scopes": ["members:write"]},
    )
    helper = UserFactory(tenant=tenant, role=custom)
    client = sign_in(Client(), helper)
    assert client.get("/admin/accounts/user/").status_code == 200

    role_update(role=custom, actor=owner, values={"scopes": ["members:read"]})

    assert client.get("/admin/accounts/user/", follow=True).status_code == 403


def test_owner_creates_a_custom_role_in_the_admin(owner, tenant, other_tenant):
    client = sign_in(Client(), owner)

    response = client.post(
        ROLES + "add/",
        {
            "name": "Helpdesk",
            "scopes": ["lockout:unlock", "members:read"],
            "require_mfa": "on",
            "idle_timeout_minutes": 15,
            "session_lifetime_minutes": 480,
            "max_sessions": 2,
            "tenant": other_tenant.pk,
        },
    )

    assert response.status_code == 302, response.content.decode()
    role = Role.objects.get(name="Helpdesk")
    assert role.tenant == tenant
    assert role.scopes == ["lockout:unlock", "members:read"]
    [created] = AuditEvent.objects.filter(event=AuditEventType.ROLE_CREATED)
    assert created.actor == owner and created.tenant == tenant


def test_role_form_refuses_scopes_the_editor_lacks_and_zero_limits(role_manager):
    client = sign_in(Client(), role_manager)

    response = client.post(
        ROLES + "add/",
        {
            "name": "Too strong",
            "scopes": ["members:read", "security:write"],
            "require_mfa": "on",
            "idle_timeout_minutes": 0,
            "session_lifetime_minutes": 60,
            "max_sessions": 0,
        },
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "scopes you don&#x27;t hold yourself: security:write" in page
    assert page.count("Ensure this value is greater than or equal to 1.") == 2
    assert not Role.objects.filter(name="Too strong").exists()


def test_role_form_refuses_a_duplicate_name_and_idle_over_lifetime(owner):
    response = sign_in(Client(), owner).post(
        ROLES + "add/",
        {
            "name": "admin",
            "scopes": [],
            "require_mfa": "on",
            "idle_timeout_minutes": 50,
            "session_lifetime_minutes": 40,
            "max_sessions": 3,
        },
    )

    page = response.content.decode()
    assert "This tenant already has a role called admin." in page
    assert "The idle timeout can&#x27;t be longer than the session lifetime." in page


def test_a_role_above_the_editor_is_read_only_in_the_admin(role_manager, tenant):
    client = sign_in(Client(), role_manager)
    owner_role = builtin_role(tenant, scopes.OWNER)

    page = client.get(f"{ROLES}{owner_role.pk}/change/")
    posted = client.post(f"{ROLES}{owner_role.pk}/change/", {"max_sessions": 1})

    assert page.status_code == 200
    assert 'name="max_sessions"' not in page.content.decode()
    assert posted.status_code == 403


def test_deleting_a_custom_role_in_the_admin_is_audited(owner, tenant):
    custom = role_create(
        tenant=tenant, actor=owner, values={"require_mfa": False, "name": "Spare", "scopes": []}
    )

    response = sign_in(Client(), owner).post(f"{ROLES}{custom.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Role.objects.filter(pk=custom.pk).exists()
    [deleted] = AuditEvent.objects.filter(event=AuditEventType.ROLE_DELETED)
    assert deleted.details == {"role": "Spare"}


def test_owner_changes_tenant_policy_with_one_event(owner, tenant):
    client = sign_in(Client(), owner)
    page = client.get(f"/admin/teams/tenant/{tenant.pk}/change/").content.decode()
    assert 'name="slug"' not in page

    response = client.post(
        f"/admin/teams/tenant/{tenant.pk}/change/",
        {
            "idle_timeout_minutes": 10,
            "password_history_count": 0,
            "max_sessions": 2,
            "slug": "hijacked",
            "name": "Renamed",
        },
    )

    assert response.status_code == 302, response.content.decode()
    tenant.refresh_from_db()
    assert (tenant.idle_timeout_minutes, tenant.max_sessions) == (10, 2)
    assert (tenant.slug, tenant.name) == ("northwind-it", "Northwind IT")
    [changed] = AuditEvent.objects.filter(event=AuditEventType.TENANT_POLICY_CHANGED)
    assert changed.details == {
        "changed": {"idle_timeout_minutes": [None, 10], "max_sessions": [None, 2]}
    }


@pytest.mark.parametrize(
    "field, value",
    [
        ("idle_timeout_minutes", 0),
        ("session_lifetime_minutes", 0),
        ("max_sessions", 0),
        ("deactivate_after_days", 7),
    ],
)
def test_tenant_policy_refuses_zero_limits(owner, tenant, field, value):
    with pytest.raises(ValidationError) as refusal:
        tenant_policy_update(tenant=tenant, actor=owner, values={field: value})

    assert [error.code for error in refusal.value.error_dict[field]] == ["min_value"]
    tenant.refresh_from_db()
    assert getattr(tenant, field) is None


def test_admin_without_security_write_only_reads_the_policy(tenant_admin, tenant):
    client = sign_in(Client(), tenant_admin)

    page = client.get(f"/admin/teams/tenant/{tenant.pk}/change/")
    posted = client.post(f"/admin/teams/tenant/{tenant.pk}/change/", {"max_sessions": 1})

    assert page.status_code == 200
    assert 'name="max_sessions"' not in page.content.decode()
    assert posted.status_code == 403


def test_nobody_resets_the_second_factor_of_a_person_above_them(tenant_admin, owner):
    TOTPDeviceFactory(user=owner)

    assert refused_code(lambda: mfa_factors_reset(target=owner, actor=tenant_admin)) == "above_you"
    assert TOTPDevice.objects.filter(user=owner).exists()
