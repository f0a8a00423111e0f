import pytest
from django.db import DatabaseError, connection, transaction

from audit.events import AuditEventType
from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_event_record


@pytest.fixture
def event(technician):
    return audit_event_record(
        event=AuditEventType.SIGN_IN_FAILED,
        actor=None,
        tenant=technician.tenant,
        target=technician,
        details={"email": technician.email},
    )


def test_orm_refuses_to_change_an_event(event):
    event.details = {"email": "someone-else@example.com"}

    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(target_label="nobody")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["details"])
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update_or_create(pk=event.pk, defaults={"target_label": "x"})

    assert AuditEvent.objects.get(pk=event.pk).details == {"email": "tech@northwind.example"}


def test_orm_refuses_to_delete_an_event(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def _raw(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres
def test_database_refuses_update_and_delete_in_sql(event):
    with pytest.raises(DatabaseError, match="append-only: UPDATE"):
        _raw("UPDATE audit_auditevent SET target_label = 'x' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only: DELETE"):
        _raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])

    assert AuditEvent.objects.get(pk=event.pk).target_label == "tech@northwind.example"


@pytest.mark.postgres
def test_database_refuses_truncate(event):
    # The test database switches this trigger off for transactional tests' TRUNCATE; this
    # transaction switches it back on and is rolled back at the end of the test.
    # (Deferred foreign-key checks would block ALTER TABLE: run them now.)
    _raw("SET CONSTRAINTS ALL IMMEDIATE")
    _raw("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_truncate")

    with pytest.raises(DatabaseError, match="append-only: TRUNCATE"):
        _raw("TRUNCATE audit_auditevent")

    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.postgres
def test_the_retention_setting_only_lets_deletes_through(event):
    with (
        pytest.raises(DatabaseError, match="append-only: UPDATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT set_config('portcullis.audit_retention', 'on', true)")
        cursor.execute("UPDATE audit_auditevent SET target_label = 'x'")
