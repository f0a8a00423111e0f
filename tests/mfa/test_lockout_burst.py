"""A burst of wrong codes can't outrun the account lockout (PostgreSQL, real threads)."""

import pytest
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from tests.mfa.helpers import submit_all_at_once, totp_code
from tests.signing_in import VERIFY, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_parallel_wrong_codes_never_let_a_right_code_in(clock, user_with_totp, settings):
    user_with_totp.role.max_sessions = 20
    user_with_totp.role.save()
    clients = [sign_in(Client(), user_with_totp) for _ in range(20)]

    statuses = submit_all_at_once(clients, {"otp_token": "000000"})

    checked = (
        AuditEvent.objects.filter(event=AuditEventType.MFA_FAILED)
        .exclude(details__has_key="refused")
        .count()
    )
    assert checked == settings.LOCKOUT_FAILURES
    assert statuses.count(429) >= 20 - settings.LOCKOUT_FAILURES
    response = clients[0].post(VERIFY, {"otp_token": totp_code(user_with_totp)})
    assert response.status_code == 429
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_VERIFIED).exists()
