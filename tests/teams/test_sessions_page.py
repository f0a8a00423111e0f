import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from tests.factories import UserFactory
from tests.signing_in import sign_in

SESSIONS = "/accounts/sessions/"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


def test_sessions_page_needs_sign_in(client, db):
    response = client.get(SESSIONS)

    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/accounts/sessions/"


def test_lists_own_sessions_in_words_with_this_session_marked(technician, owner):
    with time_machine.travel("2026-03-02 09:00:00+00:00", tick=False):
        sign_in(Client(), technician, HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="198.51.100.20")
    with time_machine.travel("2026-03-02 10:30:00+00:00", tick=False):
        laptop = sign_in(Client(), technician, HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="192.0.2.1")
        sign_in(Client(), owner, REMOTE_ADDR="203.0.113.50")

        page = laptop.get(SESSIONS, HTTP_USER_AGENT=FIREFOX).content.decode()

    assert "Firefox on Linux" in page
    assert "Mobile Safari on iOS" in page
    assert "198.51.100.20" in page and "192.0.2.1" in page
    assert "203.0.113.50" not in page
    assert "2 Mar 2026, 09:00 UTC" in page
    assert page.count("This session") == 1
    this_row = page[page.index("Firefox on Linux") : page.index("This session")]
    assert "Mobile Safari" not in this_row


def test_revoking_one_session_makes_its_cookie_anonymous(technician):
    phone = sign_in(Client(), technician, HTTP_USER_AGENT=IPHONE)
    laptop = sign_in(Client(), technician)
    phone_session = UserSession.objects.get(session_key=phone.cookies["sessionid"].value)

    response = laptop.post(SESSIONS, {"revoke": phone_session.pk}, follow=True)

    assert "Signed out of Mobile Safari on iOS." in response.content.decode()
    assert phone.get("/").status_code == 302
    assert SESSION_KEY not in phone.session
    assert laptop.get("/").status_code == 200
    [revoked] = AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED)
    assert (revoked.actor, revoked.target) == (technician, technician)
    assert revoked.details["reason"] == "revoked by its owner"


def test_revoking_all_others_keeps_this_one(technician):
    others = [sign_in(Client(), technician) for _ in range(3)]
    current = sign_in(Client(), technician)

    response = current.post(SESSIONS, {"revoke": "others"}, follow=True)

    assert "Signed out of 3 other sessions." in response.content.decode()
    assert all(other.get("/").status_code == 302 for other in others)
    assert current.get("/").status_code == 200
    assert UserSession.objects.filter(user=technician).count() == 1
    [revoked] = AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED)
    assert revoked.details == {"reason": "signed out of other sessions", "sessions": 3}


def test_revoking_the_current_session_signs_out(technician):
    client = sign_in(Client(), technician)
    mine = UserSession.objects.get(user=technician)

    response = client.post(SESSIONS, {"revoke": mine.pk})

    assert response.url == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_someone_elses_session_is_a_404_and_stays(technician, owner, other_tenant):
    stranger = UserFactory(tenant=other_tenant)
    theirs = [sign_in(Client(), owner), sign_in(Client(), stranger)]
    client = sign_in(Client(), technician)

    for other in UserSession.objects.exclude(user=technician):
        assert client.post(SESSIONS, {"revoke": other.pk}).status_code == 404
    assert client.post(SESSIONS, {"revoke": 987654}).status_code == 404
    assert all(browser.get("/").status_code == 200 for browser in theirs)
    assert not AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).exists()


def test_malformed_revoke_is_a_400(technician):
    client = sign_in(Client(), technician)

    for data in ({}, {"revoke": "all"}, {"revoke": "1; drop table"}, {"revoke": "9" * 40}):
        assert client.post(SESSIONS, data).status_code == 400


def test_get_never_revokes(technician):
    other = sign_in(Client(), technician)
    client = sign_in(Client(), technician)

    client.get(SESSIONS, {"revoke": "others"})

    assert other.get("/").status_code == 200


def test_revoke_needs_the_csrf_token(technician):
    client = Client(enforce_csrf_checks=True)
    client.force_login(technician)
    assert client.get(SESSIONS).status_code == 200
    other = UserSession.objects.create(
        user=technician,
        tenant=technician.tenant,
        session_key="x" * 32,
        started_at="2026-03-02T09:00:00Z",
        last_active_at="2026-03-02T09:00:00Z",
    )

    assert client.post(SESSIONS, {"revoke": other.pk}).status_code == 403
    assert UserSession.objects.filter(pk=other.pk).exists()
