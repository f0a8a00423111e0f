import csv
import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from mfa.models import BackupCodeDevice
from outbox.models import OutboxMail
from reviews.models import AccessReview
from reviews.selectors import access_review_rows
from reviews.services import access_review_summaries_send
from reviews.tasks import send_access_review_summaries
from teams import scopes
from teams.models import UserSession
from tests.at_once import at_once
from tests.factories import TOTPDeviceFactory, UserFactory, UserSessionFactory
from tests.signing_in import prove_identity, sign_in, sign_in_attempt

pytestmark = pytest.mark.django_db

PAGE = "/access-review/"
ACT = "/access-review/act/"


def rows_by_email(tenant):
    return {row.person.email: row for row in access_review_rows(tenant=tenant)}


def test_a_fresh_person_has_no_flags(tenant, technician):
    technician.last_login = timezone.now()
    technician.save()

    assert rows_by_email(tenant)[technician.email].flags == []


def test_no_mfa_where_required_is_flagged(tenant, technician):
    technician.last_login = timezone.now()
    technician.save()
    technician.role.require_mfa = True
    technician.role.save()

    assert rows_by_email(tenant)[technician.email].flags == ["no_mfa_required"]
    TOTPDeviceFactory(user=technician)
    row = rows_by_email(tenant)[technician.email]
    assert row.flags == [] and row.mfa == "app"


def test_backup_codes_left_are_counted(tenant, technician):
    device = BackupCodeDevice.objects.create(user=technician, name="Backup codes", confirmed=True)
    device.codes_replace()
    device.codes.filter(pk=device.codes.first().pk).update(used_at=timezone.now())

    row = rows_by_email(tenant)[technician.email]
    assert row.mfa == "backup codes only"
    assert row.backup_codes_left == device.codes.count() - 1


def test_no_sign_in_for_30_days_is_flagged(tenant, technician):
    technician.last_login = timezone.now() - timedelta(days=31)
    technician.save()

    assert rows_by_email(tenant)[technician.email].flags == ["stale"]


def test_more_than_n_sessions_is_flagged(tenant, technician, settings):
    technician.last_login = timezone.now()
    technician.save()
    settings.ACCESS_REVIEW_MAX_SESSIONS = 2
    UserSessionFactory.create_batch(3, user=technician)

    row = rows_by_email(tenant)[technician.email]
    assert row.sessions == 3 and row.flags == ["many_sessions"]


def test_recent_failures_and_lock_are_flagged(client, tenant, technician, settings):
    technician.last_login = timezone.now()
    technician.save()
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(client, technician.email, "nope-nope")

    row = rows_by_email(tenant)[technician.email]
    assert row.locked and row.failures == settings.LOCKOUT_FAILURES
    assert row.flags == ["failures", "locked"]


def test_unusual_sign_in_is_flagged_and_old_trouble_is_not(tenant, technician):
    technician.last_login = timezone.now()
    technician.save()
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        audit_event_record(
            event=AuditEventType.UNUSUAL_SIGN_IN, actor=None, tenant=tenant, target=technician
        )
    assert rows_by_email(tenant)[technician.email].flags == []

    audit_event_record(
        event=AuditEventType.UNUSUAL_SIGN_IN, actor=None, tenant=tenant, target=technician
    )
    assert rows_by_email(tenant)[technician.email].flags == ["unusual"]


def test_page_needs_members_read(client_signed_in):
    assert client_signed_in.get(PAGE).status_code == 403


def test_page_shows_only_own_tenant_with_role_scopes_and_password_age(
    owner, technician, other_owner
):
    content = sign_in(Client(), owner).get(PAGE).content.decode()

    assert technician.email in content
    assert other_owner.email not in content
    assert "Reset a person&#x27;s second factors" in content
    assert "0 days" in content


def test_filter_and_sort(owner, technician, tenant):
    stale = UserFactory(tenant=tenant, email="stale@northwind.example")
    User.objects.filter(pk=stale.pk).update(date_joined=timezone.now() - timedelta(days=90))
    browser = sign_in(Client(), owner)

    flagged = browser.get(PAGE, {"flag": "stale"}).content.decode()
    assert "stale@northwind.example" in flagged and technician.email not in flagged
    by_role = browser.get(PAGE, {"role": owner.role_id}).content.decode()
    assert owner.email in by_role and technician.email not in by_role
    assert browser.get(PAGE, {"sort": "nonsense", "role": "x", "flag": "?"}).status_code == 200
    for sort in ("email", "role", "last_sign_in", "sessions", "password_age", "flags"):
        assert browser.get(PAGE, {"sort": sort}).status_code == 200


