"""The site-wide tenant sweep: an Owner of tenant A requests every page of the site with the ids
of tenant B's objects, in the path, the query string and the posted fields, and never gets a
page that shows B's data or a change to B's rows.

The URL patterns come from the URL configuration, so a page added later is swept as soon as it
exists; a path parameter the sweep does not know how to fill fails the test until it is taught.
The admin's own URLs are swept in depth by tests/teams/test_admin_tenant_sweep.py (every
ModelAdmin, change pages, filters, autocomplete, actions); here they get the same query-string
and posted-field treatment as every other page.
"""

import re
from urllib.parse import quote, quote_plus

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.html import escape
from django.utils.http import urlsafe_base64_encode

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from provisioning.models import DirectoryGroup
from sso.encryption import secret_encrypt
from sso.models import IdentityProvider
from support.guides import GUIDES
from support.models import RecoveryRequest
from teams import scopes
from teams.models import UserSession
from tests.factories import UserFactory
from tests.mfa.test_middleware import every_path
from tests.signing_in import fail_sign_in, sign_in

B_MARKERS = ("contoso", "Contoso", "203.0.113.99", "Quillon")
NAME_ATTRIBUTE = re.compile(r'\sname="([^"]+)"')
# Parameters views read that a page does not always show as a field.
KNOWN_PARAMETERS = ("person", "tenant", "revoke", "event", "ip", "page", "q", "next", "user")


@pytest.fixture
def world(tenant, other_tenant, owner, technician):
    """Tenant B with an owner, a technician, a signed-in session and audit events."""
    b_owner = UserFactory(
        tenant=other_tenant,
        builtin=scopes.OWNER,
        email="owner@contoso.example",
        full_name="Quillon Contoso",
    )
    sign_in(Client(), b_owner, REMOTE_ADDR="203.0.113.99")
    fail_sign_in(Client(), b_owner.email, REMOTE_ADDR="203.0.113.99")
    a_client = sign_in(Client(), owner)
    b_session = UserSession.objects.get(user=b_owner)
    RecoveryRequest.objects.create(
        tenant=other_tenant,
        person=b_owner,
        reason=RecoveryRequest.Reason.OTHER,
        note="Quillon lost his phone",
    )
    b_event = AuditEvent.objects.filter(tenant=other_tenant).latest("pk")
    return a_client, b_owner, b_session, b_event


def b_ids(b_owner, b_session, b_event, other_tenant) -> list[str]:
    """Ids of B's rows. A's own session ids are left out: A may rightly end its own session."""
    ids = {
        str(b_owner.pk),
        str(b_session.pk),
        str(b_event.pk),
        str(other_tenant.pk),
        other_tenant.slug,
        b_owner.email,
        str(b_owner.role_id),
        str(RecoveryRequest.objects.get(person=b_owner).pk),
        str(AuditEventType.SIGN_IN_SUCCEEDED.value),
    }
    own_sessions = UserSession.objects.exclude(user__tenant=other_tenant).values_list(
        "pk", flat=True
    )
    ids -= {str(pk) for pk in own_sessions}
    assert str(b_session.pk) in ids
    return sorted(ids)


