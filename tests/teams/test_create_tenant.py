from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import Role, Tenant


def run(*args) -> str:
    out = StringIO()
    call_command("create_tenant", *args, stdout=out)
    return out.getvalue()


def test_create_tenant_prints_slug_and_makes_builtin_roles_and_owner(db):
    output = run("Acme Managed IT", "--owner-email", " Boss@Acme.Example ")

    assert output.strip() == "acme-managed-it"
    tenant = Tenant.objects.get(slug="acme-managed-it")
    roles = {role.name: set(role.scopes) for role in Role.objects.for_tenant(tenant)}
    assert roles == {
        "Owner": set(scopes.ALL_SCOPES),
        "Admin": set(scopes.ALL_SCOPES) - {"roles:write", "security:write"},
        "Technician": set(),
        "Read-only": {"members:read", "audit:read"},
    }
    owner = User.objects.get(email="boss@acme.example")
    assert owner.tenant == tenant
    assert owner.role.name == "Owner"
    assert not owner.has_usable_password()
    assert set(AuditEvent.objects.for_tenant(tenant).values_list("event", flat=True)) == {
        AuditEventType.TENANT_CREATED,
        AuditEventType.PERSON_INVITED,
    }


def test_every_builtin_scope_is_in_the_catalogue():
    for builtin in scopes.BUILTIN_ROLES:
        assert builtin.scopes <= scopes.ALL_SCOPES
    assert all(scope.description for scope in scopes.CATALOGUE)


@pytest.mark.parametrize(
    "args, message",
    [
        (("Acme IT", "--owner-email", "someone@else.example"), "slug acme-it already exists"),
        (("Other MSP", "--owner-email", "first@acme.example"), "already has an account"),
        (("Third MSP", "--owner-email", "not-an-email"), "valid email"),
        (("!!!", "--owner-email", "x@y.example"), "Can't make a slug"),
        (("Fourth", "--owner-email", "x@y.example", "--slug", "bad slug"), "valid"),
        (("N" * 300, "--owner-email", "x@y.example"), "at most 200 characters"),
        (("Line\nBreak MSP", "--owner-email", "x@y.example"), "control characters"),
        (("Fifth", "--owner-email", "x@y.example", "--owner-name", "n" * 151), "at most 150"),
        (("Sixth", "--owner-email", "x@y.example", "--owner-name", "Ann\nBo"), "control char"),
    ],
)
def test_create_tenant_refuses_bad_input_with_exit_status_2_and_leaves_nothing(db, args, message):
    run("Acme IT", "--owner-email", "first@acme.example")
    tenants_before, people_before = Tenant.objects.count(), User.objects.count()

    with pytest.raises(CommandError, match=message) as refused:
        run(*args)

    assert refused.value.returncode == 2
    assert (Tenant.objects.count(), User.objects.count()) == (tenants_before, people_before)


def test_create_tenant_is_all_or_nothing_when_the_owner_cannot_be_made(db, monkeypatch):
    def broken_person_create(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("teams.services.tenants.person_create", broken_person_create)

    with pytest.raises(RuntimeError):
        run("Halfway MSP", "--owner-email", "half@way.example")

    assert not Tenant.objects.filter(slug="halfway-msp").exists()
    assert not Role.objects.exists()


def test_create_tenant_without_owner_email_is_a_usage_error(db):
    with pytest.raises(CommandError, match="--owner-email"):
        run("No Owner MSP")
