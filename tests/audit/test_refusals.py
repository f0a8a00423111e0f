"""Refused requests are audited: one event per kind, and a flood makes one a minute."""

import pytest
from django.contrib.admin import helpers
from django.test import Client, TestCase

from audit import refusals as refusals_module
from audit.events import REFUSAL_EVENTS, AuditEventType
from audit.models import AuditEvent
from audit.refusals import FALLBACK_CACHE
from support.models import RecoveryRequest
from teams import scopes
from tests.factories import UserFactory
from tests.signing_in import sign_in


def refusals(event: AuditEventType | None = None) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(event__in=REFUSAL_EVENTS).order_by("id")
    return list(events.filter(event=event) if event is not None else events)


@pytest.fixture
def technician_browser(clock, technician) -> Client:
    return sign_in(Client(), technician)


def test_a_403_is_one_refusal_event_naming_the_person_and_path(technician_browser, technician):
    response = technician_browser.get("/audit/")

    assert response.status_code == 403
    [refused] = refusals()
    assert refused.event == AuditEventType.ACCESS_REFUSED
    assert (refused.actor, refused.tenant) == (technician, technician.tenant)
    assert refused.details == {"method": "GET", "path": "/audit/", "reason": "permission_denied"}


def test_a_flood_of_403s_makes_one_event_a_minute(clock, technician_browser):
    # The clock starts ten seconds into a UTC minute; refusals are counted per UTC minute.
    for _ in range(50):
        assert technician_browser.get("/audit/").status_code == 403
    assert len(refusals()) == 1

    clock.shift(49)
    technician_browser.get("/audit/")
    assert len(refusals()) == 1

    clock.shift(1)
    for _ in range(10):
        technician_browser.get("/audit/")
    assert len(refusals()) == 2


def test_another_path_or_another_person_is_recorded_apart(clock, technician_browser, tenant):
    technician_browser.get("/audit/")
    technician_browser.get("/audit/export.csv")
    other = sign_in(Client(), UserFactory(tenant=tenant, email="other@northwind.example"))
    other.get("/audit/")

    assert [event.details["path"] for event in refusals()] == [
        "/audit/",
        "/audit/export.csv",
        "/audit/",
    ]


def test_another_tenants_object_is_a_404_and_one_refusal(
    clock, client, technician, owner, other_owner
):
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(
            "/recovery/", {"email": technician.email, "reason": "lost_factors", "note": "x"}
        )
    theirs = RecoveryRequest.objects.get()
    intruder = sign_in(Client(), other_owner)

    for _ in range(5):
        assert intruder.get(f"/recovery/requests/{theirs.pk}/").status_code == 404
    assert intruder.get(f"/recovery/requests/{theirs.pk + 1000}/").status_code == 404

    [refused] = refusals()
    assert refused.event == AuditEventType.OTHER_TENANT_REFUSED
    assert (refused.actor, refused.tenant) == (other_owner, other_owner.tenant)
    assert refused.details["model"] == "support.recoveryrequest"
    assert refused.details["id"] == str(theirs.pk)


def test_another_tenants_person_in_the_admin_is_a_404_and_one_refusal(
    clock, technician, other_owner
):
    intruder = sign_in(Client(), other_owner)

    response = intruder.get(f"/admin/accounts/user/{technician.pk}/change/")
    missing = intruder.get("/admin/accounts/user/987654/change/")

    assert (response.status_code, missing.status_code) == (404, 404)
    [refused] = refusals()
    assert refused.event == AuditEventType.OTHER_TENANT_REFUSED
    assert refused.details["model"] == "accounts.user"
    assert refused.details["path"] == f"/admin/accounts/user/{technician.pk}/change/"


def test_a_refused_admin_action_is_one_refusal(clock, owner, tenant):
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN, email="admin@northwind.example")
    browser = sign_in(Client(), admin)

    for _ in range(3):
        page = browser.post(
            "/admin/accounts/user/",
            {"action": "deactivate", "index": 0, helpers.ACTION_CHECKBOX_NAME: [owner.pk]},
            follow=True,
        )
        assert "You can&#x27;t change owner@northwind.example" in page.content.decode()

    [refused] = refusals()
    assert refused.event == AuditEventType.ADMIN_ACTION_REFUSED
    assert refused.actor == admin
    assert refused.details["action"] == "deactivate"
    assert refused.details["id"] == str(owner.pk)
    assert refused.details["model"] == "accounts.user"


