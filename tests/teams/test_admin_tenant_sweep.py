"""The admin tenant sweep: as an Owner of tenant A, walk every registered ModelAdmin and every
URL of the admin, and prove nothing of tenant B (or of no tenant) is visible or reachable.

New models or admin URLs make this test fail until it is told about them, so the sweep stays
complete as the admin grows.
"""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.contenttypes.models import ContentType
from django.db.models import ForeignKey, ManyToManyField
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent, AuditWebhook
from audit.webhooks import audit_webhook_set
from provisioning.models import DirectoryGroup, ProvisioningSettings, ProvisioningToken
from provisioning.services.settings import provisioning_settings_save
from provisioning.services.tokens import token_create
from reviews.models import AccessReviewEntry
from sso.domain_verification import domain_verification_start
from sso.models import ClaimedDomain, DomainVerification, IdentityProvider, ProviderIdentity
from sso.services import domain_claim, provider_save
from support.models import RecoveryRequest
from teams import scopes
from teams.models import AccessListEntry, AccessListException, Role, Tenant, UserSession
from teams.services.access_list import access_list_entry_save, access_list_exception_save
from teams.services.roles import role_create
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import fail_sign_in, sign_in

B_MARKERS = ("contoso", "Contoso", "203.0.113.99", "Secret Role", "platform.example")


def tenant_a_rows(model, tenant) -> set:
    """What an Owner of `tenant` may see of `model`, defined independently of the admin code."""
    rows = {
        User: User.objects.filter(tenant=tenant),
        AccessReviewEntry: User.objects.filter(tenant=tenant),
        Role: Role.objects.filter(tenant=tenant),
        Tenant: Tenant.objects.filter(pk=tenant.pk),
        UserSession: UserSession.objects.filter(user__tenant=tenant),
        AuditEvent: AuditEvent.objects.filter(tenant=tenant),
        AuditWebhook: AuditWebhook.objects.filter(tenant=tenant),
        RecoveryRequest: RecoveryRequest.objects.filter(tenant=tenant),
        AccessListEntry: AccessListEntry.objects.filter(tenant=tenant),
        AccessListException: AccessListException.objects.filter(tenant=tenant),
        IdentityProvider: IdentityProvider.objects.filter(tenant=tenant),
        ClaimedDomain: ClaimedDomain.objects.filter(tenant=tenant),
        DomainVerification: DomainVerification.objects.filter(tenant=tenant),
        ProviderIdentity: ProviderIdentity.objects.filter(tenant=tenant),
        ProvisioningToken: ProvisioningToken.objects.filter(tenant=tenant),
        DirectoryGroup: DirectoryGroup.objects.filter(tenant=tenant),
        ProvisioningSettings: ProvisioningSettings.objects.filter(tenant=tenant),
        AccessAttempt: AccessAttempt.objects.filter(
            username__in=User.objects.filter(tenant=tenant).values("email")
        ),
    }
    if model not in rows:
        pytest.fail(f"{model.__name__} is registered in the admin: add it to the tenant sweep.")
    return set(rows[model].values_list("pk", flat=True))


