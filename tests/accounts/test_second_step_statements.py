"""The second step's statement budget (docs/performance.md): a person past the password with an
authenticator app, the code's POST to signed in. Counted like the password step's
(tests/accounts/test_sign_in_statements.py, whose purposes this reuses): transaction control
included, in real transactions."""

from collections import Counter

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.test_sign_in_statements import purpose_of
from tests.signing_in import VERIFY, device_code, sign_in, sign_in_with_totp

# What each part of the second step may cost, by purpose, for the costlier of the two visits (a
# first sign-in, or a returning person whose counters, history and session cap are there).
# The person is read once, with the attempt, and once more only by the UPDATE of `last_login`
# that also checks they are still active; the factor policy is decided once (one query), and
# the device is checked and used under its lock, then named on the session as loaded. The
# session moves to its new key in the response's one UPDATE (SQLite, without Redis, also
# reads it); the code's lockout slot is settled once, in the transaction that completes the
# sign-in.
BUDGET = {
    "postgresql": {
        "transaction": 6,
        "lockout": 4,
        "person": 2,
        "second factor": 3,
        "session tracking": 2,
        "audit": 4,
        "unusual sign-in": 2,
        "session": 1,
    },
    "sqlite": {
        "transaction": 6,
        "lockout": 4,
        "person": 2,
        "second factor": 3,
        "session tracking": 2,
        "audit": 4,
        "unusual sign-in": 2,
        "session": 2,
    },
}


def second_step_statements(user, device: TOTPDevice) -> Counter:
    client = sign_in(Client(), user)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(VERIFY, {"otp_token": device_code(device)})
    assert response.status_code == 302
    assert not response.url.startswith(VERIFY)
    assert SESSION_KEY in client.session
    return Counter(purpose_of(query["sql"]) for query in queries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("visit", ["first sign-in", "returning person"])
def test_second_step_stays_within_its_statement_budget(clock, user_with_totp, visit):
    device = TOTPDevice.objects.get(user=user_with_totp)
    if visit == "returning person":
        sign_in_with_totp(Client(), user_with_totp, device)
        clock.shift(30)  # a code is accepted once; the next one comes a time step later

    spent = second_step_statements(user_with_totp, device)

    budget = BUDGET[connection.vendor]
    over = {
        purpose: (count, budget.get(purpose, 0))
        for purpose, count in spent.items()
        if count > budget.get(purpose, 0)
    }
    assert not over, f"over budget (spent, allowed): {over}"
    assert sum(spent.values()) <= sum(budget.values())
