import pytest

from teams import scopes
from tests.factories import OperatorFactory, UserFactory


@pytest.mark.parametrize(
    "builtin, holds, lacks",
    [
        (scopes.OWNER, ["roles:write", "security:write", "audit:export"], []),
        (scopes.ADMIN, ["members:write", "lockout:unlock"], ["roles:write", "security:write"]),
        (scopes.TECHNICIAN, [], ["members:read", "audit:read"]),
        (scopes.READ_ONLY, ["members:read", "audit:read"], ["members:write", "audit:export"]),
    ],
)
def test_builtin_roles_grant_their_scopes_through_has_perm(tenant, builtin, holds, lacks):
    person = UserFactory(tenant=tenant, builtin=builtin)

    assert all(person.has_perm(scope) for scope in holds)
    assert not any(person.has_perm(scope) for scope in lacks)


def test_deactivated_person_holds_no_scope(tenant):
    owner = UserFactory(tenant=tenant, builtin=scopes.OWNER, is_active=False)

    assert not owner.has_perm("members:read")


def test_operator_holds_every_scope(db):
    operator = OperatorFactory()

    assert all(operator.has_perm(scope) for scope in scopes.ALL_SCOPES)


def test_role_change_takes_effect_on_the_next_check(tenant):
    person = UserFactory(tenant=tenant, builtin=scopes.ADMIN)
    person.role = tenant.roles.get(name="Technician")
    person.save()

    person.refresh_from_db()
    assert not person.has_perm("members:write")
