"""Serialise read-then-write sections on a name, in the database, for the current transaction."""

from django.db import connection


def hold_lock(name: str) -> None:
    """Block until no other transaction holds `name`; keep it until this transaction ends.

    Counting "how many so far, then one more" must not let two transactions read the same
    count. On PostgreSQL that is a transaction-level advisory lock on a hash of the name (two
    names sharing a hash only wait for each other). On SQLite every transaction already holds
    the whole database for writing from its start (`transaction_mode` IMMEDIATE in settings),
    so there is nothing more to take.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("hold_lock() only works inside transaction.atomic().")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
