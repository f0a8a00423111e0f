"""The owner's single sign-on settings in the admin, the operators' domain claims, and the
client secret's encryption."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.encryption import SecretUnreadable, secret_decrypt, secret_encrypt
from sso.models import ClaimedDomain, IdentityProvider
from teams import scopes
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import sign_in
from tests.sso.conftest import provider_set_up

pytestmark = pytest.mark.django_db

ADD = "/admin/sso/identityprovider/add/"
SECRET = "s3cret-from-the-app-registration"  # noqa: S105


def change_url(provider: IdentityProvider) -> str:
    return f"/admin/sso/identityprovider/{provider.pk}/change/"


def entra_form(owner, **overrides) -> dict:
    return {
        "kind": "entra",
        "directory_id": "8f4c2d1e-0b7a-4c5e-9d3f-2a1b0c9e8d7f",
        "hosted_domain": "",
        "discovery_url": "",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": SECRET,
        "enabled": "on",
        "policy": "optional",
        "new_person_role": "",
        "break_glass": [str(owner.pk)],
        **overrides,
    }


@pytest.fixture
def owner_client(owner):
    return sign_in(Client(), owner)


def test_an_owner_sets_up_entra_and_the_secret_is_never_shown_again(owner_client, owner, tenant):
    page = owner_client.get(ADD)
    assert page.status_code == 200
    assert "http://localhost:8000/sso/callback/" in page.content.decode()

    saved = owner_client.post(ADD, entra_form(owner))

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    provider = IdentityProvider.objects.get(tenant=tenant)
    assert SECRET not in provider.client_secret_encrypted
    assert secret_decrypt(provider.client_secret_encrypted) == SECRET
    assert provider.expected_issuer == (
        "https://login.microsoftonline.com/8f4c2d1e-0b7a-4c5e-9d3f-2a1b0c9e8d7f/v2.0"
    )
    assert "common" not in provider.metadata_url
    assert SECRET not in owner_client.get(change_url(provider)).content.decode()
    event = AuditEvent.objects.get(event=AuditEventType.SSO_PROVIDER_CHANGED)
    assert SECRET not in str(event.details)


def test_an_empty_secret_keeps_it_and_a_new_one_replaces_it(owner_client, owner, tenant):
    owner_client.post(ADD, entra_form(owner))
    provider = IdentityProvider.objects.get(tenant=tenant)
    stored = provider.client_secret_encrypted

    owner_client.post(change_url(provider), entra_form(owner, client_secret="", policy="optional"))
    provider.refresh_from_db()
    assert provider.client_secret_encrypted == stored

    owner_client.post(change_url(provider), entra_form(owner, client_secret="rotated-secret"))
    provider.refresh_from_db()
    assert secret_decrypt(provider.client_secret_encrypted) == "rotated-secret"
    assert AuditEvent.objects.filter(event=AuditEventType.SSO_PROVIDER_SECRET_ROTATED).exists()


def test_required_sso_needs_a_break_glass_owner(owner_client, owner, technician, tenant):
    response = owner_client.post(
        ADD, entra_form(owner, policy="required", break_glass=[str(technician.pk)])
    )

    assert response.status_code == 200
    assert "at least one active Owner" in response.content.decode()
    assert not IdentityProvider.objects.exists()


def test_a_role_for_new_people_cannot_be_an_owners(owner_client, owner, tenant):
    owner_role = owner.role
    response = owner_client.post(ADD, entra_form(owner, new_person_role=str(owner_role.pk)))

    assert response.status_code == 200
    assert "can&#x27;t be made Owners" in response.content.decode()


def test_the_owner_who_is_break_glass_can_still_sign_in_when_demoted_owners_remain(
    tenant, owner, oidc, password
):
    """An Owner is never shut out: with no active break-glass Owner left, Owners may use
    their password again."""
    second_owner = UserFactory(
        tenant=tenant, builtin=scopes.OWNER, email="second@northwind.example"
    )
    provider_set_up(
        tenant=tenant,
        owner=owner,
        oidc=oidc,
        policy=IdentityProvider.Policy.REQUIRED,
        break_glass=[owner],
    )
    assert sign_in_attempt_status(second_owner.email, password) == 403
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert sign_in_attempt_status(second_owner.email, password) == 302


def sign_in_attempt_status(email: str, password: str) -> int:
    from tests.signing_in import sign_in_attempt

    return sign_in_attempt(Client(), email, password).status_code


def test_people_without_security_write_never_see_the_settings(tenant, owner, oidc):
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=oidc)
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN)
    client = sign_in(Client(), admin)

    assert client.get(change_url(provider)).status_code in (302, 403, 404)
    assert client.get(ADD).status_code in (302, 403)


def test_another_tenants_provider_is_a_404(owner_client, other_tenant, other_owner, oidc):
    theirs = provider_set_up(tenant=other_tenant, owner=other_owner, oidc=oidc)

    assert owner_client.get(change_url(theirs)).status_code == 404


def test_owners_cannot_claim_domains(owner_client, tenant):
    response = owner_client.post(
        "/admin/sso/claimeddomain/add/", {"domain": "northwind.example", "note": ""}
    )

    assert response.status_code == 403
    assert not ClaimedDomain.objects.exists()


def test_an_operator_claims_a_domain_in_the_admin(tenant):
    client = sign_in(Client(), OperatorFactory())

    response = client.post(
        "/admin/sso/claimeddomain/add/",
        {"tenant": str(tenant.pk), "domain": "Northwind.Example", "note": "DNS TXT checked"},
    )

    assert response.status_code == 302, response.content
    assert ClaimedDomain.objects.get().domain == "northwind.example"
    assert AuditEvent.objects.filter(event=AuditEventType.SSO_DOMAIN_CLAIMED).count() == 1


def test_the_domain_command_claims_lists_and_releases(tenant, other_tenant, capsys):
    call_command("sso_domain", "--tenant", tenant.slug, "--claim", "northwind.example")
    with pytest.raises(CommandError) as taken:
        call_command("sso_domain", "--tenant", other_tenant.slug, "--claim", "northwind.example")
    assert taken.value.returncode == 2
    assert "already claimed" in str(taken.value)
    with pytest.raises(CommandError):
        call_command("sso_domain", "--tenant", tenant.slug, "--claim", "not a domain")

    call_command("sso_domain")
    assert f"northwind.example\t{tenant.slug}" in capsys.readouterr().out

    call_command("sso_domain", "--release", "northwind.example")
    assert not ClaimedDomain.objects.exists()
    assert AuditEvent.objects.filter(event=AuditEventType.SSO_DOMAIN_RELEASED).count() == 1


def test_keys_rotate_new_first_old_still_read(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old]
    stored = secret_encrypt("the-secret")

    settings.FIELD_ENCRYPTION_KEY = [new, old]
    assert secret_decrypt(stored) == "the-secret"
    call_command("sso_secrets_reencrypt")

    settings.FIELD_ENCRYPTION_KEY = [new]
    with pytest.raises(SecretUnreadable):
        secret_decrypt(stored)


def test_reencrypting_moves_stored_secrets_to_the_first_key(settings, tenant, owner, oidc):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old]
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=oidc)

    settings.FIELD_ENCRYPTION_KEY = [new, old]
    call_command("sso_secrets_reencrypt")
    settings.FIELD_ENCRYPTION_KEY = [new]

    provider.refresh_from_db()
    assert secret_decrypt(provider.client_secret_encrypted)
