import pytest
from django.core.exceptions import ValidationError

from teams import scopes
from teams.models import Role
from teams.selectors import owners_for_tenant
from teams.services.people import person_role_change
from teams.services.roles import role_create, role_update
from tests.factories import builtin_role


@pytest.fixture
def security_role(owner, tenant):
    """A custom role holding `security:write`: its holders are Owners too."""
    return role_create(
        tenant=tenant,
        actor=owner,
        values={
            "require_mfa": False,
            "name": "Security lead",
            "scopes": ["security:write", "members:read"],
        },
    )


def test_a_custom_role_holding_security_write_makes_its_holder_an_owner(
    owner, tenant, security_role
):
    person_role_change(person=owner, role=security_role, actor=owner)

    assert security_role.is_owner
    assert list(owners_for_tenant(tenant=tenant)) == [owner]
    assert set(Role.objects.for_tenant(tenant).owner()) == {
        builtin_role(tenant, scopes.OWNER),
        security_role,
    }


def test_the_last_owners_role_keeps_security_write(owner, tenant, security_role):
    person_role_change(person=owner, role=security_role, actor=owner)

    with pytest.raises(ValidationError) as refusal:
        role_update(role=security_role, actor=owner, values={"scopes": ["members:read"]})

    assert refusal.value.code == "last_owner"
    security_role.refresh_from_db()
    assert "security:write" in security_role.scopes


def test_a_role_without_owners_in_it_may_drop_security_write(owner, security_role):
    role_update(role=security_role, actor=owner, values={"scopes": ["members:read"]})

    security_role.refresh_from_db()
    assert not security_role.is_owner
