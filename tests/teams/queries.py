from django.db import connection
from django.test.utils import CaptureQueriesContext


def statements_run(action) -> int:
    """How many SQL statements `action()` runs. SQLite caps the parameters of one statement, so
    Django splits a large bulk INSERT there; a run of INSERTs into one table counts as one."""
    with CaptureQueriesContext(connection) as queries:
        action()
    statements = [query["sql"] for query in queries]
    if connection.vendor == "sqlite":
        statements = [
            sql
            for index, sql in enumerate(statements)
            if not (
                index
                and sql.startswith("INSERT INTO")
                and sql.split("(")[0] == statements[index - 1].split("(")[0]
            )
        ]
    return len(statements)
