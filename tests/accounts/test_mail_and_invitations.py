"""Mail as people read it (plain subjects, real links) and an invitation's own lifetime."""

import re
from datetime import timedelta

import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from teams.models import Role
from teams.services.people import person_invite
from tests.accounts.helpers import link_in, mails_to

NEW_PASSWORD = "fresh-granite-lantern-orbit"


def invited(tenant, owner, capture, email="nia@northwind.example"):
    with capture(execute=True):
        person = person_invite(
            tenant=tenant,
            email=email,
            role=Role.objects.for_tenant(tenant).get(name="Technician"),
            actor=owner,
        )
    (message,) = mails_to(person.email)
    return person, message


def set_password(link: str) -> int:
    client = Client()
    landing = client.get(link)
    if landing.status_code != 302:
        return landing.status_code
    done = client.post(landing.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    return done.status_code


def test_a_subject_with_an_apostrophe_is_not_html_escaped(
    client, technician, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/recovery/", {"email": technician.email, "reason": "lost_factors"})

    (message,) = mails_to(owner.email)
    subject = message.subject
    assert subject == f"{technician.get_full_name()} can't sign in to Portcullis"
    assert "&#x27;" not in subject


def test_every_link_in_an_html_body_is_a_real_link(
    tenant, owner, django_capture_on_commit_callbacks
):
    _, message = invited(tenant, owner, django_capture_on_commit_callbacks)

    html = message.alternatives[0][0]
    text_outside_tags = re.sub(r"<[^>]+>[^<]*</a>|<[^>]+>", " ", html)
    assert "http" not in text_outside_tags
    assert f'<a href="{link_in(message)}">' in html


def test_an_invitation_link_still_works_the_next_morning_and_says_three_days(
    tenant, owner, django_capture_on_commit_callbacks
):
    person, message = invited(tenant, owner, django_capture_on_commit_callbacks)

    assert "for 3 days" in " ".join(message.body.split())
    with time_machine.travel(timezone.now() + timedelta(hours=14)):
        assert set_password(link_in(message)) == 302
    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)


def test_an_invitation_link_works_once(tenant, owner, django_capture_on_commit_callbacks):
    _, message = invited(tenant, owner, django_capture_on_commit_callbacks)
    link = link_in(message)

    assert set_password(link) == 302
    assert set_password(link) == 200  # "This link no longer works"


def test_an_invitation_link_dies_after_invitation_timeout(
    tenant, owner, django_capture_on_commit_callbacks, settings
):
    _, message = invited(tenant, owner, django_capture_on_commit_callbacks)

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.INVITATION_TIMEOUT + 60)):
        page = Client().get(link_in(message), follow=True).content.decode()
    assert "This link no longer works" in page


def test_a_reset_link_stays_short_lived(technician, django_capture_on_commit_callbacks, settings):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/accounts/password/reset/", {"email": technician.email})
    (message,) = mails_to(technician.email)

    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    ):
        page = Client().get(link_in(message), follow=True).content.decode()
    assert "This link no longer works" in page


def test_an_invitation_token_is_refused_once_a_password_is_set(
    tenant, owner, django_capture_on_commit_callbacks
):
    """An invitation is for someone who never chose a password; a person with one gets only
    reset links, which stay short."""
    person, message = invited(tenant, owner, django_capture_on_commit_callbacks)
    person.set_password("another-granite-lantern")
    person.save()

    page = Client().get(link_in(message), follow=True).content.decode()
    assert "This link no longer works" in page
