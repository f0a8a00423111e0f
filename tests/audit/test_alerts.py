from datetime import datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from accounts.alerts import REPORT_LINK_MAX_AGE, report_link_token
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from teams.models import UserSession
from tests.audit.helpers import CHROME_WINDOWS, FIREFOX_LINUX, FROM_A_STRANGER, SAFARI_IPHONE
from tests.signing_in import fail_sign_in, sign_in, sign_in_attempt

HOME = "192.0.2.10"
ELSEWHERE = "203.0.113.99"


def unusual_events(user):
    return AuditEvent.objects.filter(target=user, event=AuditEventType.UNUSUAL_SIGN_IN)


def test_first_sign_in_ever_is_not_flagged(technician):
    sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)

    assert not unusual_events(technician).exists()
    assert not OutboxMail.objects.filter(kind="unusual_sign_in").exists()


def test_new_device_on_a_new_network_is_flagged_and_mailed(technician, settings):
    # The link is signed with the time in seconds: the clock stands still so the test's token
    # and the mail's are made in the same second.
    with time_machine.travel(timezone.now(), tick=False):
        settings.SITE_URL = "https://portcullis.example"
        sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)

        sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)

        alert = unusual_events(technician).get()
        sign_in_event = AuditEvent.objects.filter(
            target=technician, event=AuditEventType.SIGN_IN_SUCCEEDED
        ).latest("sequence")
        # When the sign-in's attempt began ("this wasn't me" undoes its steps too): the clock
        # stands still, so the same moment.
        began = datetime.fromisoformat(alert.details["began"])
        assert abs(began - sign_in_event.created_at) < timedelta(seconds=1)
        assert alert.details == {
            "sign_in": sign_in_event.pk,
            "began": alert.details["began"],
            "device": "Mobile Safari on iOS",
            "network": "203.0.113.0/24",
        }
        assert alert.ip == ELSEWHERE
        assert alert.tenant == technician.tenant
        mail = OutboxMail.objects.get(kind="unusual_sign_in")
        assert mail.to == technician.email
        assert ELSEWHERE in mail.body_text
        assert "Mobile Safari on iOS" in mail.body_text
        assert "https://portcullis.example/audit/not-me/" in mail.body_text
        assert report_link_token(alert=alert) in mail.body_text
        assert "UTC" in mail.body_text


@pytest.mark.parametrize(
    "ip, agent",
    [
        ("192.0.2.200", SAFARI_IPHONE),  # new device, same /24
        (ELSEWHERE, "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"),
    ],
)
def test_known_device_or_known_network_is_not_flagged(technician, ip, agent):
    sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)

    sign_in(Client(), technician, REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)

    assert not unusual_events(technician).exists()


def test_ipv6_addresses_in_the_same_64_are_one_network(technician):
    sign_in(Client(), technician, REMOTE_ADDR="2001:db8:1:2::10", HTTP_USER_AGENT=FIREFOX_LINUX)

    sign_in(
        Client(), technician, REMOTE_ADDR="2001:db8:1:2:abcd::99", HTTP_USER_AGENT=SAFARI_IPHONE
    )
    assert not unusual_events(technician).exists()
    sign_in(Client(), technician, REMOTE_ADDR="2001:db8:1:3::10", HTTP_USER_AGENT=CHROME_WINDOWS)
    assert unusual_events(technician).get().details["network"] == "2001:db8:1:3::/64"


def test_only_the_last_90_days_count(technician):
    with time_machine.travel(timezone.now() - timedelta(days=100)):
        sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)

    sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)

    # Seen 100 days ago only: a sign-in after a long quiet spell is new again.
    assert unusual_events(technician).count() == 1


def test_owners_get_a_copy_when_the_tenant_asks(technician, owner, tenant):
    tenant.alert_owners_on_unusual_sign_in = True
    tenant.save()
    sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)

    sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)

    copy = OutboxMail.objects.get(kind="unusual_sign_in_owner")
    assert copy.to == owner.email
    assert technician.email in copy.body_text
    assert "/audit/not-me/" not in copy.body_text


def test_owners_get_no_copy_by_default(technician, owner):
    sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)

    sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)

    assert unusual_events(technician).exists()
    assert not OutboxMail.objects.filter(kind="unusual_sign_in_owner").exists()


@pytest.fixture
def alert(technician):
    sign_in(Client(), technician, REMOTE_ADDR=HOME, HTTP_USER_AGENT=FIREFOX_LINUX)
    sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)
    return unusual_events(technician).get()


def report_url(alert) -> str:
    return f"/audit/not-me/{report_link_token(alert=alert)}/"


def test_report_link_shows_a_confirmation_and_changes_nothing_on_get(client, alert, technician):
    response = client.get(report_url(alert))

    assert response.status_code == 200
    assert "It wasn't me: lock my account" in response.content.decode()
    assert ELSEWHERE in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    technician.refresh_from_db()
    assert technician.has_usable_password()
    assert UserSession.objects.filter(user=technician).count() == 2


