"""Refusal events are capped per person (or address) across every path, then counted: a
person walking through ids can't flood their tenant's trail. And another person's session,
passkey or remembered browser is a refusal too, under the same cap."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit import refusals as refusals_module
from audit.events import REFUSAL_EVENTS, AuditEventType
from audit.models import AuditEvent
from audit.refusals import FALLBACK_CACHE, PER_SOURCE_PER_MINUTE
from mfa.models import PasskeyDevice
from teams.models import RememberedBrowser
from tests.factories import DEFAULT_PASSWORD, UserFactory, UserSessionFactory
from tests.signing_in import sign_in

RECOVERY_REQUEST = "/recovery/requests/{}/"
# Pages anybody may post to, each refused without a CSRF token.
ANONYMOUS_POSTS = [
    "/accounts/login/",
    "/accounts/password/reset/",
    "/recovery/",
    "/sso/start/",
    "/mfa/verify/",
    "/accounts/logout/",
    "/mfa/passkeys/sign-in/",
    "/mfa/passkeys/sign-in/options/",
]


def refusals(*kinds: AuditEventType) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(event__in=kinds or REFUSAL_EVENTS).order_by("sequence", "id")
    )


def suppressed_counts() -> list[int]:
    return [event.details["suppressed"] for event in refusals(AuditEventType.REFUSALS_SUPPRESSED)]


def passkey_of(person, n: int = 0) -> PasskeyDevice:
    return PasskeyDevice.objects.create(
        user=person,
        name=f"Phone {n}",
        credential_id=f"credential-{person.pk}-{n}",
        public_key=b"not a key",
        user_handle=f"handle-{person.pk}-{n}",
    )


@pytest.fixture
def technician_browser(clock, technician) -> Client:
    return sign_in(Client(), technician)


def test_a_person_requesting_many_ids_writes_a_few_events_then_one_count(clock, technician_browser):
    """300 recovery request ids wrote 300 refusal events in 4 s."""
    for request_id in range(1, 301):
        assert technician_browser.get(RECOVERY_REQUEST.format(request_id)).status_code == 403

    assert len(refusals(AuditEventType.ACCESS_REFUSED)) == PER_SOURCE_PER_MINUTE
    assert suppressed_counts() == [1]

    clock.shift(60)
    technician_browser.get(RECOVERY_REQUEST.format(301))

    assert len(refusals(AuditEventType.ACCESS_REFUSED)) == PER_SOURCE_PER_MINUTE + 1
    assert suppressed_counts() == [1, 300 - PER_SOURCE_PER_MINUTE - 1]
    summary = refusals(AuditEventType.REFUSALS_SUPPRESSED)[-1]
    assert summary.actor == technician_browser.get("/").wsgi_request.user
    assert summary.details["per_minute"] == PER_SOURCE_PER_MINUTE


def test_the_cap_spans_every_kind_of_refusal(clock, technician_browser, technician):
    other = UserFactory(tenant=technician.tenant, email="other@northwind.example")
    for request_id in range(1, 4):
        technician_browser.get(RECOVERY_REQUEST.format(request_id))
    for n in range(4):
        passkey = passkey_of(other, n)
        technician_browser.post(f"/mfa/passkeys/{passkey.pk}/rename/", {"name": "mine"})

    assert len(refusals()) == PER_SOURCE_PER_MINUTE + 1
    assert suppressed_counts() == [1]


def test_people_and_addresses_are_capped_apart(clock, technician_browser, tenant):
    other_browser = sign_in(Client(), UserFactory(tenant=tenant, email="o@northwind.example"))
    for request_id in range(1, 11):
        technician_browser.get(RECOVERY_REQUEST.format(request_id))
        other_browser.get(RECOVERY_REQUEST.format(request_id))
    for path in ANONYMOUS_POSTS:
        Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.7").post(path)
    Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.8").post(ANONYMOUS_POSTS[0])

    assert len(refusals(AuditEventType.ACCESS_REFUSED)) == 2 * PER_SOURCE_PER_MINUTE
    from_one_address = [
        event for event in refusals(AuditEventType.CSRF_REFUSED) if event.ip == "198.51.100.7"
    ]
    assert len(from_one_address) == PER_SOURCE_PER_MINUTE
    assert len(refusals(AuditEventType.CSRF_REFUSED)) == PER_SOURCE_PER_MINUTE + 1
    assert suppressed_counts() == [1, 1, 1]


@pytest.fixture
def shared_cache_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    FALLBACK_CACHE.clear()
    yield
    FALLBACK_CACHE.clear()


def test_with_the_cache_down_the_cap_holds_and_pages_still_answer(
    clock, technician_browser, shared_cache_down
):
    for request_id in range(1, 21):
        assert technician_browser.get(RECOVERY_REQUEST.format(request_id)).status_code == 403

    assert len(refusals(AuditEventType.ACCESS_REFUSED)) == PER_SOURCE_PER_MINUTE
    assert suppressed_counts() == [1]


def test_with_no_cache_at_all_refusals_are_still_capped(clock, technician_browser, monkeypatch):
    """Even the stand-in failing leaves the refused request answered and the trail unflooded."""

    class Broken:
        def __getattr__(self, name):
            raise ConnectionError("no cache")

    monkeypatch.setattr(refusals_module, "cache", Broken())
    for request_id in range(1, 21):
        assert technician_browser.get(RECOVERY_REQUEST.format(request_id)).status_code == 403

    assert len(refusals(AuditEventType.ACCESS_REFUSED)) <= PER_SOURCE_PER_MINUTE


@pytest.mark.parametrize("kind", ["session", "passkey_rename", "passkey_remove", "browser"])
def test_another_persons_session_passkey_or_browser_is_a_404_and_a_refusal(
    clock, technician_browser, technician, kind
):
    other = UserFactory(tenant=technician.tenant, email="other@northwind.example")
    if kind == "session":
        row = UserSessionFactory(user=other)
        request = ("/accounts/sessions/", {"revoke": row.pk})
    elif kind == "browser":
        row = RememberedBrowser.objects.create(
            tenant=other.tenant,
            user=other,
            token_hash="b" * 64,
            created_at=timezone.now(),
            expires_at=timezone.now() + timedelta(days=7),
        )
        request = ("/accounts/sessions/", {"forget": row.pk})
    else:
        row = passkey_of(other)
        action = "rename" if kind == "passkey_rename" else "remove"
        request = (f"/mfa/passkeys/{row.pk}/{action}/", {"name": "mine now"})
    if kind == "passkey_remove":
        technician_browser.post("/mfa/confirm-password/", {"password": DEFAULT_PASSWORD})

    response = technician_browser.post(*request)

    assert response.status_code == 404
    [refused] = refusals(AuditEventType.OTHER_PERSON_REFUSED)
    assert refused.actor == technician
    assert refused.details["model"] == row._meta.label_lower
    assert refused.details["id"] == str(row.pk)
    missing = technician_browser.post(request[0].replace(str(row.pk), "999999"), request[1])
    assert missing.status_code in {400, 404}
    assert len(refusals(AuditEventType.OTHER_PERSON_REFUSED)) == 1
