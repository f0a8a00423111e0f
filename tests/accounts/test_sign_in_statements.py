"""The password step's statement budget (docs/performance.md): a person with no second factor,
password POST to signed in. Statements are counted, not timed, as `make bench` part 1 counts
them: transaction control (BEGIN, SAVEPOINT, COMMIT) included, in real transactions."""

import re
from collections import Counter

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory

LOGIN = "/accounts/login/"
# What each part of the sign-in may cost, by purpose: the most any of the three visits spends
# (a first sign-in or one after a colleague inserts a counter row). Single sign-on costs nothing:
# the tenant, read with the person, says whether it requires single sign-on at all. A first
# sign-in has no history to check; a returning person's is one query. The session cap costs
# nothing under the cap: the session's INSERT counts the others. On PostgreSQL the lockout slot
# is one statement in autocommit (`lockout_slots_take`: the advisory lock, the read, the count),
# so the only transaction is the completion's; SQLite's transactions hold the whole database
# from their start instead, and it reads, counts and extends in statements of their own.
BUDGET = {
    "postgresql": {
        "transaction": 2,
        "lockout": 2,
        "person": 2,
        "second factor": 1,
        "session tracking": 1,
        "audit": 2,
        "unusual sign-in": 1,
        "session": 1,
    },
    "sqlite": {
        "transaction": 4,
        "lockout": 5,
        "person": 2,
        "second factor": 1,
        "session tracking": 1,
        "audit": 2,
        "unusual sign-in": 1,
        "session": 1,
    },
}
TABLE = re.compile(r'(?:FROM|INTO|UPDATE) "(\w+)"')
PURPOSES = {
    "axes_": "lockout",
    "otp_": "second factor",
    "mfa_": "second factor",
    "teams_usersession": "session tracking",
    "audit_": "audit",
    "accounts_user": "person",
    "django_session": "session",
    "sso_": "single sign-on",
}


def purpose_of(sql: str) -> str:
    """What a statement is for, from the first table it names."""
    if sql.split(" ", 1)[0] in {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"}:
        return "transaction"
    if "pg_advisory_xact_lock" in sql or "lockout_slots_take" in sql:
        return "lockout"
    table = TABLE.search(sql)
    if table is None:
        return sql
    if table.group(1) == "audit_auditevent" and sql.startswith("SELECT"):
        return "unusual sign-in"  # the person's earlier sign-ins
    return next(
        (purpose for prefix, purpose in PURPOSES.items() if table.group(1).startswith(prefix)),
        sql,
    )


def sign_in_statements(email: str, password: str) -> Counter:
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        response = client.post(LOGIN, {"username": email, "password": password})
    assert response.status_code == 302
    assert response.url == "/"
    assert SESSION_KEY in client.session
    return Counter(purpose_of(query["sql"]) for query in queries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("visit", ["first sign-in", "colleague before", "returning person"])
def test_password_only_sign_in_stays_within_its_statement_budget(
    tenant, technician, password, visit
):
    if visit == "colleague before":
        # The IP's counter exists, the email's doesn't: one row updated, one inserted.
        colleague = UserFactory(tenant=tenant, email="colleague@northwind.example")
        sign_in_statements(colleague.email, password)
    if visit == "returning person":
        # Both counters, the history and the session cap as an earlier sign-in left them.
        sign_in_statements(technician.email, password)

    spent = sign_in_statements(technician.email, password)

    budget = BUDGET[connection.vendor]
    over = {
        purpose: (count, budget.get(purpose, 0))
        for purpose, count in spent.items()
        if count > budget.get(purpose, 0)
    }
    assert not over, f"over budget (spent, allowed): {over}"
    assert sum(spent.values()) <= sum(budget.values())
