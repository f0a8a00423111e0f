"""A changed sign-in email is a changed credential: the old address is told, sessions end."""

from django.contrib.auth import SESSION_KEY
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from teams.models import UserSession
from tests.signing_in import sign_in

PEOPLE = "/admin/accounts/user/"


def change(client, person, email: str, full_name: str):
    return client.post(f"{PEOPLE}{person.pk}/change/", {"email": email, "full_name": full_name})


def signed_out(browser) -> bool:
    browser.get("/")
    return SESSION_KEY not in browser.session


def test_changing_someones_email_mails_the_old_address_who_and_when(owner, technician):
    client = sign_in(Client(), owner)

    response = change(client, technician, "tess@elsewhere.example", technician.full_name)

    assert response.status_code == 302
    [notice] = OutboxMail.objects.filter(kind="email_changed")
    assert notice.to == "tech@northwind.example"
    assert f"by \u201c{owner.get_full_name()}\u201d ({owner.email})" in notice.body_text
    assert f"by {owner.get_full_name()} ({owner.email})" in notice.body_html
    for text in (notice.body_text, notice.body_html):
        assert "from tech@northwind.example to tess@elsewhere.example" in text
        assert "UTC" in text
        assert "someone may have taken over your account" in text
    assert "changed" in notice.subject
    assert not OutboxMail.objects.filter(to="tess@elsewhere.example").exists()


def test_changing_someones_email_ends_every_session_they_have(owner, technician):
    laptop, phone = sign_in(Client(), technician), sign_in(Client(), technician)
    client = sign_in(Client(), owner)

    change(client, technician, "tess@elsewhere.example", technician.full_name)

    assert not UserSession.objects.filter(user=technician).exists()
    assert signed_out(laptop) and signed_out(phone)
    assert not signed_out(client)


def test_changing_ones_own_email_keeps_this_session_and_ends_the_others(owner):
    other_browser = sign_in(Client(), owner)
    client = sign_in(Client(), owner)

    response = change(client, owner, "boss@northwind.example", owner.full_name)

    assert response.status_code == 302
    assert UserSession.objects.filter(user=owner).count() == 1
    assert signed_out(other_browser)
    assert not signed_out(client)
    [notice] = OutboxMail.objects.filter(kind="email_changed")
    assert notice.to == "owner@northwind.example"
    assert "from your own account" in notice.body_text
    [edited] = AuditEvent.objects.filter(event=AuditEventType.PERSON_EDITED)
    assert edited.details["sessions"] == 1


def test_an_email_change_is_audited_with_the_old_and_new_address(owner, technician):
    sign_in(Client(), technician)
    client = sign_in(Client(), owner)

    change(client, technician, "tess@elsewhere.example", technician.full_name)

    [edited] = AuditEvent.objects.filter(event=AuditEventType.PERSON_EDITED)
    assert (edited.actor, edited.target) == (owner, technician)
    assert edited.details == {
        "changed": {"email": ["tech@northwind.example", "tess@elsewhere.example"]},
        "sessions": 1,
    }
    assert not AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).exists()


def test_a_name_change_alone_mails_nobody_and_ends_no_session(owner, technician):
    laptop = sign_in(Client(), technician)
    client = sign_in(Client(), owner)

    change(client, technician, technician.email, "Tess Renamed")

    assert not OutboxMail.objects.filter(kind="email_changed").exists()
    assert not signed_out(laptop)
    [edited] = AuditEvent.objects.filter(event=AuditEventType.PERSON_EDITED)
    assert edited.details == {"changed": {"full_name": ["Tess Tech", "Tess Renamed"]}}
