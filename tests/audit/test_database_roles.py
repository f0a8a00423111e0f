"""On PostgreSQL the site runs as a role that can't rewrite the audit log (docs/audit.md)."""

import io
import os
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.roles import site_role_grants, site_role_problems
from audit.services import audit_event_record, audit_retention_apply

SITE_ROLE = f"portcullis_site_test_{os.getpid()}"


def owner_role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        return cursor.fetchone()[0]


@pytest.fixture
def site_role(db):
    """A role granted exactly what `database_roles` grants; the test's transaction (and so the
    role) is rolled back at the end."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{SITE_ROLE}" NOLOGIN')
        for statement in site_role_grants(site_role=SITE_ROLE, owner_role=owner_role()):
            cursor.execute(statement)
    return SITE_ROLE


@contextmanager
def as_site_role():
    """Run as the site's role inside a savepoint, so a refused statement undoes only itself."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{SITE_ROLE}"')
        yield cursor
        cursor.execute("RESET ROLE")


def refused(sql: str, params=(), *, after: str | None = None) -> str:
    """The error the site's role gets for `sql` (run after the statement `after`, if given)."""
    with pytest.raises(DatabaseError) as refusal, as_site_role() as cursor:
        if after:
            cursor.execute(after)
        cursor.execute(sql, params)
    return str(refusal.value)


@pytest.fixture
def event(tenant):
    return audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)


@pytest.mark.postgres
def test_the_site_role_cannot_drop_the_triggers(site_role, event):
    assert "must be owner" in refused("DROP TRIGGER audit_event_append_only ON audit_auditevent")
    assert "must be owner" in refused(
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only"
    )
    assert "must be owner" in refused("DROP FUNCTION audit_event_refuse_change() CASCADE")


@pytest.mark.postgres
def test_the_site_role_cannot_update_delete_or_truncate_events(site_role, event):
    assert "permission denied" in refused(
        "UPDATE audit_auditevent SET target_label = 'x' WHERE id = %s", [event.pk]
    )
    assert "permission denied" in refused("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    # Not even after switching on the retention setting the trigger lets deletes through with.
    assert "permission denied" in refused(
        "DELETE FROM audit_auditevent WHERE id = %s",
        [event.pk],
        after="SELECT set_config('portcullis.audit_retention', 'on', true)",
    )
    assert "permission denied" in refused("TRUNCATE audit_auditevent")
    assert "permission denied" in refused("CREATE TABLE shadow (id int)")

    assert AuditEvent.objects.get(pk=event.pk).target_label == ""


@pytest.mark.postgres
def test_the_site_role_records_events_and_retention_still_removes_old_ones(site_role, tenant):
    tenant.audit_retention_months = 12
    tenant.save()
    with as_site_role():
        for year in (2024, 2024, 2026):
            with time_machine.travel(datetime(year, 1, 1, tzinfo=UTC), tick=False):
                audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
        with time_machine.travel(datetime(2026, 2, 1, tzinfo=UTC), tick=False):
            removed = audit_retention_apply(tenant=tenant)

    assert removed == 2
    assert list(
        AuditEvent.objects.for_tenant(tenant).order_by("sequence").values_list("sequence", "event")
    ) == [(3, AuditEventType.ADMIN_ACTION), (4, AuditEventType.AUDIT_RETENTION_APPLIED)]
    out = io.StringIO()
    call_command("verify_audit_log", "--full", stdout=out)
    assert out.getvalue() == "Audit log intact: 2 events in 1 chains.\n"


@pytest.mark.postgres
def test_the_checks_pass_for_the_granted_role_and_name_what_a_superuser_could_do(site_role):
    owner = owner_role()
    with connection.cursor() as cursor:
        assert site_role_problems(cursor, site_role=site_role, owner_role=owner) == []
        cursor.execute(f'GRANT UPDATE ON audit_auditevent TO "{site_role}"')
        assert site_role_problems(cursor, site_role=site_role, owner_role=owner) == [
            f"{site_role} holds UPDATE on audit_auditevent"
        ]
        assert f"{owner} is a superuser, which bypasses every privilege" in site_role_problems(
            cursor, site_role=owner, owner_role=owner
        )


@pytest.mark.postgres
def test_the_command_prints_the_grants_for_the_two_roles(db):
    site = connection.settings_dict["USER"]
    url = "postgres://portcullis_owner:secret@db.internal:5432/portcullis"
    out = io.StringIO()
    with override_settings(MIGRATE_DATABASE_URL=url):
        call_command("database_roles", "--sql", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines == [
        f"{statement};"
        for statement in site_role_grants(site_role=site, owner_role="portcullis_owner")
    ]
    assert (
        f'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_auditevent FROM "{site}";'
        in lines
    )


def test_with_one_role_or_on_sqlite_there_is_nothing_to_grant(db):
    out = io.StringIO()
    with override_settings(MIGRATE_DATABASE_URL=""):
        call_command("database_roles", stdout=out)

    assert out.getvalue().startswith("Nothing to grant:")


def test_the_release_migrates_as_the_migrating_role_then_grants():
    procfile = (settings.BASE_DIR / "Procfile").read_text()
    release = next(line for line in procfile.splitlines() if line.startswith("release:"))

    migrate = "DATABASE_URL=${MIGRATE_DATABASE_URL:-$DATABASE_URL} python manage.py migrate"
    assert release.index(migrate) < release.index("python manage.py database_roles")