def test_a_csrf_failure_is_one_refusal_by_client_ip(clock, db):
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.4")

    for _ in range(3):
        response = browser.post("/accounts/login/", {"username": "a@b.example", "password": "x"})
        assert response.status_code == 403

    [refused] = refusals()
    assert refused.event == AuditEventType.CSRF_REFUSED
    assert refused.actor is None and refused.tenant is None
    assert refused.ip == "198.51.100.4"
    assert refused.details["path"] == "/accounts/login/"
    assert "CSRF" in refused.details["reason"]


def test_a_csrf_failure_on_a_tokened_path_keeps_no_token(clock, db):
    browser = Client(enforce_csrf_checks=True)

    browser.post("/audit/not-me/12:1tX4Yz:abcDEFghiJKLmno/")

    [refused] = refusals()
    assert refused.details["path"] == "/audit/not-me/[redacted]/"


def test_reset_requests_dropped_by_the_ip_limit_make_one_refusal(clock, client, settings, db):
    settings.RESET_LIMIT_PER_IP = 1

    for _ in range(4):
        client.post("/accounts/password/reset/", {"email": "someone@example.com"})

    [dropped] = refusals()
    assert dropped.event == AuditEventType.RATE_LIMIT_DROPPED
    assert dropped.details == {
        "method": "POST",
        "path": "/accounts/password/reset/",
        "limit": "RESET_LIMIT_PER_IP",
    }


def test_recovery_requests_dropped_by_a_limit_make_one_refusal_a_minute(
    clock, client, settings, db
):
    settings.RECOVERY_LIMIT_PER_EMAIL = 1
    form = {"email": "someone@example.com", "reason": "other", "note": ""}

    for _ in range(4):
        client.post("/recovery/", form)
    clock.shift(60)
    client.post("/recovery/", form)

    dropped = refusals(AuditEventType.RATE_LIMIT_DROPPED)
    assert [event.details["limit"] for event in dropped] == ["RECOVERY_LIMIT_PER_EMAIL"] * 2


def test_the_trail_filters_refused_access(clock, technician_browser, owner):
    technician_browser.get("/audit/")
    browser = sign_in(Client(), owner)

    everything = browser.get("/audit/").content.decode()
    refused_only = browser.get("/audit/", {"outcome": "refused"})

    assert "Sign-in succeeded" in everything
    assert refused_only.context["page"].paginator.count == 1
    assert [event.event for event in refused_only.context["events"]] == [
        AuditEventType.ACCESS_REFUSED
    ]
    assert "Refused access only" in refused_only.content.decode()


def test_the_admin_filters_refused_access(clock, technician_browser, owner):
    technician_browser.get("/audit/")
    browser = sign_in(Client(), owner)

    page = browser.get("/admin/audit/auditevent/", {"outcome": "refused"})

    assert page.status_code == 200
    assert [event.event for event in page.context["cl"].result_list] == [
        AuditEventType.ACCESS_REFUSED
    ]


@pytest.fixture
def shared_cache_down(settings):
    """Redis configured but down, as in tests/config/test_redis_down.py."""
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


def test_with_the_shared_cache_down_a_flood_still_makes_one_event_a_minute(
    clock, technician_browser, shared_cache_down
):
    for _ in range(10):
        assert technician_browser.get("/audit/").status_code == 403
    clock.shift(50)
    technician_browser.get("/audit/")

    assert len(refusals()) == 2


def test_many_addresses_together_are_capped_and_one_ipv6_64_is_one_source(clock, db, monkeypatch):
    monkeypatch.setattr(refusals_module, "ANONYMOUS_PER_MINUTE", 3)
    for address in ["2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:1:ffff::9"]:
        Client(enforce_csrf_checks=True, REMOTE_ADDR=address).post("/accounts/login/")
    assert len(refusals()) == 1

    for n in range(5):
        Client(enforce_csrf_checks=True, REMOTE_ADDR=f"198.51.100.{n}").post("/accounts/login/")
    assert len(refusals()) == 3

    clock.shift(60)
    Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.0").post("/accounts/login/")
    assert len(refusals()) == 4