def test_reporting_ends_sessions_locks_the_password_and_tells_owners(
    alert, technician, owner, password
):
    intruder = sign_in(Client(), technician, REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=SAFARI_IPHONE)

    response = Client().post(report_url(alert))

    assert response.status_code == 200
    assert "Account locked" in response.content.decode()
    assert "/accounts/password/reset/" in response.content.decode()
    technician.refresh_from_db()
    assert not technician.has_usable_password()
    assert not UserSession.objects.filter(user=technician).exists()
    assert intruder.get("/").status_code == 302
    assert SESSION_KEY not in intruder.session
    assert sign_in_attempt(Client(), technician.email, password).status_code == 200
    reported = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_REPORTED)
    assert reported.target == technician
    assert reported.details["alert"] == alert.pk
    assert reported.details["sign_in"] == alert.details["sign_in"]
    assert reported.details["sessions_ended"] == 3
    assert AuditEvent.objects.filter(
        event=AuditEventType.SESSION_REVOKED, target=technician
    ).exists()
    notice = OutboxMail.objects.get(kind="sign_in_reported_owner")
    assert notice.to == owner.email
    assert technician.email in notice.body_text


def test_report_link_works_once(alert, technician):
    Client().post(report_url(alert))

    again = Client().post(report_url(alert))
    looked = Client().get(report_url(alert))

    assert "Already reported" in again.content.decode()
    assert "Already reported" in looked.content.decode()
    assert AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_REPORTED).count() == 1


def test_expired_report_link_is_refused(alert, technician):
    url = report_url(alert)

    with time_machine.travel(timezone.now() + REPORT_LINK_MAX_AGE + timedelta(minutes=1)):
        response = Client().post(url)

    assert response.status_code == 400
    assert "expired" in response.content.decode()
    technician.refresh_from_db()
    assert technician.has_usable_password()


@pytest.mark.parametrize("token", ["nonsense", "1:forged:signature", "x" * 300, "%00", "..", "1"])
def test_forged_report_link_is_refused(client, alert, technician, token):
    response = client.post(f"/audit/not-me/{token}/")

    assert response.status_code in (400, 404)
    technician.refresh_from_db()
    assert technician.has_usable_password()


def test_report_link_for_another_event_type_is_refused(client, technician):
    from audit.services import audit_event_record

    other = audit_event_record(
        event=AuditEventType.SIGN_IN_SUCCEEDED,
        actor=technician,
        tenant=technician.tenant,
        target=technician,
    )

    response = client.post(report_url(other))

    assert response.status_code == 400


def bursts(user):
    return AuditEvent.objects.filter(target=user, event=AuditEventType.FAILURE_BURST)


def test_burst_of_failures_is_flagged_once_per_window(technician, settings):
    settings.LOCKOUT_FAILURES = 6
    settings.LOCKOUT_MINUTES = 15
    fail_sign_in(Client(), technician.email, **FROM_A_STRANGER)
    fail_sign_in(Client(), technician.email, **FROM_A_STRANGER)
    assert not bursts(technician).exists()

    fail_sign_in(Client(), technician.email, **FROM_A_STRANGER)
    fail_sign_in(Client(), technician.email, **FROM_A_STRANGER)

    burst = bursts(technician).get()
    assert burst.details == {"failures": 3, "minutes": 15}
    assert burst.ip == "198.51.100.5"
    mail = OutboxMail.objects.get(kind="failure_burst")
    assert mail.to == technician.email
    assert "3 failed attempts" in mail.body_text

    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        for _ in range(3):
            fail_sign_in(Client(), technician.email, **FROM_A_STRANGER)
    assert bursts(technician).count() == 2


def test_burst_counts_failures_whatever_case_the_email_was_typed_in(technician, settings):
    settings.LOCKOUT_FAILURES = 4
    fail_sign_in(Client(), technician.email.upper(), **FROM_A_STRANGER)
    fail_sign_in(Client(), f"  {technician.email} ", **FROM_A_STRANGER)

    assert bursts(technician).count() == 1


def test_burst_copies_owners_when_the_tenant_asks(technician, owner, tenant, settings):
    settings.LOCKOUT_FAILURES = 2
    tenant.alert_owners_on_unusual_sign_in = True
    tenant.save()

    fail_sign_in(Client(), technician.email, **FROM_A_STRANGER)

    assert OutboxMail.objects.get(kind="failure_burst_owner").to == owner.email


def test_failures_against_unknown_emails_flag_nothing(db, settings):
    settings.LOCKOUT_FAILURES = 4

    fail_sign_in(Client(), "nobody@example.com", **FROM_A_STRANGER)
    fail_sign_in(Client(), "nobody@example.com", **FROM_A_STRANGER)

    assert not AuditEvent.objects.filter(event=AuditEventType.FAILURE_BURST).exists()
