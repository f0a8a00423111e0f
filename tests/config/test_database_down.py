"""The database connection dropped in the middle of a request (SECURITY.md, Faults): a clean 503
page, nothing half-written, and the site answers again once the database is back."""

import psycopg
import pytest
from django.db import close_old_connections, connection
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from teams.services import sessions as team_services
from tests.signing_in import sign_in


def drop_this_connection() -> None:
    """Terminate the server side of Django's connection, as a database restart or a network cut
    does, from a second connection."""
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_mid_write_gives_a_503_and_changes_nothing(technician, monkeypatch):
    here = sign_in(Client(raise_request_exception=False), technician)
    there = sign_in(Client(raise_request_exception=False), technician)
    other_session = UserSession.objects.latest("pk")  # the one `there` signed in with
    revoked_before = AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).count()
    record = team_services.audit_event_record

    def record_after_the_connection_drops(**kwargs):
        drop_this_connection()
        return record(**kwargs)

    monkeypatch.setattr(team_services, "audit_event_record", record_after_the_connection_drops)
    response = here.post("/accounts/sessions/", {"revoke": other_session.pk})

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "Back in a moment" in response.content.decode()
    assert "Traceback" not in response.content.decode()

    # A real server closes a broken connection when the request ends; the test client skips
    # that so tests keep their connection, so do it here.
    close_old_connections()
    monkeypatch.undo()

    assert UserSession.objects.filter(pk=other_session.pk).exists(), "the delete was rolled back"
    assert AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).count() == revoked_before
    assert there.get("/").status_code == 200

    response = here.post("/accounts/sessions/", {"revoke": other_session.pk})
    assert response.status_code == 302
    assert not UserSession.objects.filter(pk=other_session.pk).exists()
    assert there.get("/").status_code == 302


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_before_a_page_reads_gives_a_503(technician, monkeypatch):
    client = sign_in(Client(raise_request_exception=False), technician)
    drop_this_connection()

    response = client.get("/accounts/sessions/")

    assert response.status_code == 503
    close_old_connections()
    assert client.get("/accounts/sessions/").status_code == 200


def test_other_errors_still_give_the_plain_500_page(rf):
    from config.errors import server_error

    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(rf.get("/"))

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
