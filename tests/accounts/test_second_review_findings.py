"""The second review's findings on links, addresses and names (issue 19), each as an attacker
would try it."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.services import mfa_factors_reset
from teams import scopes
from teams.services.people import person_deactivate, person_reactivate
from tests.accounts.helpers import link_in, mails_to
from tests.accounts.test_onboarding import choose_password, invite
from tests.factories import OperatorFactory, TOTPDeviceFactory, UserFactory, builtin_role
from tests.mfa.helpers import request_with_fresh_proof
from tests.signing_in import sign_in

pytestmark = pytest.mark.django_db

PEOPLE = "/admin/accounts/user/"


# --- Deactivate then reactivate: old links stay dead -----------------------------------------


def test_an_invitation_mailed_before_a_deactivation_stays_dead_after_reactivation(
    owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite("--tenant", "northwind-it", "--email", "nia@northwind.example")
    link = link_in(mails_to("nia@northwind.example")[0])
    person = User.objects.get(email="nia@northwind.example")

    person_deactivate(person=person, actor=owner)
    person_reactivate(person=person, actor=owner)

    landing = Client().get(link, follow=True)
    assert "This link no longer works" in landing.content.decode()
    person.refresh_from_db()
    assert not person.has_usable_password()


def test_a_reset_link_mailed_before_a_deactivation_stays_dead_after_reactivation(
    owner, technician, password, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/accounts/password/reset/", {"email": technician.email})
    link = link_in(mails_to(technician.email)[-1])

    person_deactivate(person=technician, actor=owner)
    person_reactivate(person=technician, actor=owner)

    assert "This link no longer works" in Client().get(link, follow=True).content.decode()
    technician.refresh_from_db()
    assert technician.check_password(password)


def test_a_link_mailed_after_the_reactivation_works(owner, django_capture_on_commit_callbacks):
    person = UserFactory(tenant=owner.tenant, email="back@northwind.example", password=None)
    person_deactivate(person=person, actor=owner)
    person_reactivate(person=person, actor=owner)

    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/accounts/password/reset/", {"email": person.email})
    choose_password(link_in(mails_to(person.email)[-1]))

    person.refresh_from_db()
    assert person.has_usable_password()


# --- Emails and names that deceive -------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "code"),
    [
        ('"tech1"@demo.example', "quoted_local_part"),
        ("svc@[10.0.0.5]", "domain_literal"),
        ("tech1@d\u0435mo.example", "domain_mixed_scripts"),  # a Cyrillic е among Latin
        ("tech1@\u0434\u0435\u043c\u043e.example", "domain_mixed_scripts"),  # Cyrillic label
        ("tech1@\uff44emo.example", "domain_lookalike"),  # a fullwidth d
        ("tech1@de\u200bmo.example", "domain_lookalike"),  # a zero-width space
    ],
)
def test_deceptive_emails_are_refused_by_the_model(tenant, email, code):
    person = User(email=email, tenant=tenant, role=builtin_role(tenant, scopes.TECHNICIAN))

    with pytest.raises(ValidationError) as refused:
        person.full_clean(exclude=["password"])

    assert code in [error.code for error in refused.value.error_dict["email"]]


@pytest.mark.parametrize(
    "email",
    [
        "ivan@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
        "anna@m\u00fcnchen.example",
        "ken@\u65e5\u672c\u8a9e.jp",
    ],
)
def test_addresses_in_one_script_are_accepted(tenant, email):
    person = User(email=email, tenant=tenant, role=builtin_role(tenant, scopes.TECHNICIAN))

    person.full_clean(exclude=["password"])


@pytest.mark.parametrize(
    "email", ['"tech1"@northwind.example', "svc@[10.0.0.5]", "tech1@northw\u0456nd.example"]
)
def test_the_admin_refuses_deceptive_emails_and_invites_nobody(owner, tenant, email):
    client = sign_in(Client(), owner)

    response = client.post(
        PEOPLE + "add/",
        {"email": email, "role": builtin_role(tenant, scopes.TECHNICIAN).pk},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"]
    assert not mail.outbox
    assert User.objects.count() == 1


def test_invite_user_refuses_a_quoted_address(owner, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("invite_user", "--tenant", "northwind-it", "--email", '"tech"@x.example')

    assert not User.objects.filter(email__contains='"').exists()


@pytest.mark.parametrize(
    "name",
    [
        "Eve\r\nClick https://evil.example/reset",
        "Eve\u2028Line two",
        "Eve \u202egnp.exe",  # a right-to-left override
        "Eve\u2066hidden\u2069",
        "E\u200bve",
    ],
)
def test_names_with_line_breaks_or_bidi_characters_are_refused(owner, technician, name):
    client = sign_in(Client(), owner)

    response = client.post(
        f"{PEOPLE}{technician.pk}/change/", {"email": technician.email, "full_name": name}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["full_name"]
    technician.refresh_from_db()
    assert technician.full_name != name


def test_a_name_saved_before_the_rule_reaches_plain_text_mail_on_one_quoted_line(
    owner, technician, tenant, django_capture_on_commit_callbacks
):
    """Names saved before control and bidi characters were refused (a migration doesn't
    rewrite them) still can't start lines of their own in a mail from Portcullis."""
    forged = "Eve\r\n\r\nIT security: re-enter your password at https://evil.example/\u202e"
    User.objects.filter(pk=owner.pk).update(full_name=forged)
    TOTPDeviceFactory(user=technician)
    owner.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        mfa_factors_reset(target=technician, actor=owner, request=request_with_fresh_proof())

    (message,) = mails_to(technician.email)
    first_line = message.body.splitlines()[0]
    assert first_line.startswith(
        "\u201cEve IT security: re-enter your password at https://evil.example/\u201d reset"
    )
    assert not any(line.startswith("IT security") for line in message.body.splitlines())
    assert "\u202e" not in message.body


