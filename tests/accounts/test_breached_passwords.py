"""New passwords are checked against breached ones through a range API on the loopback interface
(`range_server`), with k-anonymity: five hex characters of the SHA-1 leave, never more."""

import re
import socket
import time

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.models import BreachedPasswordCheck, User
from accounts.services import password_reset_link_send
from accounts.tasks import recheck_breached_passwords
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from teams import scopes
from teams.services.people import person_invite
from tests.accounts.helpers import LINK
from tests.factories import DEFAULT_PASSWORD, builtin_role
from tests.range_server import sha1_of
from tests.signing_in import sign_in, sign_in_attempt

BREACHED = "monkey-banana-sunshine-1987"
CLEAN = "quiet-granite-lantern-orbit"
CHANGE = "/accounts/password/change/"
REFUSAL = "has appeared in a data breach"
GUIDE_LINK = '<a href="/help/passwords/">a password manager</a>'


def unavailable_events():
    return AuditEvent.objects.filter(event=AuditEventType.BREACHED_CHECK_UNAVAILABLE)


def breached_events():
    return AuditEvent.objects.filter(event=AuditEventType.PASSWORD_FOUND_BREACHED)


def change(client: Client, old: str, new: str):
    return client.post(CHANGE, {"old_password": old, "new_password1": new, "new_password2": new})


def test_a_breached_password_is_refused_saying_why_with_a_link_to_the_guide(
    range_server, technician
):
    range_server.breached(BREACHED)

    with pytest.raises(ValidationError) as refused:
        validate_password(BREACHED, technician)

    assert [error.code for error in refused.value.error_list] == ["password_breached"]
    assert GUIDE_LINK in refused.value.messages[0]
    assert Client().get("/help/passwords/").status_code == 200


def test_only_five_hex_characters_of_the_sha1_leave_and_padding_is_asked_for(
    range_server, technician
):
    range_server.breached(BREACHED)

    with pytest.raises(ValidationError):
        validate_password(BREACHED, technician)

    [seen] = range_server.seen
    assert seen.path == f"/range/{sha1_of(BREACHED)[:5]}"
    assert re.fullmatch(r"/range/[0-9A-F]{5}", seen.path)
    assert seen.headers["Add-Padding"] == "true"
    sent = seen.path + repr(seen.headers)
    assert sha1_of(BREACHED)[5:] not in sent
    assert BREACHED not in sent


def test_a_password_listed_only_as_padding_is_accepted(range_server, technician):
    range_server.pad(CLEAN)

    validate_password(CLEAN, technician)

    assert len(range_server.seen) == 1


def test_an_unlisted_password_is_accepted(range_server, technician):
    range_server.breached(BREACHED)

    validate_password(CLEAN, technician)


def test_the_check_is_off_without_an_address(range_server, settings, technician):
    settings.BREACHED_PASSWORDS_URL = ""
    range_server.breached(BREACHED)

    validate_password(BREACHED, technician)

    assert range_server.seen == []


def test_the_check_is_off_in_default_test_settings():
    assert django_settings.BREACHED_PASSWORDS_URL == ""


def test_the_beat_schedule_rechecks_passwords_the_service_could_not_answer_about():
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}

    assert "accounts.tasks.recheck_breached_passwords" in tasks


# Every path that sets a password refuses a breached one.


def _invited_link(owner, technician) -> tuple[object, Client, str]:
    person = person_invite(
        tenant=owner.tenant,
        email="nia@northwind.example",
        role=builtin_role(owner.tenant, scopes.TECHNICIAN),
        actor=owner,
    )
    mail = OutboxMail.objects.filter(to=person.email, kind="invitation").get()
    client = Client()
    landing = client.get(LINK.search(mail.body_text).group(0))
    assert landing.status_code == 302
    return person, client, landing.url