@pytest.fixture
def world(
    tenant,
    other_tenant,
    owner,
    technician,
    other_owner,
    django_capture_on_commit_callbacks,
    settings,
):
    """Two tenants with people, a custom role, sessions, audit events and an audit webhook
    each, and an operator."""
    UserFactory(tenant=other_tenant, email="tech@contoso.example", full_name="Carl Contoso")
    role_create(
        tenant=other_tenant,
        actor=other_owner,
        values={"require_mfa": False, "name": "Contoso Secret Role", "scopes": ["members:read"]},
    )
    role_create(
        tenant=tenant,
        actor=owner,
        values={"require_mfa": False, "name": "Northwind Helpdesk", "scopes": ["audit:read"]},
    )
    for email, ip in (("tech@contoso.example", "203.0.113.99"), (technician.email, "198.51.100.7")):
        fail_sign_in(Client(), email, REMOTE_ADDR=ip)
    for email, ip, note in (
        ("tech@contoso.example", "203.0.113.99", "Contoso Secret Role"),
        (technician.email, "198.51.100.7", "Lost my phone"),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            Client().post(
                "/recovery/", {"email": email, "reason": "locked_out", "note": note}, REMOTE_ADDR=ip
            )
    for owner_of, person, network in (
        (other_owner, User.objects.get(email="tech@contoso.example"), "203.0.113.0/24"),
        (owner, technician, "198.51.100.0/24"),
    ):
        access_list_entry_save(
            entry=AccessListEntry(
                tenant=owner_of.tenant, network=network, label=f"{owner_of.tenant.name} office"
            ),
            roles=list(Role.objects.for_tenant(owner_of.tenant).filter(name="Technician")),
            actor=owner_of,
        )
        access_list_exception_save(
            exception=AccessListException(
                tenant=owner_of.tenant,
                user=person,
                expires_at=timezone.now() + timedelta(days=3),
                reason=f"{owner_of.tenant.name} travel",
            ),
            actor=owner_of,
        )
    # Addresses that are never asked: no event is shipped while the sweep runs.
    settings.AUDIT_WEBHOOK_ALLOW_LOCAL = True
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    for owner_of, url in (
        (other_owner, "https://hooks.contoso.example/audit"),
        (owner, "https://hooks.northwind.example/audit"),
    ):
        audit_webhook_set(actor=owner_of, tenant=owner_of.tenant, url=url)
    provider_save(
        provider=IdentityProvider(
            tenant=other_tenant,
            kind=IdentityProvider.Kind.OIDC,
            discovery_url="https://idp.contoso.example/.well-known/openid-configuration",
            client_id="contoso-client",
        ),
        client_secret="contoso-client-secret",
        break_glass=[other_owner],
        actor=other_owner,
    )
    domain_claim(tenant=other_tenant, domain="contoso.example")
    domain_claim(tenant=tenant, domain="northwind.example")
    for owner_of, domain in ((other_owner, "contoso.test"), (owner, "northwind.test")):
        domain_verification_start(tenant=owner_of.tenant, domain=domain, actor=owner_of)
    ProviderIdentity.objects.create(
        tenant=other_tenant,
        user=User.objects.get(email="tech@contoso.example"),
        issuer="https://idp.contoso.example",
        subject="contoso-subject",
        email_at_link="tech@contoso.example",
    )
    for owner_of in (other_owner, owner):
        token_create(tenant=owner_of.tenant, name=f"{owner_of.tenant.name} directory", actor=None)
        DirectoryGroup.objects.create(
            tenant=owner_of.tenant, display_name=f"{owner_of.tenant.name} admins"
        ).members.add(owner_of)
        provisioning_settings_save(
            tenant=owner_of.tenant, actor=owner_of, mail_joiners=True, manage_owners=False
        )
    sign_in(Client(), other_owner, REMOTE_ADDR="203.0.113.99")
    sign_in(Client(), technician, REMOTE_ADDR="198.51.100.7")
    sign_in(Client(), OperatorFactory(email="root@platform.example"), REMOTE_ADDR="203.0.113.99")
    client = sign_in(Client(), owner)
    forbidden = {}
    for model in admin.site._registry:
        every = set(model._default_manager.values_list("pk", flat=True))
        forbidden[model] = every - tenant_a_rows(model, tenant)
        assert forbidden[model], f"the sweep needs rows of {model.__name__} outside tenant A"
    return client, forbidden


def admin_patterns(resolver_patterns=None, prefix=""):
    """Every URL pattern of the admin, as (route, pattern)."""
    for entry in resolver_patterns if resolver_patterns is not None else admin.site.get_urls():
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from admin_patterns(entry.url_patterns, route)
        else:
            assert isinstance(entry, URLPattern)
            yield route, entry


def assert_nothing_of_b(response) -> None:
    assert response.status_code != 500
    content = response.content.decode(errors="replace")
    for marker in B_MARKERS:
        assert marker not in content, f"{marker!r} leaked into {response.request['PATH_INFO']}"


def listed_pks(response) -> set[str]:
    return set(
        re.findall(
            rf'name="{helpers.ACTION_CHECKBOX_NAME}" value="([^"]+)"',
            response.content.decode(),
        )
    )


def options_of(response, field_name: str) -> set[str]:
    select = re.search(
        rf'<select name="{field_name}"[^>]*>(.*?)</select>', response.content.decode(), re.S
    )
    return set(re.findall(r'<option value="([^"]+)"', select.group(1))) if select else set()


def model_url(model, suffix: str = "") -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{suffix}"


def test_every_registered_model_admin_is_tenant_scoped(db):
    from teams.sites import TenantScopedAdmin

    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, TenantScopedAdmin), model


