"""Operators make tenants in the admin through the service `create_tenant` runs; the admin's
index names no library."""

import re
from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import Role, Tenant
from teams.services.tenants import tenant_onboard
from tests.accounts.helpers import link_in, mails_to
from tests.factories import OperatorFactory
from tests.signing_in import sign_in

ADD_TENANT = "/admin/teams/tenant/add/"
NEW_PASSWORD = "fresh-granite-lantern-orbit"


def made(tenant: Tenant) -> tuple:
    """What making a tenant leaves behind, apart from names: roles, Owner, events, mail."""
    owner = User.objects.get(tenant=tenant)
    return (
        {role.name: sorted(role.scopes) for role in Role.objects.for_tenant(tenant)},
        owner.role.name,
        owner.has_usable_password(),
        sorted(AuditEvent.objects.for_tenant(tenant).values_list("event", flat=True)),
        [message.subject.replace(tenant.name, "<tenant>") for message in mails_to(owner.email)],
    )


def test_an_operator_makes_a_tenant_as_the_command_does(db, django_capture_on_commit_callbacks):
    operator = OperatorFactory()
    client = sign_in(Client(), operator)
    page = client.get(ADD_TENANT).content.decode()
    assert 'name="owner_email"' in page and 'name="name"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            ADD_TENANT,
            {"name": "Acme Managed IT", "owner_email": " Boss@Acme.Example ", "slug": ""},
            follow=True,
        )
        call_command(
            "create_tenant",
            "Fabrikam IT",
            "--owner-email",
            "boss@fabrikam.example",
            stdout=StringIO(),
        )

    assert "a link to choose a password is on its way to its Owner, boss@acme.example" in (
        response.content.decode()
    )
    tenant = Tenant.objects.get(slug="acme-managed-it")
    assert response.redirect_chain[-1][0] == f"/admin/teams/tenant/{tenant.pk}/change/"
    assert made(tenant) == made(Tenant.objects.get(slug="fabrikam-it"))
    assert made(tenant)[3] == sorted([AuditEventType.TENANT_CREATED, AuditEventType.PERSON_INVITED])
    created = AuditEvent.objects.get(tenant=tenant, event=AuditEventType.TENANT_CREATED)
    assert created.actor == operator and created.ip
    owner = User.objects.get(email="boss@acme.example")
    landing = Client().get(link_in(mails_to(owner.email)[0]))
    assert landing.status_code == 302


def test_the_add_page_shows_a_taken_slug_or_address_and_makes_nothing(db, owner, tenant):
    client = sign_in(Client(), OperatorFactory())

    taken_slug = client.post(ADD_TENANT, {"name": tenant.name, "owner_email": "new@else.example"})
    taken_email = client.post(ADD_TENANT, {"name": "Other MSP", "owner_email": owner.email})

    assert taken_slug.status_code == 200
    assert f"A tenant with the slug {tenant.slug} already exists." in taken_slug.content.decode()
    assert "already has an account" in taken_email.content.decode()
    assert 'value="Other MSP"' in taken_email.content.decode()
    assert Tenant.objects.count() == 1
    assert not mails_to("new@else.example")


def test_owners_make_no_tenant(owner):
    client = sign_in(Client(), owner)

    assert client.get(ADD_TENANT).status_code == 403
    assert (
        client.post(ADD_TENANT, {"name": "Mine", "owner_email": "x@mine.example"}).status_code
        == 403
    )
    assert ADD_TENANT not in client.get("/admin/teams/tenant/").content.decode()
    with pytest.raises(PermissionDenied):
        tenant_onboard(name="Mine", owner_email="x@mine.example", actor=owner)
    assert not Tenant.objects.filter(name="Mine").exists()


def test_the_admin_index_names_no_library(db):
    page = sign_in(Client(), OperatorFactory()).get("/admin/").content.decode()
    headings = re.findall(r"<caption>\s*<a [^>]*>(.*?)</a>", page, re.S)

    assert "Lockout" in headings
    assert not any("axes" in heading.lower() for heading in headings)
    assert "Axes" not in page and "AXES" not in page


def test_renaming_axes_leaves_accounts_its_own_app_config():
    """Renaming axes takes a second AppConfig class beside AccountsConfig; with both in
    accounts/apps.py Django would fall back to a bare config and skip AccountsConfig.ready()
    (the sign-in steps it registers)."""
    assert type(apps.get_app_config("accounts")).__name__ == "AccountsConfig"
    assert apps.get_app_config("axes").verbose_name == "Lockout"