def _reset_link(owner, technician) -> tuple[object, Client, str]:
    password_reset_link_send(user=technician, actor=owner)
    mail = OutboxMail.objects.filter(to=technician.email, kind="password_reset_sent_by_admin").get()
    client = Client()
    landing = client.get(LINK.search(mail.body_text).group(0))
    assert landing.status_code == 302
    return technician, client, landing.url


def _pending_sign_in(owner, technician) -> tuple[object, Client, str]:
    technician.password_change_required = True
    technician.save()
    client = Client()
    response = sign_in_attempt(client, technician.email, DEFAULT_PASSWORD)
    assert response.url.startswith(CHANGE)
    return technician, client, CHANGE


@pytest.mark.parametrize("path", [_invited_link, _reset_link, _pending_sign_in])
def test_every_new_password_form_refuses_a_breached_password(range_server, owner, technician, path):
    range_server.breached(BREACHED)
    person, client, address = path(owner, technician)
    before = person.password

    refused = client.post(address, {"new_password1": BREACHED, "new_password2": BREACHED})

    assert refused.status_code == 200
    page = refused.content.decode()
    assert REFUSAL in page
    assert GUIDE_LINK in page
    person.refresh_from_db()
    assert person.password == before
    accepted = client.post(address, {"new_password1": CLEAN, "new_password2": CLEAN})
    assert accepted.status_code == 302
    person.refresh_from_db()
    assert person.check_password(CLEAN)


def test_the_change_page_refuses_a_breached_password(range_server, technician, password):
    range_server.breached(BREACHED)
    client = sign_in(Client(), technician, password=password)

    refused = change(client, password, BREACHED)

    assert refused.status_code == 200
    assert REFUSAL in refused.content.decode()
    technician.refresh_from_db()
    assert technician.check_password(password)
    assert change(client, password, CLEAN).status_code == 302


def test_an_operators_password_is_checked_too(range_server):
    """Operators' passwords are set by createsuperuser and changepassword, which run every
    validator too."""
    range_server.breached(BREACHED)
    operator = User(email="op@platform.example", is_superuser=True, is_staff=True)

    with pytest.raises(ValidationError, match=REFUSAL):
        validate_password(BREACHED, operator)


# When the service can't answer, the password is accepted, audited, and checked again later.


