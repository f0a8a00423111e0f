from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import lockout_counters
from audit.events import AuditEventType
from audit.models import AuditEvent
from support.models import RecoveryAttempt, RecoveryRequest
from support.services import recovery_requests_expire
from support.tasks import expire_recovery_requests, sweep_recovery_attempts
from teams import scopes
from tests.factories import TOTPDeviceFactory, UserFactory
from tests.signing_in import sign_in, sign_in_attempt

pytestmark = pytest.mark.django_db

FORM = "/recovery/"


def ask(client, email, reason="lost_factors", note="New phone", **extra):
    """Submit the form, then run what it queued on commit (the lookup task, the mails)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(FORM, {"email": email, "reason": reason, "note": note}, **extra)


@pytest.fixture
def deactivated(tenant):
    return UserFactory(tenant=tenant, email="gone@northwind.example", is_active=False)


def test_real_missing_and_deactivated_emails_get_the_same_answer(
    client, technician, deactivated, owner
):
    answers = [
        ask(Client(), email)
        for email in (technician.email, "nobody@northwind.example", deactivated.email)
    ]

    assert {(a.status_code, a.url) for a in answers} == {(302, "/recovery/sent/")}
    assert list(RecoveryRequest.objects.values_list("person__email", flat=True)) == [
        technician.email
    ]


def test_the_page_does_the_same_work_for_real_and_missing_emails(technician, owner):
    """The lookup happens in a task, after the answer: the request itself runs the same
    statements whichever email is typed."""
    counts = []
    for email in (technician.email, "nobody@northwind.example"):
        with CaptureQueriesContext(connection) as queries:
            response = Client().post(FORM, {"email": email, "reason": "other"})
        assert response.url == "/recovery/sent/"
        counts.append([q["sql"].split(" ")[0] for q in queries])

    assert counts[0] == counts[1]
    assert not RecoveryRequest.objects.exists()


def test_the_sweep_processes_attempts_whose_task_never_ran(technician, owner):
    Client().post(FORM, {"email": technician.email, "reason": "other"})  # on_commit never runs
    assert RecoveryAttempt.objects.filter(processed_at__isnull=True).count() == 1

    sweep_recovery_attempts.delay()

    assert RecoveryRequest.objects.get().person == technician
    assert not RecoveryAttempt.objects.filter(processed_at__isnull=True).exists()


def test_request_mails_the_people_who_can_reset_or_unlock_and_is_audited(
    client, technician, owner, tenant
):
    readonly = UserFactory(tenant=tenant, builtin=scopes.READ_ONLY)
    ask(client, "  TECH@northwind.example ", REMOTE_ADDR="198.51.100.7")

    recovery = RecoveryRequest.objects.get()
    assert recovery.person == technician and recovery.ip == "198.51.100.7"
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert readonly.email not in str([m.to for m in mail.outbox])
    body = mail.outbox[0].body
    assert "really them" in body
    assert f"http://localhost:8000/recovery/requests/{recovery.pk}/" in body
    event = AuditEvent.objects.get(event=AuditEventType.RECOVERY_REQUESTED)
    assert event.target == technician and event.tenant == tenant


def test_invalid_form_re_renders_with_a_message(client):
    response = client.post(FORM, {"email": "not-an-email", "reason": "bogus"})

    assert response.status_code == 200
    assert "doesn&#x27;t look like an email address" in response.content.decode()
    assert "Choose one of the listed reasons" in response.content.decode()


def test_asking_again_while_open_adds_nothing(client, technician, owner):
    ask(client, technician.email)
    ask(client, technician.email)

    assert RecoveryRequest.objects.count() == 1


def test_limit_per_email_counts_in_the_database(client, technician, owner, settings):
    settings.RECOVERY_LIMIT_PER_EMAIL = 2
    for ip in ("198.51.100.1", "198.51.100.2"):
        ask(Client(), "tech@northwind.example", REMOTE_ADDR=ip)
    RecoveryRequest.objects.all().delete()

    response = ask(Client(), technician.email, REMOTE_ADDR="198.51.100.3")

    assert response.url == "/recovery/sent/"
    assert not RecoveryRequest.objects.exists()


def test_limit_per_ip_across_emails(client, technician, owner, settings):
    settings.RECOVERY_LIMIT_PER_IP = 3
    for n in range(3):
        ask(client, f"nobody{n}@example.com", REMOTE_ADDR="203.0.113.5")

    response = ask(client, technician.email, REMOTE_ADDR="203.0.113.5")

    assert response.url == "/recovery/sent/"
    assert not RecoveryRequest.objects.exists()
    ask(client, technician.email, REMOTE_ADDR="203.0.113.6")
    assert RecoveryRequest.objects.count() == 1


@pytest.fixture
def open_request(client, technician, owner):
    ask(client, technician.email)
    return RecoveryRequest.objects.get()


def test_queue_lists_open_requests_and_says_to_check_identity(owner, open_request):
    browser = sign_in(Client(), owner)

    queue = browser.get("/recovery/requests/").content.decode()
    detail = browser.get(f"/recovery/requests/{open_request.pk}/").content.decode()

    assert "tech@northwind.example" in queue
    assert "out of band" in detail


def test_queue_needs_a_recovery_scope(client_signed_in, open_request):
    assert client_signed_in.get("/recovery/requests/").status_code == 403
    assert client_signed_in.get(f"/recovery/requests/{open_request.pk}/").status_code == 403


def test_another_tenants_request_is_a_404(other_owner, open_request):
    browser = sign_in(Client(), other_owner)

    assert browser.get(f"/recovery/requests/{open_request.pk}/").status_code == 404
    response = browser.post(f"/recovery/requests/{open_request.pk}/", {"action": "decline"})
    assert response.status_code == 404
    open_request.refresh_from_db()
    assert open_request.status == RecoveryRequest.Status.OPEN
    assert "tech@northwind.example" not in browser.get("/recovery/requests/").content.decode()


def test_missing_request_is_a_404(owner):
    browser = sign_in(Client(), owner)

    assert browser.get("/recovery/requests/999999/").status_code == 404
    assert browser.get("/recovery/requests/99999999999999999999999/").status_code == 404
    assert browser.post("/recovery/requests/99999999999999999999999/").status_code == 404


def test_operators_without_a_tenant_get_a_refusal_not_an_error(client):
    from tests.factories import OperatorFactory

    sign_in(client, OperatorFactory())
    for path in ("/recovery/requests/", "/recovery/requests/1/", "/access-review/"):
        assert client.get(path).status_code in (302, 403)


def _handle(owner, recovery, action, capture):
    with capture(execute=True):
        response = sign_in(Client(), owner).post(
            f"/recovery/requests/{recovery.pk}/", {"action": action, "confirmed": "on"}
        )
    assert response.status_code == 302, response.content
    recovery.refresh_from_db()
    return recovery


def test_reset_mfa_outcome_is_audited_and_mailed(
    owner, technician, open_request, django_capture_on_commit_callbacks
):
    TOTPDeviceFactory(user=technician)
    mail.outbox.clear()

    recovery = _handle(owner, open_request, "mfa_reset", django_capture_on_commit_callbacks)

    assert recovery.status == "resolved" and recovery.outcome == "mfa_reset"
    assert recovery.handled_by == owner
    assert not TOTPDevice.objects.filter(user=technician).exists()
    assert AuditEvent.objects.filter(event=AuditEventType.MFA_RESET, target=technician).exists()
    resolved = AuditEvent.objects.get(event=AuditEventType.RECOVERY_RESOLVED)
    assert resolved.actor == owner and resolved.details["action"] == "mfa_reset"
    assert any(m.to == [technician.email] and "handled your request" in m.body for m in mail.outbox)


def test_unlock_outcome_is_audited_and_mailed(
    client, owner, technician, settings, django_capture_on_commit_callbacks
):
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(client, technician.email, "nope-nope")
    assert lockout_counters.lock_for(email=technician.email, ip=None)
    ask(client, technician.email, reason="locked_out")
    mail.outbox.clear()

    recovery = _handle(
        owner, RecoveryRequest.objects.get(), "unlock", django_capture_on_commit_callbacks
    )

    assert recovery.outcome == "unlocked"
    assert lockout_counters.lock_for(email=technician.email, ip=None) is None
    assert AuditEvent.objects.filter(event=AuditEventType.ACCOUNT_UNLOCKED).exists()
    assert AuditEvent.objects.filter(event=AuditEventType.RECOVERY_RESOLVED).exists()
    assert any(m.to == [technician.email] and "unlocked" in m.body for m in mail.outbox)


def test_reset_link_outcome_is_audited_and_mailed(
    owner, technician, open_request, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    recovery = _handle(owner, open_request, "reset_link", django_capture_on_commit_callbacks)

    assert recovery.outcome == "reset_link"
    assert AuditEvent.objects.filter(
        event=AuditEventType.PASSWORD_RESET_REQUESTED, target=technician
    ).exists()
    subjects = [m.subject for m in mail.outbox if m.to == [technician.email]]
    assert len(subjects) == 2  # the link itself and the outcome


def test_decline_is_audited_and_mailed(
    owner, technician, open_request, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    recovery = _handle(owner, open_request, "decline", django_capture_on_commit_callbacks)

    assert recovery.status == "declined"
    assert AuditEvent.objects.get(event=AuditEventType.RECOVERY_DECLINED).target == technician
    assert any(m.to == [technician.email] and "declined" in m.body for m in mail.outbox)


def test_a_handled_request_cannot_be_handled_again(owner, open_request):
    browser = sign_in(Client(), owner)
    browser.post(f"/recovery/requests/{open_request.pk}/", {"action": "decline", "confirmed": "on"})

    response = browser.post(f"/recovery/requests/{open_request.pk}/", {"action": "reset_link"})

    assert response.status_code == 200
    assert "already declined" in response.content.decode()
    assert not AuditEvent.objects.filter(event=AuditEventType.RECOVERY_RESOLVED).exists()


def test_bad_action_is_a_clear_message(owner, open_request):
    response = sign_in(Client(), owner).post(
        f"/recovery/requests/{open_request.pk}/", {"action": "x"}
    )

    assert response.status_code == 200
    assert "Choose one of the listed actions" in response.content.decode()


def test_requests_expire_after_seven_days_by_the_beat_task(open_request):
    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23)):
        assert recovery_requests_expire() == 0
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        expire_recovery_requests.delay()

    open_request.refresh_from_db()
    assert open_request.status == RecoveryRequest.Status.EXPIRED
    assert (
        AuditEvent.objects.get(event=AuditEventType.RECOVERY_EXPIRED).target == open_request.person
    )


def test_reset_mfa_from_a_request_needs_a_fresh_password(
    clock, owner, technician, open_request, password, settings
):
    TOTPDeviceFactory(user=technician)
    browser = sign_in(Client(), owner)
    detail = f"/recovery/requests/{open_request.pk}/"
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    refused = browser.post(detail, {"action": "mfa_reset", "confirmed": "on"})

    assert refused.status_code == 302
    assert refused.url.startswith("/mfa/confirm-password/?next=")
    assert TOTPDevice.objects.filter(user=technician).exists()
    open_request.refresh_from_db()
    assert open_request.status == RecoveryRequest.Status.OPEN
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_RESET).exists()

    browser.post("/mfa/confirm-password/", {"password": password, "next": detail})
    done = browser.post(detail, {"action": "mfa_reset", "confirmed": "on"})

    assert done.url == "/recovery/requests/"
    assert not TOTPDevice.objects.filter(user=technician).exists()


def test_reset_mfa_from_the_recovery_admin_needs_a_fresh_password(
    clock, owner, technician, open_request, password, settings
):
    TOTPDeviceFactory(user=technician)
    browser = sign_in(Client(), owner)
    changelist = "/admin/support/recoveryrequest/"
    action = {"action": "reset_mfa", "_selected_action": [open_request.pk]}
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    refused = browser.post(changelist, action, follow=True)

    assert "needs your password first" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=technician).exists()
    open_request.refresh_from_db()
    assert open_request.status == RecoveryRequest.Status.OPEN

    browser.post("/mfa/confirm-password/", {"password": password})
    browser.post(changelist, action, follow=True)

    assert not TOTPDevice.objects.filter(user=technician).exists()


def test_every_action_asks_for_confirmation_before_it_runs(owner, technician, open_request):
    TOTPDeviceFactory(user=technician)
    browser = sign_in(Client(), owner)

    response = browser.post(f"/recovery/requests/{open_request.pk}/", {"action": "mfa_reset"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Reset two-factor authentication?" in page
    assert 'name="confirmed" value="on"' in page
    assert TOTPDevice.objects.filter(user=technician).exists()
    open_request.refresh_from_db()
    assert open_request.status == RecoveryRequest.Status.OPEN


def test_reset_two_factor_is_offered_only_to_someone_with_a_factor(owner, open_request):
    browser = sign_in(Client(), owner)

    page = browser.get(f"/recovery/requests/{open_request.pk}/").content.decode()
    refused = browser.post(
        f"/recovery/requests/{open_request.pk}/", {"action": "mfa_reset", "confirmed": "on"}
    )

    assert 'value="mfa_reset"' not in page
    assert "not locked" in page
    assert "isn&#x27;t available for this person" in refused.content.decode()
    assert not AuditEvent.objects.filter(event=AuditEventType.RECOVERY_RESOLVED).exists()


def test_the_request_page_never_mentions_a_number_on_file(owner, open_request):
    page = sign_in(Client(), owner).get(f"/recovery/requests/{open_request.pk}/")

    assert "on file" not in page.content.decode()


def test_recovery_reasons_are_a_fieldset_with_a_legend(client):
    page = client.get("/recovery/").content.decode()

    assert "<legend>What is wrong?</legend>" in page
    assert 'for=""' not in page
