from datetime import datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from teams import scopes
from teams.services.inactivity import inactivity_warnings_send
from teams.tasks import apply_inactivity_policy
from tests.at_once import at_once
from tests.factories import UserFactory

NOW = datetime.fromisoformat("2026-06-01 03:17:00+00:00")


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def run_daily(days_later: int, capture) -> None:
    with time_machine.travel(NOW + timedelta(days=days_later), tick=False), capture(execute=True):
        apply_inactivity_policy.delay()


@pytest.fixture
def policy(tenant, owner):
    tenant.deactivate_after_days = 30
    tenant.save()
    owner.date_joined, owner.last_login = ago(400), ago(1)
    owner.save()
    return tenant


@pytest.fixture
def idle_person(policy):
    with time_machine.travel(ago(400), tick=False):
        return UserFactory(tenant=policy, email="idle@northwind.example", last_login=ago(22.5))


def active(person) -> bool:
    person.refresh_from_db()
    return person.is_active


def test_the_daily_run_is_scheduled():
    assert settings.CELERY_BEAT_SCHEDULE["apply-inactivity-policy"]["task"] == (
        "teams.tasks.apply_inactivity_policy"
    )


def test_a_person_is_warned_a_week_ahead_once_then_deactivated(
    idle_person, django_capture_on_commit_callbacks
):
    run_daily(0, django_capture_on_commit_callbacks)
    assert mail.outbox == [] and active(idle_person)

    run_daily(1, django_capture_on_commit_callbacks)
    [warning] = mail.outbox
    assert warning.to == ["idle@northwind.example"]
    assert warning.subject == "Your Northwind IT account will be deactivated on 9 Jun 2026"
    assert f"{settings.SITE_URL}/accounts/login/" in warning.body
    assert "We never ask for your password by email" in warning.body

    for day in range(2, 8):
        run_daily(day, django_capture_on_commit_callbacks)
        assert active(idle_person), day
    assert len(mail.outbox) == 1

    run_daily(8, django_capture_on_commit_callbacks)
    assert not active(idle_person)
    [deactivated] = AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED)
    assert deactivated.details["reason"] == "no sign-in for 30 days"
    assert AuditEvent.objects.filter(event=AuditEventType.INACTIVITY_WARNING_SENT).count() == 1


def test_signing_in_after_the_warning_keeps_the_account_and_a_new_spell_warns_again(
    idle_person, django_capture_on_commit_callbacks
):
    run_daily(1, django_capture_on_commit_callbacks)
    idle_person.last_login = NOW + timedelta(days=3)
    idle_person.save()

    run_daily(8, django_capture_on_commit_callbacks)
    assert active(idle_person)

    run_daily(3 + 24, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2


def test_nobody_is_deactivated_without_a_warning_when_the_policy_is_switched_on(
    policy, django_capture_on_commit_callbacks
):
    with time_machine.travel(ago(400), tick=False):
        long_gone = UserFactory(tenant=policy, last_login=ago(200))

    run_daily(0, django_capture_on_commit_callbacks)

    assert active(long_gone)
    assert len(mail.outbox) == 1
    run_daily(7, django_capture_on_commit_callbacks)
    assert not active(long_gone)


def test_tenants_without_the_policy_are_left_alone(tenant, django_capture_on_commit_callbacks):
    with time_machine.travel(ago(400), tick=False):
        person = UserFactory(tenant=tenant, last_login=ago(300))

    run_daily(0, django_capture_on_commit_callbacks)

    assert active(person)
    assert mail.outbox == []


def test_the_last_owner_is_neither_warned_nor_deactivated(
    policy, owner, django_capture_on_commit_callbacks
):
    owner.last_login = ago(100)
    owner.save()

    run_daily(0, django_capture_on_commit_callbacks)
    run_daily(10, django_capture_on_commit_callbacks)

    assert active(owner)
    assert mail.outbox == []


def test_owners_beyond_the_last_are_handled_like_everyone(
    policy, owner, django_capture_on_commit_callbacks
):
    with time_machine.travel(ago(400), tick=False):
        second = UserFactory(tenant=policy, builtin=scopes.OWNER, last_login=ago(100))

    run_daily(0, django_capture_on_commit_callbacks)
    run_daily(7, django_capture_on_commit_callbacks)

    assert not active(second)
    assert active(owner)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_warn_each_person_once(policy):
    with time_machine.travel(ago(400), tick=False):
        idle = [
            UserFactory(tenant=policy, email=f"idle{n}@northwind.example", last_login=ago(22.5))
            for n in range(5)
        ]
    outcomes = at_once(
        2, lambda _: inactivity_warnings_send(tenant=policy, now=NOW + timedelta(days=1))
    )

    assert sorted(outcomes) == [0, len(idle)]
    warnings = OutboxMail.objects.filter(kind="inactivity_warning").values_list("to", flat=True)
    assert sorted(warnings) == sorted(person.email for person in idle)
    assert AuditEvent.objects.filter(event=AuditEventType.INACTIVITY_WARNING_SENT).count() == len(
        idle
    )