def test_query_count_does_not_grow_with_people(owner, tenant):
    browser = sign_in(Client(), owner)
    for _ in range(3):
        UserFactory(tenant=tenant)
    with CaptureQueriesContext(connection) as few:
        browser.get(PAGE)
    for _ in range(20):
        person = UserFactory(tenant=tenant)
        UserSessionFactory.create_batch(2, user=person)
        TOTPDeviceFactory(user=person)
    with CaptureQueriesContext(connection) as many:
        response = browser.get(PAGE)

    assert response.status_code == 200
    assert len(many) == len(few)


def test_bulk_deactivate_asks_to_confirm_then_acts_and_audits(owner, technician, tenant):
    other = UserFactory(tenant=tenant)
    browser = sign_in(Client(), owner)
    sign_in(Client(), technician)
    data = {"action": "deactivate", "people": [technician.pk, other.pk]}

    confirm = browser.post(ACT, data)
    assert confirm.status_code == 200
    assert "Yes, deactivate" in confirm.content.decode()
    technician.refresh_from_db()
    assert technician.is_active

    done = browser.post(ACT, {**data, "confirmed": "on"})
    assert done.status_code == 302
    assert not User.objects.filter(pk__in=[technician.pk, other.pk], is_active=True).exists()
    assert AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED).count() == 2
    assert not UserSession.objects.filter(user=technician).exists()


def test_bulk_revoke_sessions_is_audited(owner, technician):
    browser = sign_in(Client(), owner)
    victim = sign_in(Client(), technician)

    browser.post(ACT, {"action": "revoke_sessions", "people": [technician.pk], "confirmed": "on"})

    assert victim.get("/").status_code == 302
    event = AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).latest("id")
    assert event.target == technician and event.details["reason"] == "access_review"


def test_bulk_require_password_change_is_audited(owner, technician):
    sign_in(Client(), owner).post(
        ACT, {"action": "require_password_change", "people": [technician.pk], "confirmed": "on"}
    )

    technician.refresh_from_db()
    assert technician.password_change_required
    event = AuditEvent.objects.get(event=AuditEventType.PASSWORD_CHANGE_REQUIRED)
    assert event.actor == owner and event.target == technician


def test_bulk_actions_obey_the_rules(owner, tenant):
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN, email="admin@northwind.example")
    browser = sign_in(Client(), admin)

    response = browser.post(
        ACT,
        {"action": "deactivate", "people": [owner.pk, admin.pk], "confirmed": "on"},
        follow=True,
    )

    content = response.content.decode()
    assert "holds scopes you don" in content
    assert "deactivate yourself" in content
    assert User.objects.filter(pk__in=[owner.pk, admin.pk], is_active=True).count() == 2
    assert not AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED).exists()


def test_read_only_people_cannot_act(tenant, technician):
    reader = UserFactory(tenant=tenant, builtin=scopes.READ_ONLY)
    browser = sign_in(Client(), reader)

    page = browser.get(PAGE)
    assert page.status_code == 200
    assert 'name="action"' not in page.content.decode(), "no action offered they can't do"
    browser.post(ACT, {"action": "deactivate", "people": [technician.pk], "confirmed": "on"})

    technician.refresh_from_db()
    assert technician.is_active


def test_another_tenants_person_cannot_be_acted_on(owner, other_owner, other_tenant):
    victim = UserFactory(tenant=other_tenant)

    response = sign_in(Client(), owner).post(
        ACT, {"action": "deactivate", "people": [victim.pk], "confirmed": "on"}, follow=True
    )

    assert "not in your tenant" in response.content.decode()
    victim.refresh_from_db()
    assert victim.is_active


def test_bad_bulk_input_is_a_message_not_an_error(owner):
    browser = sign_in(Client(), owner)

    for data in ({}, {"action": "drop", "people": ["x"]}, {"people": ["99999999999999"]}):
        response = browser.post(ACT, data, follow=True)
        assert response.status_code == 200
    assert browser.get(ACT).status_code == 405


def test_review_done_is_one_click_and_audited(owner, technician, tenant):
    sign_in(Client(), owner).post("/access-review/done/")

    review = AccessReview.objects.get()
    assert review.reviewer == owner and review.people_reviewed == 2
    event = AuditEvent.objects.get(event=AuditEventType.ACCESS_REVIEW_COMPLETED)
    assert (
        event.details["summary"] == f"access review completed by {owner.email}, 2 people reviewed"
    )
    assert event.tenant == tenant


