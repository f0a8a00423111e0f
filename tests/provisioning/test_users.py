"""The SCIM Users endpoint, driven with recorded Entra- and Okta-shaped bodies."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from provisioning.models import DirectoryPerson, ProvisioningToken
from provisioning.services.settings import provisioning_settings_save
from provisioning.services.tokens import token_create, token_revoke
from sso.models import ProviderIdentity
from teams.models import RememberedBrowser, UserSession
from teams.tokens import set_password_tokens
from tests.factories import UserFactory, UserSessionFactory
from tests.provisioning.conftest import SCIM, Scim, body, token_for
from tests.signing_in import sign_in
from tests.sso.test_set_password_links import sso_required

pytestmark = pytest.mark.django_db


def events(kind):
    return AuditEvent.objects.filter(event=kind)


def test_entra_create_adds_a_person_with_the_least_role_and_no_mail_by_default(scim, tenant):
    response = scim.post("Users", body("entra_create_user"))

    assert response.status_code == 201
    assert response["Content-Type"] == SCIM
    person = User.objects.get(email="dana.joiner@northwind.example")
    assert person.tenant == tenant
    assert person.full_name == "Dana Joiner"
    assert person.role.name == "Technician"
    assert not person.has_usable_password()
    assert response.json()["id"] == str(person.pk)
    assert response["Location"].endswith(f"/scim/v2/Users/{person.pk}")
    assert person.directory_link.external_id == "5f0c4a5e-8f1e-4c8e-9d0b-2c7a1c6b0a11"
    assert not OutboxMail.objects.filter(to=person.email).exists()
    invited = events(AuditEventType.PERSON_INVITED).get(target=person)
    assert invited.actor_id is None
    assert invited.actor_label == "provisioning: Entra ID"


def test_the_same_create_twice_is_a_uniqueness_conflict_not_a_second_person(scim):
    assert scim.post("Users", body("okta_create_user")).status_code == 201

    again = scim.post("Users", body("okta_create_user"))

    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    assert again.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert User.objects.filter(email="omar.okta@northwind.example").count() == 1


def test_joiners_are_mailed_the_invitation_once_the_tenant_turns_it_on(scim, tenant, owner):
    provisioning_settings_save(tenant=tenant, actor=owner, mail_joiners=True, manage_owners=False)

    scim.post("Users", body("okta_create_user"))

    mail = OutboxMail.objects.get(to="omar.okta@northwind.example")
    assert mail.kind == "invitation"


@pytest.mark.parametrize(
    "address",
    ['"quoted"@northwind.example', "dana@[192.0.2.1]", "dana@nоrthwind.example"],
)
def test_user_name_passes_the_same_email_checks_as_everywhere(scim, address):
    payload = body("entra_create_user")
    payload["userName"] = address
    payload["emails"][0]["value"] = "dana@northwind.example"

    response = scim.post("Users", payload)

    assert response.status_code == 400
    assert response.json()["scimType"] in {"invalidValue", "invalidSyntax"}
    assert not User.objects.filter(full_name="Dana Joiner").exists()


def test_a_control_character_in_a_name_is_refused(scim):
    payload = body("entra_create_user")
    payload["displayName"] = "Dana\x1b[31m Joiner"

    response = scim.post("Users", payload)

    assert response.status_code == 400
    assert not User.objects.filter(email="dana.joiner@northwind.example").exists()


def test_filters_find_people_by_user_name_external_id_email_and_active(scim, technician):
    scim.post("Users", body("entra_create_user"))

    def found(expression):
        response = scim.get("Users", data={"filter": expression})
        assert response.status_code == 200, response.content
        return [r["userName"] for r in response.json()["Resources"]]

    assert found('userName eq "DANA.JOINER@northwind.example"') == ["dana.joiner@northwind.example"]
    assert found('externalId eq "5f0c4a5e-8f1e-4c8e-9d0b-2c7a1c6b0a11"') == [
        "dana.joiner@northwind.example"
    ]
    assert found('emails.value eq "tech@northwind.example"') == ["tech@northwind.example"]
    assert found('emails[type eq "work" and value eq "tech@northwind.example"]') == [
        "tech@northwind.example"
    ]
    assert set(found("active eq true")) >= {"tech@northwind.example", "owner@northwind.example"}
    assert found('userName eq "nobody@northwind.example"') == []
    bad = scim.get("Users", data={"filter": 'userName zz "x"'})
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"


def test_pagination_pages_through_the_tenant_people(scim, tenant):
    for n in range(5):
        UserFactory(tenant=tenant, email=f"page{n}@northwind.example")

    first = scim.get("Users", data={"startIndex": 1, "count": 2}).json()
    third = scim.get("Users", data={"startIndex": 5, "count": 2}).json()

    assert first["totalResults"] == 6  # the owner and five more
    assert first["itemsPerPage"] == 2 and len(first["Resources"]) == 2
    assert third["startIndex"] == 5 and len(third["Resources"]) == 2


def test_entra_patch_renames_the_email_and_given_name_keeping_the_person(scim):
    person_id = scim.post("Users", body("entra_create_user")).json()["id"]

    response = scim.patch(f"Users/{person_id}", body("entra_patch_user"))

    assert response.status_code == 200, response.content
    person = User.objects.get(pk=person_id)
    assert person.email == "dana.renamed@northwind.example"
    assert person.full_name == "Danielle Joiner"
    assert OutboxMail.objects.filter(kind="email_changed", to="dana.joiner@northwind.example")
    found = scim.get(
        "Users", data={"filter": 'externalId eq "5f0c4a5e-8f1e-4c8e-9d0b-2c7a1c6b0a11"'}
    )
    assert found.json()["Resources"][0]["id"] == person_id


def test_put_replaces_name_and_email(scim):
    created = scim.post("Users", body("okta_create_user")).json()
    replacement = body("okta_create_user")
    replacement["userName"] = "omar.renamed@northwind.example"
    replacement["displayName"] = "Omar Renamed"

    response = scim.put(f"Users/{created['id']}", replacement)

    assert response.status_code == 200
    assert response.json()["userName"] == "omar.renamed@northwind.example"
    assert User.objects.get(pk=created["id"]).full_name == "Omar Renamed"


@pytest.mark.parametrize("shape", ["entra_disable_user", "okta_deactivate_user"])
def test_deactivating_ends_sessions_browsers_and_links_at_once(scim, technician, shape):
    link_token = set_password_tokens.make_token(technician)
    UserSessionFactory(user=technician)
    RememberedBrowser.objects.create(
        user=technician,
        tenant=technician.tenant,
        token_hash="0" * 64,
        created_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=30),
    )

    response = scim.patch(f"Users/{technician.pk}", body(shape))

    assert response.status_code == 200, response.content
    assert response.json()["active"] is False
    technician.refresh_from_db()
    assert not technician.is_active
    assert not UserSession.objects.filter(user=technician).exists()
    assert not RememberedBrowser.objects.filter(user=technician).exists()
    assert not set_password_tokens.check_token(technician, link_token)
    event = events(AuditEventType.PERSON_DEACTIVATED).get(target=technician)
    assert event.actor_label == "provisioning: Entra ID"

    back = scim.patch(
        f"Users/{technician.pk}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": True}],
        },
    )

    assert back.status_code == 200
    technician.refresh_from_db()
    assert technician.is_active
    assert not set_password_tokens.check_token(technician, link_token)
    assert events(AuditEventType.PERSON_REACTIVATED).filter(target=technician).exists()


def test_delete_deactivates_unlinks_and_keeps_the_history(scim, technician):
    ProviderIdentity.objects.create(
        tenant=technician.tenant,
        user=technician,
        issuer="https://login.microsoftonline.com/x/v2.0",
        subject="abc",
        email_at_link=technician.email,
    )

    response = scim.delete(f"Users/{technician.pk}")

    assert response.status_code == 204
    technician.refresh_from_db()
    assert not technician.is_active
    assert not ProviderIdentity.objects.filter(user=technician).exists()
    assert DirectoryPerson.objects.get(user=technician).removed_at is not None
    assert events(AuditEventType.SSO_IDENTITY_UNLINKED).filter(target=technician).exists()
    assert events(AuditEventType.DIRECTORY_PERSON_REMOVED).filter(target=technician).exists()
    assert scim.get(f"Users/{technician.pk}").status_code == 404


def test_another_tenants_person_is_a_404_and_an_audited_refusal(scim, other_tenant, tenant):
    stranger = UserFactory(tenant=other_tenant, email="stranger@contoso.example")

    for response in (
        scim.get(f"Users/{stranger.pk}"),
        scim.patch(f"Users/{stranger.pk}", body("okta_deactivate_user")),
        scim.delete(f"Users/{stranger.pk}"),
    ):
        assert response.status_code == 404
        assert response.json()["status"] == "404"
    stranger.refresh_from_db()
    assert stranger.is_active
    refusal = events(AuditEventType.PROVISIONING_OTHER_TENANT_REFUSED).get()
    assert refusal.tenant == tenant
    assert refusal.actor_label == "provisioning: Entra ID"


def test_revoked_expired_and_unknown_tokens_are_refused(client, tenant, owner, clock):
    revoked = token_for(tenant, name="Old")
    token_revoke(token=ProvisioningToken.objects.get(name="Old"), actor=owner)
    expiring = token_for(tenant, name="Soon")

    assert Scim(client, revoked).get("Users").status_code == 401
    assert Scim(client, "pcs_not-a-token").get("Users").status_code == 401
    assert Scim(client, expiring).get("Users").status_code == 200
    clock.shift(366 * 24 * 3600)
    assert Scim(client, expiring).get("Users").status_code == 401
    reasons = set(
        events(AuditEventType.PROVISIONING_REFUSED).values_list("details__reason", flat=True)
    )
    assert reasons == {"revoked", "unknown_token", "expired"}
    assert events(AuditEventType.PROVISIONING_TOKEN_REVOKED).count() == 1


def test_use_is_recorded_once_a_minute_per_token(scim, clock):
    for _ in range(3):
        assert scim.get("Users").status_code == 200
    clock.shift(61)
    scim.get("Users")

    assert events(AuditEventType.PROVISIONING_TOKEN_USED).count() == 2


def test_the_rate_limit_and_size_limit_answer_429_and_413(scim, settings):
    settings.SCIM_RATE_LIMIT_PER_MINUTE = 2
    settings.SCIM_MAX_REQUEST_BYTES = 100

    too_big = scim.post("Users", body("entra_create_user"))
    assert too_big.status_code == 413
    assert scim.get("Users").status_code == 200
    assert scim.get("Users").status_code == 429
    assert events(AuditEventType.RATE_LIMIT_DROPPED).count() == 1


def test_owners_are_untouchable_unless_the_tenant_allows_and_the_last_stays(scim, owner, tenant):
    refused = scim.patch(f"Users/{owner.pk}", body("okta_deactivate_user"))
    assert refused.status_code == 403
    owner.refresh_from_db()
    assert owner.is_active

    provisioning_settings_save(tenant=tenant, actor=owner, mail_joiners=False, manage_owners=True)
    last = scim.patch(f"Users/{owner.pk}", body("okta_deactivate_user"))

    assert last.status_code == 400
    assert "last Owner" in last.json()["detail"]
    owner.refresh_from_db()
    assert owner.is_active


def test_discovery_endpoints(scim):
    config = scim.get("ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True
    assert config["bulk"]["supported"] is False
    names = {r["name"] for r in scim.get("ResourceTypes").json()["Resources"]}
    assert names == {"User", "Group"}
    assert scim.get("Schemas").json()["totalResults"] == 3


def test_scim_token_command_prints_the_token_once_and_the_base_url(tenant, capsys, client):
    call_command("scim_token", "--tenant", tenant.slug, "--name", "Okta")

    printed = capsys.readouterr().out
    token = next(line.split(": ", 1)[1] for line in printed.splitlines() if "Secret token" in line)
    assert "/scim/v2/" in printed
    assert Scim(client, token).get("ServiceProviderConfig").status_code == 200
    assert events(AuditEventType.PROVISIONING_TOKEN_CREATED).get().details["token"] == "Okta"


def test_joiners_of_a_tenant_requiring_single_sign_on_get_no_password_link(
    scim, tenant, owner, sso_tenant
):
    sso_required(sso_tenant, owner)
    provisioning_settings_save(tenant=tenant, actor=owner, mail_joiners=True, manage_owners=False)

    assert scim.post("Users", body("okta_create_user")).status_code == 201

    welcome = OutboxMail.objects.get(to="omar.okta@northwind.example")
    assert "Northwind Login" in welcome.body_text
    assert "/accounts/reset/" not in welcome.body_text + welcome.body_html


def test_saving_a_tokens_page_again_makes_no_second_token(tenant, owner):
    row, _token = token_create(tenant=tenant, name="Okta", actor=owner)
    page = f"/admin/provisioning/provisioningtoken/{row.pk}/change/"
    owner_client = sign_in(Client(), owner)

    assert owner_client.get(page).status_code == 200
    owner_client.post(page, {"name": "Renamed"})

    assert list(ProvisioningToken.objects.values_list("name", flat=True)) == ["Okta"]
