"""One code, many requests at the same moment: exactly one gets in (PostgreSQL, real threads)."""

import pytest
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCodeDevice
from tests.mfa.helpers import backup_codes_issue, submit_all_at_once, totp_code
from tests.signing_in import sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PARALLEL = 20


@pytest.fixture(autouse=True)
def lockout_out_of_the_way(settings):
    """Every request must reach the code check, so the replay guard is what is tested here."""
    settings.LOCKOUT_FAILURES = PARALLEL * 5


@pytest.fixture(autouse=True)
def room_for_every_client(user_with_totp):
    """One person signed in twenty times: more sessions than a role allows by default."""
    user_with_totp.role.max_sessions = PARALLEL
    user_with_totp.role.save()


def test_twenty_parallel_submissions_of_one_totp_code_give_exactly_one_success(
    clock, user_with_totp
):
    clients = [sign_in(Client(), user_with_totp) for _ in range(PARALLEL)]

    statuses = submit_all_at_once(clients, {"otp_token": totp_code(user_with_totp)})

    assert sorted(statuses) == [200] * (PARALLEL - 1) + [302]
    assert AuditEvent.objects.filter(event=AuditEventType.MFA_VERIFIED).count() == 1
    assert AuditEvent.objects.filter(event=AuditEventType.MFA_FAILED).count() == PARALLEL - 1


def test_twenty_parallel_submissions_of_one_backup_code_give_exactly_one_success(
    clock, user_with_totp
):
    codes = backup_codes_issue(user_with_totp)
    clients = [sign_in(Client(), user_with_totp) for _ in range(PARALLEL)]

    statuses = submit_all_at_once(clients, {"otp_token": codes[0]})

    assert sorted(statuses) == [200] * (PARALLEL - 1) + [302]
    assert BackupCodeDevice.objects.get(user=user_with_totp).codes_left() == 9
    assert AuditEvent.objects.filter(event=AuditEventType.BACKUP_CODE_USED).count() == 1


def test_two_requests_with_one_backup_code_at_the_same_moment_get_one_success(
    clock, user_with_totp
):
    codes = backup_codes_issue(user_with_totp)
    clients = [sign_in(Client(), user_with_totp) for _ in range(2)]

    statuses = submit_all_at_once(clients, {"otp_token": codes[3]})

    assert sorted(statuses) == [200, 302]
