"""One test per event type that today's flows produce, through the flow that produces it.

Event types owned by later work (MFA, resets, password change, lockout, roles, deactivation,
session expiry, policy changes, admin actions) get their tests with those flows.
"""

import io
from datetime import timedelta

import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.alerts import report_link_token
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record, audit_retention_apply
from teams.services.sessions import user_sessions_end
from tests.audit.helpers import (
    CHROME_WINDOWS,
    FIREFOX_LINUX,
    FROM_A_STRANGER,
    FROM_THE_OFFICE,
    SAFARI_IPHONE,
)
from tests.signing_in import fail_sign_in, sign_in


def only(event_type: AuditEventType) -> AuditEvent:
    return AuditEvent.objects.get(event=event_type)


def test_sign_in_succeeded(technician):
    sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)

    event = only(AuditEventType.SIGN_IN_SUCCEEDED)
    assert (event.actor, event.target, event.tenant) == (technician, technician, technician.tenant)
    assert (event.ip, event.user_agent) == ("192.0.2.10", FIREFOX_LINUX)


def test_sign_in_failed(technician):
    fail_sign_in(
        Client(), technician.email, REMOTE_ADDR="198.51.100.5", HTTP_USER_AGENT=CHROME_WINDOWS
    )

    event = only(AuditEventType.SIGN_IN_FAILED)
    assert (event.actor, event.target, event.tenant) == (None, technician, technician.tenant)
    assert event.details == {"email": technician.email}
    assert event.ip == "198.51.100.5"


def test_signed_out(technician):
    client = sign_in(Client(), technician, **FROM_THE_OFFICE)

    client.post("/accounts/logout/")

    event = only(AuditEventType.SIGNED_OUT)
    assert (event.actor, event.target, event.tenant) == (technician, technician, technician.tenant)


def test_tenant_created(db):
    call_command("create_tenant", "Acme IT", owner_email="boss@acme.example", stdout=io.StringIO())

    event = only(AuditEventType.TENANT_CREATED)
    assert event.tenant.slug == "acme-it"
    assert event.details == {"name": "Acme IT", "slug": "acme-it"}


def test_person_invited(db):
    call_command("create_tenant", "Acme IT", owner_email="boss@acme.example", stdout=io.StringIO())

    event = only(AuditEventType.PERSON_INVITED)
    assert event.target_label == "boss@acme.example"
    assert event.details == {"role": "Owner"}
    assert event.sequence == 2


def test_session_revoked(technician, owner):
    sign_in(Client(), technician, **FROM_THE_OFFICE)

    user_sessions_end(user=technician, actor=owner, reason="test")

    event = only(AuditEventType.SESSION_REVOKED)
    assert (event.actor, event.target) == (owner, technician)
    assert event.details == {"reason": "test", "sessions": 1}


def test_unusual_sign_in(technician):
    sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)
    sign_in(Client(), technician, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=SAFARI_IPHONE)

    event = only(AuditEventType.UNUSUAL_SIGN_IN)
    assert (event.actor, event.target, event.ip) == (None, technician, "203.0.113.9")


def test_failure_burst(technician, settings):
    settings.LOCKOUT_FAILURES = 2

    fail_sign_in(Client(), technician.email, **FROM_A_STRANGER)

    event = only(AuditEventType.FAILURE_BURST)
    assert (event.target, event.details["failures"]) == (technician, 1)


def test_sign_in_reported(technician):
    sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)
    sign_in(Client(), technician, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=SAFARI_IPHONE)
    alert = only(AuditEventType.UNUSUAL_SIGN_IN)

    Client().post(f"/audit/not-me/{report_link_token(alert=alert)}/")

    event = only(AuditEventType.SIGN_IN_REPORTED)
    assert (event.actor, event.target) == (technician, technician)


def test_audit_exported(owner):
    client = sign_in(Client(), owner, **FROM_THE_OFFICE)

    b"".join(client.get("/audit/export.csv").streaming_content)

    event = only(AuditEventType.AUDIT_EXPORTED)
    assert (event.actor, event.tenant) == (owner, owner.tenant)


def test_audit_retention_applied(tenant):
    audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
    tenant.audit_retention_months = 1

    with time_machine.travel(timezone.now() + timedelta(days=400)):
        audit_retention_apply(tenant=tenant)

    event = only(AuditEventType.AUDIT_RETENTION_APPLIED)
    assert event.details["removed"] == 1