def filled_paths(b_owner, b_event) -> list[str]:
    """Every pattern outside the admin, its parameters filled with B's objects."""
    fillers = {
        "uidb64": urlsafe_base64_encode(force_bytes(b_owner.pk)),
        # A's person may hold B's ids but not B's secrets: a forged or someone else's token.
        "token": default_token_generator.make_token(b_owner)[:-1] + "0",
        "slug": GUIDES[0].slug,
        "pk": str(RecoveryRequest.objects.get(person=b_owner).pk),
        # B's identity provider, whose back-channel logout endpoint anyone may post to: it
        # answers by the token's signature, never by the viewer.
        "provider_id": str(
            IdentityProvider.objects.create(
                tenant=b_owner.tenant,
                kind=IdentityProvider.Kind.OIDC,
                discovery_url="https://198.51.100.10/.well-known/openid-configuration",
                client_id="b-client",
                client_secret_encrypted=secret_encrypt("b-secret"),
            ).pk
        ),
        "passkey_id": str(
            PasskeyDevice.objects.create(
                user=b_owner,
                name="B's phone",
                credential_id="b-owners-credential",
                public_key=b"not a key",
                user_handle="b-owners-handle",
            ).pk
        ),
        # SCIM (/scim/v2/): B's person and group, and the discovery endpoints' names.
        "person_id": str(b_owner.pk),
        "group_id": str(
            DirectoryGroup.objects.create(tenant=b_owner.tenant, display_name="B's admins").scim_id
        ),
        "schema_id": "urn:ietf:params:scim:schemas:core:2.0:User",
        "name": "User",
    }
    paths = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if route.startswith("admin/"):
                continue
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
                continue
            assert isinstance(entry, URLPattern)
            names = re.findall(r"<(?:\w+:)?(\w+)>", route)
            unknown = set(names) - set(fillers)
            if unknown:
                pytest.fail(f"{route} takes {unknown}: teach the tenant sweep how to fill them.")
            paths.append(
                "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: fillers[match.group(1)], route)
            )

    walk(get_resolver().url_patterns, "")
    paths.append(f"/audit/not-me/{b_event.pk}/")
    return sorted(set(paths))


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def assert_nothing_of_b(response, where, sent: str = "") -> None:
    """No marker of B in the page, once the value A sent (which a form may echo) is taken out."""
    assert response.status_code < 500, where
    body = body_of(response)
    if sent:
        for echoed in {sent, escape(sent), quote(sent), quote_plus(sent), quote(quote(sent))}:
            body = body.replace(echoed, "")
    for marker in B_MARKERS:
        assert marker not in body, f"{marker!r} leaked into {where}"


def b_state(b_owner, b_session) -> tuple:
    b_owner.refresh_from_db()
    return (
        b_owner.is_active,
        b_owner.role_id,
        b_owner.password,
        UserSession.objects.filter(pk=b_session.pk).exists(),
        # A junk logout token posted to B's provider's endpoint is recorded in B's trail as
        # refused, by whoever posts it, as a failed sign-in at B's account is: not a change A
        # makes to B's data.
        AuditEvent.objects.filter(tenant=b_owner.tenant)
        .exclude(event=AuditEventType.SSO_LOGOUT_TOKEN_REFUSED)
        .count(),
        list(RecoveryRequest.objects.filter(person=b_owner).values_list("status", "outcome")),
        list(PasskeyDevice.objects.filter(user=b_owner).values_list("name", flat=True)),
    )


def test_an_owner_of_tenant_a_sees_and_changes_nothing_of_tenant_b_on_any_page(world, other_tenant):
    a_client, b_owner, b_session, b_event = world
    ids = b_ids(b_owner, b_session, b_event, other_tenant)
    # The admin's index and lists, to see them whole; the rest of the admin is the admin sweep's.
    admin_lists = re.compile(r"^/admin/(\w+/(\w+/)?)?$")
    paths = filled_paths(b_owner, b_event) + [
        path for path in every_path() if admin_lists.match(path)
    ]
    before = b_state(b_owner, b_session)
    assert "/audit/" in paths and "/accounts/sessions/" in paths

    for path in paths:
        if path.endswith("/logout/"):
            continue  # signing A out would end the sweep; it takes no ids
        shown = a_client.get(path)
        assert_nothing_of_b(shown, path)
        if path.startswith("/admin/"):
            continue  # its filters, searches and posts with B's ids are the admin sweep's
        page = "" if shown.streaming else shown.content.decode(errors="replace")
        fields = (set(NAME_ATTRIBUTE.findall(page)) | set(KNOWN_PARAMETERS)) - {
            "csrfmiddlewaretoken"
        }
        for field in sorted(fields):
            for value in ids:
                where = (path, field, value)
                assert_nothing_of_b(a_client.get(path, {field: value}), where, value)
                assert_nothing_of_b(a_client.post(path, {field: value}), where, value)
                assert "_auth_user_id" in a_client.session, where

    assert b_state(b_owner, b_session) == before
    assert a_client.get("/").status_code == 200, "the sweep should have kept A signed in"


def test_another_tenants_person_in_the_trail_filter_is_refused(world, other_tenant):
    a_client, b_owner, _, _ = world

    response = a_client.get("/audit/", {"person": b_owner.pk})

    assert "Choose a person from the list." in response.content.decode()
    assert a_client.get("/audit/export.csv", {"person": b_owner.pk}).status_code == 400


def test_another_tenants_session_id_is_a_404_on_the_sessions_page(world):
    a_client, _, b_session, _ = world

    response = a_client.post("/accounts/sessions/", {"revoke": b_session.pk})

    assert response.status_code == 404
    assert UserSession.objects.filter(pk=b_session.pk).exists()