# --- Reset links sent by owners have their own limit ----------------------------------------


def test_links_an_owner_sends_neither_use_up_the_persons_own_quota_nor_go_unlimited(
    owner, technician, settings, django_capture_on_commit_callbacks
):
    settings.RESET_LIMIT_PER_ACCOUNT = 2
    admin = sign_in(Client(), owner)
    action = {"action": "send_reset_link", "_selected_action": [technician.pk]}

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(settings.RESET_LIMIT_PER_ACCOUNT):
            admin.post(PEOPLE, action, follow=True)
        refused = admin.post(PEOPLE, action, follow=True)

    assert "the most allowed" in refused.content.decode()
    assert len(mails_to(technician.email)) == settings.RESET_LIMIT_PER_ACCOUNT
    assert "sent you a link" in mails_to(technician.email)[0].body

    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/accounts/password/reset/", {"email": technician.email})

    own = mails_to(technician.email)[-1]
    assert own.subject == "Your Portcullis password reset link"
    assert len(mails_to(technician.email)) == settings.RESET_LIMIT_PER_ACCOUNT + 1


# --- Adding an address that has an account tells the adder nothing ---------------------------


def _add_in_admin(client, tenant, email, capture):
    with capture(execute=True):
        return client.post(
            PEOPLE + "add/",
            {
                "email": email,
                "full_name": "Someone",
                "role": builtin_role(tenant, scopes.TECHNICIAN).pk,
            },
            follow=True,
        )


def _answer(response) -> tuple:
    """What the adding owner sees: where they land, the status and the messages."""
    shown = [str(message) for message in response.context["messages"]]
    return response.redirect_chain, response.status_code, shown


@pytest.mark.parametrize("existing", ["other_tenant_person", "operator"])
def test_adding_an_address_with_an_account_elsewhere_answers_like_a_new_one(
    existing, owner, tenant, other_tenant, django_capture_on_commit_callbacks
):
    if existing == "operator":
        taken = OperatorFactory(email="taken@elsewhere.example")
    else:
        taken = UserFactory(tenant=other_tenant, email="taken@elsewhere.example")
    client = sign_in(Client(), owner)
    mail.outbox.clear()

    new = _add_in_admin(
        client, tenant, "fresh@elsewhere.example", django_capture_on_commit_callbacks
    )
    old = _add_in_admin(
        client, tenant, "TAKEN@elsewhere.example", django_capture_on_commit_callbacks
    )

    new_chain, new_status, new_shown = _answer(new)
    old_chain, old_status, old_shown = _answer(old)
    assert (new_chain, new_status) == (old_chain, old_status)
    assert [m.replace("fresh", "X") for m in new_shown] == [
        m.replace("taken", "X") for m in old_shown
    ]
    taken.refresh_from_db()
    assert taken.tenant_id == (None if existing == "operator" else other_tenant.pk)
    assert User.objects.filter(email="fresh@elsewhere.example", tenant=tenant).exists()
    (notice,) = mails_to(taken.email)
    assert "tried to add" in notice.subject and "Northwind" in notice.body
    assert "/accounts/reset/" not in notice.body
    attempt = AuditEvent.objects.get(event=AuditEventType.INVITATION_FOR_EXISTING_ACCOUNT)
    assert (attempt.actor, attempt.target, attempt.tenant_id) == (owner, taken, taken.tenant_id)
    assert not AuditEvent.objects.filter(event=AuditEventType.PERSON_INVITED, target=taken)
