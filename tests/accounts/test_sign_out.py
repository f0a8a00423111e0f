from django.contrib.auth import SESSION_KEY

from audit.events import AuditEventType
from audit.models import AuditEvent


def test_get_sign_out_only_asks_for_confirmation(client_signed_in):
    response = client_signed_in.get("/accounts/logout/")

    assert response.status_code == 200
    assert b"Sign out?" in response.content
    assert SESSION_KEY in client_signed_in.session


def test_post_sign_out_ends_the_session_and_is_audited(client_signed_in, technician):
    old_cookie = client_signed_in.cookies["sessionid"].value

    response = client_signed_in.post("/accounts/logout/")

    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert SESSION_KEY not in client_signed_in.session
    client_signed_in.cookies["sessionid"] = old_cookie
    assert client_signed_in.get("/").status_code == 302
    event = AuditEvent.objects.get(event=AuditEventType.SIGNED_OUT)
    assert event.actor == technician


def test_sign_out_when_not_signed_in_is_harmless(client, db):
    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(event=AuditEventType.SIGNED_OUT).exists()
