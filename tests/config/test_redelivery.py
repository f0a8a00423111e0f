"""A task whose worker dies is delivered again within minutes, not after Redis's default hour,
and running it twice does no harm (docs/deploy.md, "Faults that come together")."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from audit.tasks import apply_audit_retention_for_tenant
from config.celery import app as celery_app
from support.models import RecoveryAttempt, RecoveryRequest
from support.tasks import expire_recovery_requests, process_recovery_attempt

pytestmark = pytest.mark.django_db


def test_unacknowledged_tasks_come_back_within_minutes_and_never_while_running():
    conf = celery_app.conf
    visibility = conf.broker_transport_options["visibility_timeout"]

    assert visibility == 300
    # Redis hands a task to another worker only once no worker can still be running it.
    assert conf.task_time_limit == 240 < visibility
    # Workers look for abandoned tasks every 10 s, not every 10 x 10 s.
    assert conf.broker_transport_options["unacked_restore_interval"] == 10
    assert conf.broker_transport_options["unacked_restore_throttle"] == 1
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    # Set, so workers neither warn at start nor at a lost connection.
    assert conf.broker_connection_retry_on_startup is True
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True


def test_a_time_limit_as_long_as_the_visibility_timeout_is_refused():
    env = {**os.environ, "TASK_VISIBILITY_TIMEOUT": "60", "TASK_TIME_LIMIT": "60"}
    result = subprocess.run(  # noqa: S603 - the settings module, in a fresh interpreter
        [sys.executable, "-c", "import config.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "TASK_TIME_LIMIT must be shorter than TASK_VISIBILITY_TIMEOUT" in result.stderr


def test_a_recovery_submission_delivered_twice_opens_one_request_and_mails_once(technician, owner):
    Client().post("/recovery/", {"email": technician.email, "reason": "other"})
    attempt = RecoveryAttempt.objects.get()

    with TestCase.captureOnCommitCallbacks(execute=True):
        process_recovery_attempt.delay(attempt.pk)
    mailed = len(mail.outbox)
    with TestCase.captureOnCommitCallbacks(execute=True):
        process_recovery_attempt.delay(attempt.pk)

    assert RecoveryRequest.objects.count() == 1
    assert mailed > 0
    assert len(mail.outbox) == mailed
    assert AuditEvent.objects.filter(event=AuditEventType.RECOVERY_REQUESTED).count() == 1


def test_audit_retention_delivered_twice_removes_once(tenant):
    audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
    tenant.audit_retention_months = 1
    tenant.save()

    with time_machine.travel(timezone.now() + timedelta(days=400)):
        apply_audit_retention_for_tenant.delay(tenant.pk)
        apply_audit_retention_for_tenant.delay(tenant.pk)

    applied = AuditEvent.objects.filter(event=AuditEventType.AUDIT_RETENTION_APPLIED)
    assert [event.details["removed"] for event in applied] == [1]


def test_recovery_expiry_delivered_twice_expires_and_audits_once(technician, owner):
    Client().post("/recovery/", {"email": technician.email, "reason": "other"})
    process_recovery_attempt.delay(RecoveryAttempt.objects.get().pk)

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        expire_recovery_requests.delay()
        expire_recovery_requests.delay()

    assert RecoveryRequest.objects.get().status == RecoveryRequest.Status.EXPIRED
    assert AuditEvent.objects.filter(event=AuditEventType.RECOVERY_EXPIRED).count() == 1