def test_owner_of_tenant_a_reaches_nothing_of_tenant_b_by_any_admin_url(world):
    client, forbidden = world
    covered = set()

    for route, pattern in admin_patterns():
        params = set(pattern.pattern.converters) | set(pattern.pattern.regex.groupindex)
        if not params:
            url = "/admin/" + route.lstrip("^").rstrip("$")
            response = client.get(url)
            assert_nothing_of_b(response)
            model_admin = getattr(pattern.callback, "model_admin", None)
            if model_admin is not None:
                assert not listed_pks(response) & {str(pk) for pk in forbidden[model_admin.model]}
            covered.add(route)
        elif params == {"object_id"}:
            model = pattern.callback.model_admin.model
            for pk in forbidden[model]:
                url = "/admin/" + route.replace("<path:object_id>", str(pk))
                # `<id>/` only redirects to `<id>/change/`, for any id: follow it.
                assert client.get(url, follow=True).status_code == 404, url
                posted = client.post(url, {"email": "x@y.example", "post": "yes"}, follow=True)
                assert posted.status_code == 404, url
            covered.add(route)
        elif params == {"object_id", "action"}:
            # The person page's actions, confirmation page and POST: every action on one of
            # B's people, and one action on every one of them (each finds the person alike).
            model_admin = pattern.callback.model_admin
            pks = sorted(forbidden[model_admin.model])
            names = [action.name for action in model_admin.person_actions]
            for pk, name in {(pks[0], name) for name in names} | {(pk, names[0]) for pk in pks}:
                url = "/admin/" + route.replace("<path:object_id>", str(pk)).replace(
                    "<slug:action>", name
                )
                assert client.get(url).status_code == 404, url
                assert client.post(url, {"item": "1"}).status_code == 404, url
            covered.add(route)
        elif params == {"content_type_id", "object_id"}:
            for model, pks in forbidden.items():
                content_type = ContentType.objects.get_for_model(model)
                for pk in pks:
                    url = f"/admin/r/{content_type.pk}/{pk}/"
                    assert client.get(url).status_code == 404, url
            covered.add(route)
        elif params == {"app_label"}:
            for app_label in {model._meta.app_label for model in admin.site._registry}:
                response = client.get(f"/admin/{app_label}/")
                assert_nothing_of_b(response)
            covered.add(route)
        elif params == {"url"}:
            assert client.get("/admin/teams/nothing-here/").status_code == 404
            covered.add(route)
        else:
            pytest.fail(f"Admin URL {route} takes {params}: teach the tenant sweep about it.")

    assert len(covered) == len(list(admin_patterns()))


# django-axes' raw lock counters: operators only (owners see locks on the people list).
OPERATOR_ONLY = {AccessAttempt}


def test_owner_sees_only_own_tenant_in_every_list_filter_and_search(world):
    client, forbidden = world

    for model in admin.site._registry:
        if model in OPERATOR_ONLY:
            assert client.get(model_url(model)).status_code == 403
            continue
        changelist = model_url(model)
        queries = [{"q": "Carl"}, {"q": "113.99"}, {"q": "Secret"}, {"_facets": "1"}]
        for field in model._meta.get_fields():
            if field.many_to_one and field.related_model in forbidden:
                for pk in forbidden[field.related_model]:
                    queries.append({f"{field.name}__id__exact": pk})
        for query in queries:
            response = client.get(changelist, query)
            assert response.status_code in {200, 302, 400}, (changelist, query)
            assert_nothing_of_b(response)
            assert not listed_pks(response) & {str(pk) for pk in forbidden[model]}


