"""The people admin's invitations: least privilege by default, "Invited (lapses …)" until the
person sets a password, and "Send the invitation again" (audited, limited, voiding old links)."""

import re
from datetime import timedelta

import time_machine
from django.contrib.admin import helpers
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import Role
from tests.accounts.helpers import link_in, mails_to
from tests.factories import OperatorFactory, UserFactory, builtin_role
from tests.signing_in import sign_in

PEOPLE = "/admin/accounts/user/"
NEW_PASSWORD = "fresh-granite-lantern-orbit"
INVITED = "nia@northwind.example"


def selected_role(page: str) -> str:
    """The value of the role option the add page starts on."""
    (select,) = re.findall(r'<select name="role".*?</select>', page, re.S)
    return re.search(r'<option value="(\d+)" selected>', select).group(1)


def invite(client, tenant, capture, email: str = INVITED) -> User:
    """Invite through the add page, leaving the role as the page starts it."""
    role = selected_role(client.get(PEOPLE + "add/").content.decode())
    with capture(execute=True):
        client.post(PEOPLE + "add/", {"email": email, "full_name": "Nia", "role": role})
    return User.objects.get(email=email)


def resend(client, person, capture):
    with capture(execute=True):
        return client.post(
            PEOPLE,
            {
                "action": "resend_invitation",
                "index": 0,
                helpers.ACTION_CHECKBOX_NAME: [person.pk],
            },
            follow=True,
        )


def set_password(link: str) -> int:
    """Follow a set-password link and choose a password: 302 when it worked."""
    client = Client()
    landing = client.get(link)
    if landing.status_code != 302:
        return landing.status_code
    return client.post(
        landing.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    ).status_code


def status_of(client, person) -> str:
    """The status column of the person's row in the people list."""
    page = client.get(PEOPLE, {"q": person.email}).content.decode()
    (cell,) = re.findall(r'<td class="field-status">(.*?)</td>', page, re.S)
    return cell


def test_add_person_starts_on_the_role_with_fewest_scopes_not_admin(owner, tenant):
    client = sign_in(Client(), owner)

    page = client.get(PEOPLE + "add/").content.decode()

    assert selected_role(page) == str(builtin_role(tenant, scopes.TECHNICIAN).pk)


def test_the_least_privileged_role_is_chosen_by_scopes_ties_by_name(owner, tenant):
    Role.objects.create(tenant=tenant, name="Apprentice", scopes=[])
    Role.objects.filter(tenant=tenant, name=scopes.TECHNICIAN.name).update(
        scopes=[scopes.MEMBERS_READ]
    )
    client = sign_in(Client(), owner)

    page = client.get(PEOPLE + "add/").content.decode()

    assert selected_role(page) == str(Role.objects.get(tenant=tenant, name="Apprentice").pk)


def test_an_owner_who_leaves_the_role_alone_invites_a_technician(
    owner, tenant, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), owner)

    person = invite(client, tenant, django_capture_on_commit_callbacks)

    assert person.role.scope_set == frozenset()
    assert person.role == builtin_role(tenant, scopes.TECHNICIAN)


def test_operators_choose_the_role_themselves(tenant):
    client = sign_in(Client(), OperatorFactory())

    page = client.get(PEOPLE + "add/").content.decode()

    (select,) = re.findall(r'<select name="role".*?</select>', page, re.S)
    assert '<option value="" selected>---------</option>' in select


def test_an_invited_person_shows_as_invited_until_they_set_a_password(
    owner, tenant, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), owner)
    person = invite(client, tenant, django_capture_on_commit_callbacks)
    lapses = (person.invitation_sent_at + timedelta(days=3)).strftime("%-d %b %Y, %H:%M")

    listed = status_of(client, person)
    page = client.get(f"{PEOPLE}{person.pk}/change/").content.decode()

    assert "Invited (lapses" in listed and lapses in listed and "active" not in listed
    assert "Invited (lapses" in page and lapses in page
    assert "Send the invitation again" in page

    assert set_password(link_in(mails_to(person.email)[0])) == 302

    assert "active" in status_of(client, person)
    page = client.get(f"{PEOPLE}{person.pk}/change/").content.decode()
    assert "Invited" not in page and "Send the invitation again" not in page


