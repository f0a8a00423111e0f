from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from teams.models import Tenant
from tests.accounts.helpers import link_in, mails_to
from tests.factories import OperatorFactory
from tests.signing_in import sign_in, sign_in_attempt

NEW_PASSWORD = "fresh-granite-lantern-orbit"


def invite(*args) -> str:
    out = StringIO()
    call_command("invite_user", *args, stdout=out)
    return out.getvalue()


def choose_password(link: str, password: str = NEW_PASSWORD) -> Client:
    client = Client()
    landing = client.get(link)
    assert landing.status_code == 302
    done = client.post(landing.url, {"new_password1": password, "new_password2": password})
    assert done.status_code == 302
    return client


def test_invite_user_mails_a_link_and_the_person_chooses_a_password(
    owner, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://portcullis.example"
    with django_capture_on_commit_callbacks(execute=True):
        output = invite("--tenant", "northwind-it", "--email", " Nia@Northwind.Example ")

    assert "Invited nia@northwind.example to Northwind IT as Technician" in output
    person = User.objects.get(email="nia@northwind.example")
    assert not person.has_usable_password()
    assert person.password_changed_at is None
    (message,) = mails_to(person.email)
    assert message.subject == "You're invited to Northwind IT on Portcullis"
    assert owner.email in message.body, "the mail names who to ask"
    link = link_in(message)
    assert link.startswith("https://portcullis.example/accounts/reset/")

    with django_capture_on_commit_callbacks(execute=True):
        choose_password(link)

    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)
    assert person.password_changed_at is not None
    assert AuditEvent.objects.filter(event=AuditEventType.PERSON_INVITED, target=person).exists()
    assert AuditEvent.objects.get(event=AuditEventType.PASSWORD_SET).target == person
    assert mails_to(person.email)[-1].subject == "Your Portcullis password is set"
    assert sign_in_attempt(Client(), person.email, NEW_PASSWORD).status_code == 302


def test_invitation_link_works_once(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite("--tenant", "northwind-it", "--email", "nia@northwind.example")
    link = link_in(mails_to("nia@northwind.example")[0])
    choose_password(link)

    assert "This link no longer works" in Client().get(link).content.decode()


def test_invite_user_takes_a_role_by_name(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        output = invite("--tenant", "northwind-it", "--email", "ada@x.example", "--role", "admin")

    assert "as Admin" in output
    assert User.objects.get(email="ada@x.example").role.name == "Admin"


def test_an_invited_person_whose_link_expired_gets_a_new_one_by_reset(
    owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite("--tenant", "northwind-it", "--email", "nia@northwind.example")
        Client().post("/accounts/password/reset/", {"email": "nia@northwind.example"})

    reset_mail = mails_to("nia@northwind.example")[-1]
    assert reset_mail.subject == "Your Portcullis password reset link"
    choose_password(link_in(reset_mail))


@pytest.mark.parametrize(
    "args, message",
    [
        (("--tenant", "nope", "--email", "a@b.example"), "No tenant has the slug 'nope'"),
        (
            ("--tenant", "northwind-it", "--email", "a@b.example", "--role", "Boss"),
            "has no role named 'Boss'",
        ),
        (("--tenant", "northwind-it", "--email", "not-an-email"), "valid email"),
        (("--tenant", "northwind-it", "--email", '"a\x01b"@northwind.example'), "control char"),
        (("--tenant", "northwind-it", "--email", "OWNER@northwind.example"), "already exists"),
        (
            ("--tenant", "northwind-it", "--email", "a@b.example", "--name", "n" * 151),
            "at most 150 characters",
        ),
        (
            ("--tenant", "northwind-it", "--email", "a@b.example", "--name", "Ann\r\nBo"),
            "control characters",
        ),
    ],
)
def test_invite_user_refuses_bad_input_with_exit_status_2_and_leaves_nothing(
    owner, args, message, django_capture_on_commit_callbacks
):
    people = User.objects.count()

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(CommandError, match=message) as refused,
    ):
        invite(*args)

    assert refused.value.returncode == 2
    assert User.objects.count() == people
    assert mail.outbox == []
    assert not OutboxMail.objects.exists()


def test_invite_user_needs_tenant_and_email(db):
    with pytest.raises(CommandError, match="--tenant"):
        invite("--email", "a@b.example")


def test_create_tenant_mails_the_owner_a_link(db, django_capture_on_commit_callbacks):
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("create_tenant", "Acme IT", "--owner-email", "boss@acme.example", stdout=out)

    assert out.getvalue().strip() == "acme-it"
    (message,) = mails_to("boss@acme.example")
    assert "Acme IT" in message.subject
    assert "as \u201cOwner\u201d" in message.body
    choose_password(link_in(message))
    assert User.objects.get(email="boss@acme.example").has_usable_password()


def test_create_tenant_leaves_nothing_when_the_mail_cannot_be_written(db, monkeypatch):
    def broken_mail_enqueue(**kwargs):
        raise RuntimeError("outbox table is gone")

    monkeypatch.setattr("teams.services.people.mail_enqueue", broken_mail_enqueue)

    with pytest.raises(RuntimeError):
        call_command("create_tenant", "Half MSP", "--owner-email", "h@half.example")

    assert not Tenant.objects.exists()
    assert not User.objects.exists()


def test_adding_a_person_in_the_admin_mails_them_a_link(
    client, tenant, django_capture_on_commit_callbacks
):
    operator = OperatorFactory()
    sign_in(client, operator)
    technician_role = tenant.roles.get(name="Technician")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/accounts/user/add/",
            {
                "email": "New.Person@Northwind.example",
                "full_name": "New Person",
                "tenant": tenant.pk,
                "role": technician_role.pk,
                "is_active": "on",
                "password": "admin-typed-password",
            },
        )

    assert response.status_code == 302
    person = User.objects.get(email="new.person@northwind.example")
    assert not person.has_usable_password()
    invited = AuditEvent.objects.get(event=AuditEventType.PERSON_INVITED, target=person)
    assert invited.actor == operator
    choose_password(link_in(mails_to(person.email)[0]))
    add_page = client.get("/admin/accounts/user/add/").content.decode()
    assert 'type="password"' not in add_page