def test_foreign_key_choices_and_autocomplete_offer_nothing_of_tenant_b(world, tenant):
    client, forbidden = world

    for model in admin.site._registry:
        pages = [model_url(model, "add/")]
        pages += [model_url(model, f"{pk}/change/") for pk in tenant_a_rows(model, tenant)]
        relations = [
            field
            for field in model._meta.get_fields()
            if isinstance(field, ForeignKey | ManyToManyField)
        ]
        for page in pages:
            response = client.get(page)
            assert response.status_code in {200, 403}, page
            assert_nothing_of_b(response)
            for field in relations:
                offered = options_of(response, field.name)
                assert not offered & {str(pk) for pk in forbidden.get(field.related_model, ())}
        for field in relations:
            response = client.get(
                "/admin/autocomplete/",
                {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field.name,
                    "term": "",
                },
            )
            assert response.status_code in {200, 403, 404}
            if response.status_code == 200:
                ids = {result["id"] for result in response.json()["results"]}
                assert ids, "the autocomplete should offer tenant A's own rows"
                assert not ids & {str(pk) for pk in forbidden[field.related_model]}


def snapshot(forbidden) -> dict:
    return {
        (model, pk): model_to_dict(model._default_manager.get(pk=pk))
        for model, pks in forbidden.items()
        for pk in pks
    }


def test_actions_on_tenant_b_rows_change_nothing(world):
    client, forbidden = world
    before = snapshot(forbidden)
    sessions_before = UserSession.objects.count()
    events_before = AuditEvent.objects.exclude(tenant__slug="northwind-it").count()

    for model, model_admin in admin.site._registry.items():
        if model in OPERATOR_ONLY:
            continue
        request = client.get(model_url(model)).wsgi_request
        for action in model_admin.get_actions(request):
            for extra in (
                {},
                {
                    "apply": "1",
                    "confirmed": "yes",
                    "role": Role.objects.get(name="Technician", tenant__slug="northwind-it").pk,
                },
            ):
                response = client.post(
                    model_url(model),
                    {
                        "action": action,
                        "index": 0,
                        helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in forbidden[model]],
                        **extra,
                    },
                )
                assert response.status_code in {200, 302}
                assert_nothing_of_b(response)

    assert snapshot(forbidden) == before
    assert UserSession.objects.count() == sessions_before
    assert AuditEvent.objects.exclude(tenant__slug="northwind-it").count() == events_before


def test_operator_sees_every_tenant(world):
    operator = User.objects.get(email="root@platform.example")
    client = sign_in(Client(), operator)

    people = client.get(model_url(User)).content.decode()

    assert "owner@contoso.example" in people
    assert "owner@northwind.example" in people
    assert client.get(model_url(Tenant)).content.decode().count("Contoso Support") >= 1


def test_owner_sees_own_rows_in_every_list(world, tenant):
    client, _ = world

    for model in admin.site._registry:
        if model in OPERATOR_ONLY:
            continue
        own = {str(pk) for pk in tenant_a_rows(model, tenant)}
        listed = listed_pks(client.get(model_url(model)))
        if model_admin_lists_checkboxes(model):
            assert own <= listed, model
        else:
            assert client.get(model_url(model)).status_code == 200


def model_admin_lists_checkboxes(model) -> bool:
    return bool(admin.site._registry[model].actions)


@pytest.mark.parametrize("builtin", [scopes.TECHNICIAN, scopes.READ_ONLY])
def test_people_without_an_admin_scope_cannot_open_the_admin(tenant, builtin):
    client = sign_in(Client(), UserFactory(tenant=tenant, builtin=builtin))

    assert client.get("/admin/", follow=True).status_code == 403
    assert client.get(model_url(User), follow=True).status_code == 403


def test_owners_are_not_offered_the_lock_counters_but_operators_are(owner):
    owner_index = sign_in(Client(), owner).get("/admin/").content.decode()
    operator_index = sign_in(Client(), OperatorFactory()).get("/admin/").content.decode()

    assert "/admin/axes/" not in owner_index
    assert "/admin/axes/accessattempt/" in operator_index
