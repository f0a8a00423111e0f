"""Serialise read-then-write sections on a name, in the database, for the current transaction."""

from django.db import connection


def hold_lock(*names: str) -> None:
    """Block until no other transaction holds any of `names`; keep them until this transaction
    ends. Several names are taken in one statement, in the order given (PostgreSQL evaluates a
    select list from left to right), so callers that always name them in the same order never
    wait for each other in a cycle.

    Counting "how many so far, then one more" must not let two transactions read the same
    count. On PostgreSQL that is a transaction-level advisory lock on a hash of the name (two
    names sharing a hash only wait for each other). On SQLite every transaction already holds
    the whole database for writing from its start (`transaction_mode` IMMEDIATE in settings),
    so there is nothing more to take.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("hold_lock() only works inside transaction.atomic().")
    if connection.vendor == "postgresql" and names:
        locks = ", ".join(["pg_advisory_xact_lock(hashtext(%s))"] * len(names))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {locks}", list(names))  # noqa: S608 - placeholders only