def _refusing_address() -> str:
    """An address on the loopback interface where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/range/"


def _break(range_server, settings, how: str) -> None:
    if how == "timeout":
        settings.BREACHED_PASSWORDS_TIMEOUT = 0.2
        range_server.mode = "slow"
    elif how == "refused":
        settings.BREACHED_PASSWORDS_URL = _refusing_address()
    elif how == "status 503":
        range_server.mode = "error"
    else:
        range_server.mode = "malformed"


@pytest.mark.parametrize(
    "how, reason",
    [
        ("timeout", "timeout"),
        ("refused", "unreachable"),
        ("status 503", "status 503"),
        ("malformed", "malformed"),
    ],
)
def test_an_unanswered_check_accepts_the_password_audits_it_and_keeps_no_password_material(
    range_server, settings, technician, password, how, reason
):
    range_server.breached(BREACHED)
    client = sign_in(Client(), technician, password=password)
    _break(range_server, settings, how)

    started = time.monotonic()
    changed = change(client, password, BREACHED)

    assert time.monotonic() - started < 1.5, "the time-out bounds the wait"
    assert changed.status_code == 302
    technician.refresh_from_db()
    assert technician.check_password(BREACHED)
    [event] = unavailable_events()
    assert event.target_id == technician.pk
    assert event.details == {"at": "password_set", "reason": reason}
    check = BreachedPasswordCheck.objects.get(user=technician)
    sha1 = sha1_of(BREACHED)
    assert check.prefix == sha1[:5]
    assert re.fullmatch(r"[0-9a-f]{64}", check.digest)
    assert sha1.lower() not in check.digest.lower()
    assert sha1[5:].lower() not in check.digest.lower()
    assert technician.password_change_required is False


@pytest.mark.parametrize(
    "body",
    [b"", b"\xff\xfe not ascii", b"ABCDEF:12\r\n", b"0" * 35 + b":many\r\n"],
)
def test_malformed_answers_never_refuse_a_password(range_server, technician, body):
    range_server.mode = "malformed"
    range_server.malformed_body = body

    validate_password(BREACHED, technician)


def _set_while_unavailable(range_server, technician, password) -> Client:
    client = sign_in(Client(), technician, password=password)
    range_server.mode = "error"
    assert change(client, password, BREACHED).status_code == 302
    range_server.mode = "ok"
    range_server.seen.clear()
    return client


def test_the_beat_task_flags_a_password_found_breached_later_and_mails_the_person(
    range_server, technician, password, django_capture_on_commit_callbacks
):
    _set_while_unavailable(range_server, technician, password)
    range_server.breached(BREACHED)

    with django_capture_on_commit_callbacks(execute=True):
        recheck_breached_passwords.delay()

    assert range_server.prefixes_asked == [sha1_of(BREACHED)[:5]]
    assert range_server.seen[0].headers["Add-Padding"] == "true"
    assert not BreachedPasswordCheck.objects.exists()
    technician.refresh_from_db()
    assert technician.password_change_required is True
    assert technician.password_breached_at is not None
    [event] = breached_events()
    assert (event.target_id, event.details) == (technician.pk, {"found": "recheck"})
    mail = OutboxMail.objects.get(to=technician.email, kind="password_breached")
    assert mail.subject == "Your Portcullis password has appeared in a data breach"
    assert "last step of your next sign-in" in mail.body_text
    assert "/help/passwords/" in mail.body_text

    client = Client()
    assert sign_in_attempt(client, technician.email, BREACHED).url.startswith(CHANGE)
    assert "appeared in a data breach" in client.get(CHANGE).content.decode()
    done = client.post(CHANGE, {"new_password1": CLEAN, "new_password2": CLEAN})
    assert done.status_code == 302
    technician.refresh_from_db()
    assert technician.password_breached_at is None
    assert technician.password_change_required is False


def test_the_beat_task_forgets_a_password_found_clean(range_server, technician, password):
    _set_while_unavailable(range_server, technician, password)
    range_server.pad(BREACHED)

    recheck_breached_passwords.delay()

    assert not BreachedPasswordCheck.objects.exists()
    technician.refresh_from_db()
    assert technician.password_change_required is False
    assert not breached_events().exists()
    assert not OutboxMail.objects.filter(kind="password_breached").exists()


def test_the_beat_task_tries_again_while_the_service_stays_down(range_server, technician, password):
    _set_while_unavailable(range_server, technician, password)
    range_server.mode = "error"

    recheck_breached_passwords.delay()

    assert BreachedPasswordCheck.objects.filter(user=technician).exists()
    range_server.mode = "ok"
    range_server.breached(BREACHED)
    recheck_breached_passwords.delay()
    technician.refresh_from_db()
    assert technician.password_breached_at is not None


def test_the_beat_task_recognises_rows_kept_under_a_rotated_secret_key(
    range_server, settings, technician, password
):
    _set_while_unavailable(range_server, technician, password)
    range_server.breached(BREACHED)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-the-rotation-test-0123456789abcdef"

    recheck_breached_passwords.delay()

    technician.refresh_from_db()
    assert technician.password_breached_at is not None


def test_a_password_changed_before_the_recheck_is_not_flagged(range_server, technician, password):
    client = _set_while_unavailable(range_server, technician, password)
    range_server.breached(BREACHED)

    assert change(client, BREACHED, CLEAN).status_code == 302
    recheck_breached_passwords.delay()

    assert not BreachedPasswordCheck.objects.exists()
    technician.refresh_from_db()
    assert technician.password_breached_at is None
    assert not breached_events().exists()