def test_a_lapsed_invitation_says_so(owner, tenant, django_capture_on_commit_callbacks):
    client = sign_in(Client(), owner)
    person = invite(client, tenant, django_capture_on_commit_callbacks)

    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1)):
        client = sign_in(Client(), owner)
        assert "Invitation lapsed" in status_of(client, person)


def test_a_person_invited_by_the_command_shows_as_invited(owner, tenant):
    call_command("invite_user", "--tenant", tenant.slug, "--email", INVITED)
    client = sign_in(Client(), owner)

    assert "Invited (lapses" in status_of(client, User.objects.get(email=INVITED))


def test_sending_again_mails_a_new_link_and_voids_the_old_one(
    owner, tenant, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), owner)
    person = invite(client, tenant, django_capture_on_commit_callbacks)
    old_link = link_in(mails_to(person.email)[0])

    response = resend(client, person, django_capture_on_commit_callbacks)

    assert (
        "Sent the invitation again to 1 person: they have a new link" in response.content.decode()
    )
    first, second = mails_to(person.email)
    new_link = link_in(second)
    assert new_link != old_link
    (event,) = AuditEvent.objects.filter(event=AuditEventType.INVITATION_RESENT)
    assert event.actor == owner and event.target == person
    assert set_password(old_link) != 302
    assert set_password(new_link) == 302


def test_the_persons_page_button_sends_it_again_by_post_only(
    owner, tenant, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), owner)
    person = invite(client, tenant, django_capture_on_commit_callbacks)
    url = f"{PEOPLE}{person.pk}/invitation/"

    assert client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, follow=True)

    assert response.redirect_chain[-1][0] == f"{PEOPLE}{person.pk}/change/"
    assert len(mails_to(person.email)) == 2
    assert AuditEvent.objects.filter(event=AuditEventType.INVITATION_RESENT).count() == 1


def test_sending_again_is_limited_per_person_per_hour(
    owner, tenant, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), owner)
    person = invite(client, tenant, django_capture_on_commit_callbacks)
    resend(client, person, django_capture_on_commit_callbacks)
    resend(client, person, django_capture_on_commit_callbacks)

    response = resend(client, person, django_capture_on_commit_callbacks)

    assert (
        f"{person.email} has been sent 3 invitations in the last hour, the most allowed: wait an "
        "hour before sending another." in response.content.decode()
    )
    assert len(mails_to(person.email)) == 3
    assert AuditEvent.objects.filter(event=AuditEventType.INVITATION_RESENT).count() == 2

    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        client = sign_in(Client(), owner)
        resend(client, person, django_capture_on_commit_callbacks)
    assert len(mails_to(person.email)) == 4


def test_someone_who_set_a_password_is_not_sent_an_invitation(
    owner, technician, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), owner)

    response = resend(client, technician, django_capture_on_commit_callbacks)

    assert "there is no invitation to send again" in response.content.decode()
    assert mails_to(technician.email) == []
    assert not AuditEvent.objects.filter(event=AuditEventType.INVITATION_RESENT).exists()


def test_people_without_members_write_get_no_button_and_no_action(
    owner, tenant, django_capture_on_commit_callbacks
):
    person = invite(sign_in(Client(), owner), tenant, django_capture_on_commit_callbacks)
    unlocker = Role.objects.create(
        tenant=tenant,
        name="Unlocker",
        scopes=[scopes.LOCKOUT_UNLOCK, scopes.MEMBERS_READ],
        require_mfa=False,
    )
    client = sign_in(Client(), UserFactory(tenant=tenant, role=unlocker))

    listed = client.get(PEOPLE)
    assert listed.status_code == 200
    assert "Send the invitation again" not in listed.content.decode()
    assert "Send the invitation again" not in (
        client.get(f"{PEOPLE}{person.pk}/change/").content.decode()
    )
    assert client.post(f"{PEOPLE}{person.pk}/invitation/").status_code == 403
    assert len(mails_to(person.email)) == 1
