from django.contrib.auth import SESSION_KEY
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from teams.services.sessions import user_sessions_end
from tests.signing_in import sign_in


def test_sign_in_tracks_the_session_and_sign_out_forgets_it(technician):
    client = sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT="Firefox")

    tracked = UserSession.objects.get(user=technician)
    assert tracked.session_key == client.session.session_key
    assert tracked.ip == "192.0.2.10"
    assert tracked.tenant == technician.tenant

    client.post("/accounts/logout/")
    assert not UserSession.objects.filter(user=technician).exists()


def test_ending_a_persons_sessions_makes_every_old_cookie_anonymous(technician, owner):
    laptop = sign_in(Client(), technician)
    phone = sign_in(Client(), technician)

    ended = user_sessions_end(user=technician, actor=owner, reason="deactivated")

    assert ended == 2
    for client in (laptop, phone):
        assert client.get("/").status_code == 302
        assert SESSION_KEY not in client.session
    event = AuditEvent.objects.get(event=AuditEventType.SESSION_REVOKED)
    assert event.actor == owner
    assert event.details == {"reason": "deactivated", "sessions": 2}


def test_ending_other_sessions_keeps_the_current_one(technician):
    current = sign_in(Client(), technician)
    other = sign_in(Client(), technician)

    user_sessions_end(
        user=technician,
        actor=technician,
        reason="signed out elsewhere",
        keep_session_key=current.session.session_key,
    )

    assert current.get("/").status_code == 200
    assert other.get("/").status_code == 302
