"""Signing in through a tenant's identity provider, against a real OpenID Connect provider on
the loopback interface (tests/oidc_provider.py)."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core import mail
from django.test import Client

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.models import IdentityProvider, ProviderIdentity
from tests.signing_in import VERIFY, fail_sign_in, sign_in_attempt
from tests.sso.conftest import START, provider_leg, provider_set_up, sso_sign_in

pytestmark = pytest.mark.django_db

DASHBOARD = "/"


def signed_in_as(client) -> User | None:
    response = client.get(DASHBOARD)
    return response.wsgi_request.user if response.status_code == 200 else None


def refusals(reason: str | None = None):
    events = AuditEvent.objects.filter(event=AuditEventType.SSO_SIGN_IN_FAILED)
    return events.filter(details__reason=reason) if reason else events


def test_full_code_flow_signs_in_a_person_and_binds_their_subject(
    client, sso_tenant, technician, oidc
):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 302 and response.url == DASHBOARD
    assert signed_in_as(client) == technician
    authorization = oidc.last_authorization
    assert authorization["code_challenge_method"] == "S256"
    assert authorization["nonce"] and authorization["state"]
    assert authorization["login_hint"] == technician.email
    identity = ProviderIdentity.objects.get(user=technician)
    assert (identity.issuer, identity.subject) == (oidc.issuer, "sub-tess")
    signed_in = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_SUCCEEDED, target=technician)
    assert signed_in.details["via"] == {
        "provider": sso_tenant.label,
        "kind": "oidc",
        "subject": "sub-tess",
    }
    assert AuditEvent.objects.filter(
        event=AuditEventType.SSO_IDENTITY_LINKED, target=technician
    ).exists()
    history = client.get("/audit/logins/")
    assert "Via your organisation" in history.content.decode()


def test_after_binding_the_subject_decides_not_the_email(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    sso_sign_in(client, technician.email)
    client.post("/accounts/logout/")
    # The provider now reports another person's email for the same subject.
    oidc.sign_in_as(sub="sub-tess", email="owner@northwind.example")

    sso_sign_in(client, technician.email)

    assert signed_in_as(client) == technician


def test_a_new_subject_with_a_bound_persons_email_is_refused(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    sso_sign_in(client, technician.email)
    client.post("/accounts/logout/")
    oidc.sign_in_as(sub="sub-impostor", email=technician.email)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 403
    assert signed_in_as(client) is None
    assert refusals("person_bound_to_another_subject").exists()


def test_a_subject_bound_in_one_tenant_never_signs_in_through_another(
    client, sso_tenant, technician, oidc, other_tenant, other_owner
):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    sso_sign_in(client, technician.email)
    client.post("/accounts/logout/")
    provider_set_up(tenant=other_tenant, owner=other_owner, oidc=oidc)
    from sso.services import domain_claim

    domain_claim(tenant=other_tenant, domain="contoso.example")

    response = sso_sign_in(client, "anyone@contoso.example")

    assert response.status_code == 403
    assert signed_in_as(client) is None
    assert refusals("subject_of_another_tenant").exists()


def test_another_tenants_person_is_never_signed_in(
    client, sso_tenant, oidc, other_tenant, other_owner
):
    oidc.sign_in_as(sub="sub-other", email=other_owner.email)

    response = sso_sign_in(client, "someone@northwind.example")

    assert response.status_code == 403
    assert signed_in_as(client) is None
    assert refusals("person_of_another_tenant").exists()
    assert not ProviderIdentity.objects.exists()


def test_an_email_on_an_unclaimed_domain_gets_the_password_form(client, sso_tenant):
    response = client.post(START, {"username": "someone@elsewhere.example"}, follow=True)

    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Single sign-on is not set up for that email" in response.content.decode()
    assert 'value="someone@elsewhere.example"' in response.content.decode()
    assert (
        'value="someone@elsewhere.example"' not in client.get("/accounts/login/").content.decode()
    )


def test_a_mistyped_email_stays_typed_after_single_sign_on_refuses_it(client):
    response = client.post(START, {"username": "someone@"}, follow=True)

    assert "Enter a whole email address" in response.content.decode()
    assert 'value="someone@"' in response.content.decode()


def test_a_wrong_state_is_refused(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    callback = provider_leg(client, technician.email)
    path, _, query = callback.partition("?")
    params = parse_qs(query)

    response = client.get(path, {"code": params["code"][0], "state": "forged-state"})

    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert refusals("mismatching_state").exists()
    assert oidc.token_requests == 0


def test_a_callback_is_good_once(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    callback = provider_leg(client, technician.email)

    assert client.get(callback).status_code == 302
    client.post("/accounts/logout/")
    replayed = client.get(callback)

    assert replayed.status_code == 400
    assert refusals("no_sign_in_started").exists()


def test_a_replayed_nonce_is_refused(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    provider_leg(client, technician.email)
    old_nonce = oidc.last_authorization["nonce"]
    fresh = type(client)()
    oidc.next_token_claims = {"nonce": old_nonce}

    response = sso_sign_in(fresh, technician.email)

    assert response.status_code == 400
    assert signed_in_as(fresh) is None
    assert refusals().filter(details__reason__startswith="id_token").exists()


@pytest.mark.parametrize(
    "audience",
    [
        {"aud": "some-other-client"},
        # An `azp` naming us doesn't make another client's token ours.
        {"aud": "some-other-client", "azp": "portcullis-test-client"},
    ],
)
def test_a_token_for_another_audience_is_refused(client, sso_tenant, technician, oidc, audience):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    oidc.next_token_claims = audience

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert refusals("id_token_invalid_claim").exists()


def test_an_expired_token_is_refused_past_a_minute_of_skew(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    now = int(time.time())
    oidc.next_token_claims = {"iat": now - 600, "exp": now - 90}

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert refusals("id_token_expired_token").exists()


def test_a_token_within_a_minute_of_skew_is_accepted(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    now = int(time.time())
    oidc.next_token_claims = {"iat": now - 600, "exp": now - 30}

    sso_sign_in(client, technician.email)

    assert signed_in_as(client) == technician


def test_an_unknown_key_is_refused_and_a_rotated_key_is_fetched(
    client, sso_tenant, technician, oidc
):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    sso_sign_in(client, technician.email)
    client.post("/accounts/logout/")
    fetches = oidc.jwks_fetches
    assert fetches == 1

    oidc.key_unpublished_sign()
    forged = sso_sign_in(client, technician.email)

    assert forged.status_code == 400
    assert signed_in_as(client) is None
    assert refusals().filter(details__reason__startswith="id_token").exists()
    assert oidc.jwks_fetches == fetches + 1  # the unknown kid fetched the keys again, once

    oidc.key_rotate()
    sso_sign_in(client, technician.email)

    assert signed_in_as(client) == technician
    assert oidc.jwks_fetches == fetches + 2


def test_an_unverified_email_is_refused(client, sso_tenant, technician, oidc):
    oidc.sign_in_as(sub="sub-tess", email=technician.email, email_verified=False)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 403
    assert signed_in_as(client) is None
    assert refusals("email_not_verified").exists()


def test_an_unknown_person_is_refused_without_a_role_for_new_people(client, sso_tenant, oidc):
    oidc.sign_in_as(sub="sub-new", email="newcomer@northwind.example")

    response = sso_sign_in(client, "newcomer@northwind.example")

    assert response.status_code == 403
    assert not User.objects.filter(email="newcomer@northwind.example").exists()
    assert refusals("no_such_person").exists()


def test_a_role_for_new_people_creates_them_on_a_claimed_domain_only(
    client, sso_tenant, owner, oidc
):
    from sso.services import provider_save
    from teams.models import Role

    sso_tenant.new_person_role = Role.objects.get(tenant=sso_tenant.tenant, name="Technician")
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)
    oidc.sign_in_as(sub="sub-stranger", email="stranger@elsewhere.example", name="Stranger")
    refused = sso_sign_in(client, "someone@northwind.example")
    assert refused.status_code == 403
    assert refusals("email_domain_not_claimed").exists()

    oidc.sign_in_as(sub="sub-new", email="newcomer@northwind.example", name="New Comer")
    sso_sign_in(client, "newcomer@northwind.example")

    newcomer = User.objects.get(email="newcomer@northwind.example")
    assert signed_in_as(client) == newcomer
    assert newcomer.tenant == sso_tenant.tenant and newcomer.role.name == "Technician"
    assert not newcomer.has_usable_password()
    assert AuditEvent.objects.filter(event=AuditEventType.SSO_PERSON_CREATED).count() == 1


def test_the_second_step_is_still_asked_by_default(client, sso_tenant, user_with_totp, oidc):
    oidc.sign_in_as(sub="sub-tess", email=user_with_totp.email, amr=["pwd", "mfa"])

    response = sso_sign_in(client, user_with_totp.email)

    assert response.status_code == 302 and response.url.startswith(VERIFY)
    assert signed_in_as(client) is None


def test_the_providers_mfa_stands_in_when_the_policy_accepts_it(
    client, sso_tenant, owner, user_with_totp, oidc
):
    from sso.services import provider_save

    sso_tenant.provider_mfa_accepted = True
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)
    oidc.sign_in_as(sub="sub-tess", email=user_with_totp.email, amr=["pwd"])
    sso_sign_in(client, user_with_totp.email)
    assert signed_in_as(client) is None  # one factor at the provider: still asked
    client = type(client)()

    oidc.sign_in_as(sub="sub-tess", email=user_with_totp.email, amr=["pwd", "mfa"])
    sso_sign_in(client, user_with_totp.email)

    assert signed_in_as(client) == user_with_totp
    signed_in = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_SUCCEEDED)
    assert signed_in.details["second_factor"] == "identity_provider"


def test_a_locked_account_is_not_signed_in_through_the_provider(
    client, sso_tenant, technician, oidc, settings
):
    for _ in range(settings.LOCKOUT_FAILURES - 1):
        fail_sign_in(type(client)(), technician.email)
    assert sign_in_attempt(type(client)(), technician.email, "wrong-again").status_code == 429
    oidc.sign_in_as(sub="sub-tess", email=technician.email)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 429
    assert signed_in_as(client) is None


def test_an_unreachable_provider_is_a_clear_page(client, sso_tenant, oidc):
    oidc.stop()

    response = client.post(START, {"username": "tech@northwind.example"})

    assert response.status_code == 502
    assert "Try again in a minute" in response.content.decode()


def test_sso_required_refuses_the_password_but_not_a_break_glass_owner(
    client, sso_tenant, owner, technician, password
):
    from sso.services import provider_save

    sso_tenant.policy = IdentityProvider.Policy.REQUIRED
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)

    refused = sign_in_attempt(client, technician.email, password)

    assert refused.status_code == 403
    assert "Sign in with" in refused.content.decode()
    assert signed_in_as(client) is None
    assert AuditEvent.objects.filter(
        event=AuditEventType.SSO_PASSWORD_REFUSED, target=technician
    ).exists()

    allowed = sign_in_attempt(type(client)(), owner.email, password)
    assert allowed.status_code == 302 and allowed.url == DASHBOARD


def test_sso_required_sends_no_reset_mail(
    client, sso_tenant, owner, technician, django_capture_on_commit_callbacks
):
    from sso.services import provider_save

    sso_tenant.policy = IdentityProvider.Policy.REQUIRED
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)
    mail.outbox.clear()

    for email in (technician.email, owner.email):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/accounts/password/reset/", {"email": email})

    assert [message.to for message in mail.outbox] == [[owner.email]]
    outcome = AuditEvent.objects.get(
        event=AuditEventType.PASSWORD_RESET_REQUESTED, target=technician
    )
    assert outcome.details["outcome"] == "single_sign_on_required"


def test_a_wrong_password_under_sso_required_says_nothing_of_the_policy(
    client, sso_tenant, owner, technician
):
    from sso.services import provider_save

    sso_tenant.policy = IdentityProvider.Policy.REQUIRED
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)

    response = sign_in_attempt(client, technician.email, "a-wrong-password-entirely")

    assert response.status_code == 200
    assert "Sign in with" not in response.content.decode().split("</form>")[0].split("<form")[0]
    assert not AuditEvent.objects.filter(event=AuditEventType.SSO_PASSWORD_REFUSED).exists()


def test_the_provider_never_sees_the_password_typed_on_the_sign_in_page(
    client, sso_tenant, technician, oidc
):
    started = client.post(START, {"username": technician.email, "password": "typed-by-mistake"})

    location = started.context["location"]
    assert "typed-by-mistake" not in started.content.decode()
    assert urlsplit(location).netloc == urlsplit(oidc.issuer).netloc
    requests.get(location, allow_redirects=False, timeout=5)
    assert "typed-by-mistake" not in str(oidc.last_authorization)


def test_sso_required_refuses_an_owners_reset_link_in_the_admin(
    sso_tenant, owner, technician, password
):
    from sso.services import provider_save
    from tests.signing_in import sign_in

    sso_tenant.policy = IdentityProvider.Policy.REQUIRED
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)
    owner_client = sign_in(Client(), owner)
    mail.outbox.clear()

    response = owner_client.post(
        "/admin/accounts/user/",
        {"action": "send_reset_link", "_selected_action": [str(technician.pk)]},
        follow=True,
    )

    assert "signs in with" in response.content.decode()
    assert mail.outbox == []


@pytest.mark.parametrize("typed", ["", "not-an-email", "tess\x00@northwind.example", "x" * 300])
def test_a_malformed_email_gets_a_message_not_an_error(client, sso_tenant, typed):
    response = client.post(START, {"username": typed}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert 'class="message message-error"' in response.content.decode()


def test_the_ip_access_list_holds_for_sign_ins_through_the_provider(
    client, sso_tenant, technician, oidc
):
    from teams.models import AccessListEntry
    from teams.services.access_list import access_list_entry_save, access_list_switch

    access_list_entry_save(
        entry=AccessListEntry(tenant=sso_tenant.tenant, network="192.0.2.0/24", label="Office"),
        roles=[],
        actor=None,
    )
    access_list_switch(tenant=sso_tenant.tenant, enabled=True, actor=None)
    oidc.sign_in_as(sub="sub-tess", email=technician.email)

    outside = sso_sign_in(client, technician.email, REMOTE_ADDR="198.51.100.7")

    assert outside.status_code == 403
    assert "approved networks" in outside.content.decode()
    assert signed_in_as(client) is None
    assert AuditEvent.objects.filter(
        event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST, target=technician
    ).exists()
    inside = Client()
    sso_sign_in(inside, technician.email, REMOTE_ADDR="192.0.2.10")
    assert inside.get(DASHBOARD, REMOTE_ADDR="192.0.2.10").status_code == 200


def test_an_email_alone_is_offered_its_tenants_provider(client, sso_tenant, technician):
    response = client.post("/accounts/login/", {"username": technician.email, "password": ""})

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Continue with {sso_tenant.label}".replace("'", "&#x27;") in page
    assert "This field is required" not in page
    assert f'value="{technician.email}"' in page


def test_an_email_alone_goes_straight_to_a_required_provider(
    client, sso_tenant, owner, technician, oidc
):
    from sso.services import provider_save

    sso_tenant.policy = IdentityProvider.Policy.REQUIRED
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)

    response = client.post("/accounts/login/", {"username": technician.email, "password": ""})

    assert response.status_code == 200
    assert response.context["location"].startswith(f"{oidc.issuer}/authorize?")


def test_an_email_alone_on_an_unclaimed_domain_is_asked_for_the_password(client, sso_tenant):
    response = client.post("/accounts/login/", {"username": "x@elsewhere.example", "password": ""})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert "Continue with" not in response.content.decode()


def test_another_providers_name_is_what_people_see(client, sso_tenant, owner, technician):
    from sso.services import provider_save

    sso_tenant.name = "Okta"
    provider_save(provider=sso_tenant, client_secret="", break_glass=[owner], actor=owner)

    offered = client.post("/accounts/login/", {"username": technician.email, "password": ""})

    assert "Continue with Okta" in offered.content.decode()


def test_a_remembered_browser_skips_the_second_step_after_the_provider_too(
    sso_tenant, user_with_totp, oidc
):
    from tests.mfa.test_remembered_browser import remembered_client

    browser = remembered_client(user_with_totp)
    browser.post("/accounts/logout/")
    oidc.sign_in_as(sub="sub-tess", email=user_with_totp.email)

    response = sso_sign_in(browser, user_with_totp.email)

    assert response.status_code == 302 and not response.url.startswith(VERIFY)
    assert signed_in_as(browser) == user_with_totp
    fresh = Client()
    assert sso_sign_in(fresh, user_with_totp.email).url.startswith(VERIFY)