def test_monthly_summary_mails_each_owner(
    tenant, owner, technician, other_owner, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://portcullis.example-msp.net"
    second_owner = UserFactory(tenant=tenant, builtin=scopes.OWNER)
    User.objects.filter(pk=technician.pk).update(date_joined=timezone.now() - timedelta(days=40))

    with django_capture_on_commit_callbacks(execute=True):
        send_access_review_summaries.delay()

    by_to = {m.to[0]: m for m in mail.outbox}
    assert set(by_to) == {owner.email, second_owner.email, other_owner.email}
    body = by_to[owner.email].body
    assert "People: 3 (3 active, 0 deactivated)" in body
    assert f"{technician.email}: no sign-in for 30+ days" in body
    assert "https://portcullis.example-msp.net/access-review/" in body
    assert technician.email not in by_to[other_owner.email].body


def test_monthly_summary_goes_once_a_month_however_often_it_runs(
    tenant, owner, django_capture_on_commit_callbacks
):
    with time_machine.travel("2026-12-01 06:00:00Z", tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            send_access_review_summaries.delay()
            send_access_review_summaries.delay()
        with time_machine.travel("2026-12-31 23:59:00Z", tick=False):
            assert access_review_summaries_send() == 0
    assert [message.to for message in mail.outbox] == [[owner.email]]

    with time_machine.travel("2027-01-01 06:00:00Z", tick=False):
        assert access_review_summaries_send() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_mail_each_owner_once(tenant, owner, other_owner):
    outcomes = at_once(2, lambda _: access_review_summaries_send())

    # Each tenant's summary was queued by one run or the other, never by both.
    assert sum(outcomes) == 2
    mailed = OutboxMail.objects.filter(kind="access_review_summary").values_list("to", flat=True)
    assert sorted(mailed) == sorted([owner.email, other_owner.email])


def test_command_prints_csv_and_json(tenant, owner, technician):
    technician.full_name = "=HYPERLINK(evil)"
    technician.save()
    out = io.StringIO()
    call_command("review_access", "--tenant", tenant.slug, stdout=out)
    records = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["email"] for r in records} == {owner.email, technician.email}
    assert next(r for r in records if r["email"] == technician.email)["name"].startswith("'=")

    out = io.StringIO()
    call_command("review_access", "--tenant", tenant.slug, "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["tenant"] == tenant.slug
    owner_record = next(p for p in data["people"] if p["email"] == owner.email)
    assert "mfa:reset" in owner_record["scopes"] and owner_record["mfa"] == "none"


def test_command_bad_arguments_exit_2(tenant):
    with pytest.raises(CommandError) as error:
        call_command("review_access", "--tenant", "no-such-msp")
    assert error.value.returncode == 2
    finished = subprocess.run(
        [sys.executable, "manage.py", "review_access", "--tenant", tenant.slug, "--format", "xml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "invalid choice: 'xml'" in finished.stderr


def test_bulk_unlock_asks_to_confirm_then_unlocks_and_audits(client, owner, technician, settings):
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(client, technician.email, "nope-nope")
    browser = sign_in(Client(), owner)
    assert '<option value="unlock">Unlock</option>' in browser.get(PAGE).content.decode()
    data = {"action": "unlock", "people": [technician.pk]}

    confirm = browser.post(ACT, data).content.decode()
    assert "Yes, unlock" in confirm
    assert "They can sign in again at once" in confirm
    done = browser.post(ACT, {**data, "confirmed": "on"})

    assert done.status_code == 302
    assert not rows_by_email(technician.tenant)[technician.email].locked
    unlocked = AuditEvent.objects.get(event=AuditEventType.ACCOUNT_UNLOCKED)
    assert (unlocked.actor, unlocked.target) == (owner, technician)
    assert sign_in(Client(), technician).get("/").status_code == 200


def test_bulk_two_factor_reset_needs_a_fresh_proof_then_resets_and_audits(
    clock, settings, owner, user_with_totp
):
    browser = sign_in(Client(), owner)
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)
    assert (
        '<option value="reset_mfa">Reset two-factor</option>' in browser.get(PAGE).content.decode()
    )
    data = {"action": "reset_mfa", "people": [user_with_totp.pk]}

    asked = browser.post(ACT, data)
    assert asked.status_code == 302 and asked.url.startswith("/mfa/confirm-password/")
    assert user_with_totp.totpdevice_set.filter(confirmed=True).exists()

    prove_identity(browser, owner)
    assert "Yes, reset two-factor" in browser.post(ACT, data).content.decode()
    done = browser.post(ACT, {**data, "confirmed": "on"}, follow=True)

    assert "Reset two-factor: done for" in done.content.decode()
    assert not user_with_totp.totpdevice_set.exists()
    reset = AuditEvent.objects.get(event=AuditEventType.MFA_RESET)
    assert (reset.actor, reset.target) == (owner, user_with_totp)


def test_rows_keep_each_cell_in_its_column_and_break_emails_at_the_at_sign(owner, tenant):
    UserFactory(tenant=tenant, email="averyverylongname.surname@northwind-consulting.example")

    page = sign_in(Client(), owner).get(PAGE).content.decode()

    assert "averyverylongname.surname<wbr>@northwind-consulting.example" in page
    person_cell = page.split('data-label="Person"><div>', 1)[1].split("</td>", 1)[0]
    assert person_cell.endswith("</div>")
