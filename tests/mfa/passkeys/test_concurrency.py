"""One passkey answer posted many times at once from its session: exactly one gets in
(PostgreSQL, real threads). The session's challenge is read by every request before any of them
writes it back; the row lock on the passkey and its last challenge are what hold."""

import pytest
from django.conf import settings
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from tests.mfa.helpers import submit_all_at_once
from tests.mfa.passkeys.authenticator import PASSKEY_VERIFY, second_step_options
from tests.signing_in import sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PARALLEL = 10


@pytest.fixture(autouse=True)
def lockout_out_of_the_way(settings):
    settings.LOCKOUT_FAILURES = PARALLEL * 5


@pytest.mark.parametrize("counter_step", [1, 0], ids=["counting", "synced-without-counter"])
def test_one_answer_posted_at_once_signs_in_once(user_with_passkey, authenticator, counter_step):
    authenticator.counter_step = counter_step
    first = sign_in(Client(), user_with_passkey)
    answer = authenticator.get(second_step_options(first))
    session_cookie = first.cookies[settings.SESSION_COOKIE_NAME].value
    clients = []
    for _ in range(PARALLEL):
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = session_cookie
        clients.append(client)
    submit_all_at_once(clients, {"credential": answer}, path=PASSKEY_VERIFY)

    passed = AuditEvent.objects.filter(event=AuditEventType.MFA_VERIFIED)
    assert passed.count() == 1
    assert PasskeyDevice.objects.get(user=user_with_passkey).sign_count == counter_step
