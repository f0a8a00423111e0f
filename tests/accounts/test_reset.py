from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from accounts.models import PasswordResetRequest
from accounts.services import password_reset_request_process
from accounts.tasks import sweep_password_reset_requests
from audit.events import AuditEventType
from audit.models import AuditEvent
from tests.accounts.helpers import link_in, mails_to
from tests.at_once import at_once
from tests.factories import UserFactory
from tests.signing_in import sign_in, sign_in_attempt

RESET = "/accounts/password/reset/"
SENT = "/accounts/password/reset/sent/"
NEW_PASSWORD = "fresh-granite-lantern-orbit"


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what requests queue after commit (the reset task, then the mail), as a worker would."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


def ask_reset(client: Client, email: str, **extra):
    return client.post(RESET, {"email": email}, **extra)


def reset_link_for(client, on_commit, email: str, **extra) -> str:
    on_commit(ask_reset, client, email, **extra)
    return link_in(mails_to(email)[-1])


def set_password(client: Client, link: str, password: str = NEW_PASSWORD):
    landing = client.get(link)
    assert landing.status_code == 302, "the token should leave the address bar"
    return client.post(landing.url, {"new_password1": password, "new_password2": password})


def test_same_answer_for_existing_missing_deactivated_and_locked_emails(
    client, on_commit, technician
):
    deactivated = UserFactory(tenant=technician.tenant, email="gone@northwind.example")
    deactivated.is_active = False
    deactivated.save()
    locked = UserFactory(tenant=technician.tenant, email="locked@northwind.example")
    for _ in range(5):
        sign_in_attempt(Client(), locked.email, "wrong-one-123")
    emails = [technician.email, "nobody@northwind.example", deactivated.email, locked.email]

    answers = []
    for email in emails:
        response = on_commit(ask_reset, Client(), email)
        followed = Client().get(response.url)
        answers.append((response.status_code, response.url, followed.status_code, followed.content))

    assert all(answer == answers[0] for answer in answers)
    assert answers[0][:3] == (302, SENT, 200)
    assert [message.to for message in mail.outbox] == [[technician.email], [locked.email]]
    outcomes = {
        event.details["email"]: event.details["outcome"]
        for event in AuditEvent.objects.filter(event=AuditEventType.PASSWORD_RESET_REQUESTED)
    }
    assert outcomes == {
        technician.email: "sent",
        "nobody@northwind.example": "no_account",
        deactivated.email: "inactive",
        locked.email: "sent",
    }


def test_reset_page_refuses_a_malformed_email_with_a_message(client, db):
    for data in [{}, {"email": "not-an-email"}, {"email": "a" * 300 + "@example.com"}]:
        response = client.post(RESET, data)
        assert response.status_code == 200
        assert "field-error" in response.content.decode()
    assert not PasswordResetRequest.objects.exists()


def test_mail_has_one_link_on_site_url_whatever_the_host_header(
    client, on_commit, settings, technician
):
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://portcullis.example"

    on_commit(
        ask_reset,
        client,
        technician.email,
        HTTP_HOST="evil.example",
        HTTP_X_FORWARDED_HOST="evil2.example",
    )

    (message,) = mails_to(technician.email)
    link = link_in(message)
    assert link.startswith("https://portcullis.example/accounts/reset/")
    assert "evil" not in message.body + message.alternatives[0][0]
    assert message.subject == "Your Portcullis password reset link"
    assert "We never ask for your password by email" in message.body
    assert "https://portcullis.example" in message.body.split("--")[-1]
    assert message.alternatives[0][1] == "text/html"


def test_link_sets_a_new_password_and_the_token_leaves_the_address_bar(
    client, on_commit, technician, password
):
    link = reset_link_for(client, on_commit, technician.email)
    token = urlsplit(link).path.split("/")[-2]

    landing = client.get(link)
    form_page = client.get(landing.url)

    assert landing.status_code == 302
    assert landing.url.endswith("/set-password/")
    assert token not in landing.url
    assert landing["Referrer-Policy"] == "no-referrer"
    assert form_page.status_code == 200
    assert 'name="new_password1"' in form_page.content.decode()
    assert form_page["Referrer-Policy"] == "same-origin"
    assert "no-store" in form_page["Cache-Control"]

    done = client.post(landing.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done.status_code == 302
    assert done.url == "/accounts/login/"
    assert SESSION_KEY not in client.session
    assert sign_in_attempt(Client(), technician.email, password).status_code == 200
    assert sign_in_attempt(Client(), technician.email, NEW_PASSWORD).status_code == 302


def test_link_works_once(client, on_commit, technician):
    link = reset_link_for(client, on_commit, technician.email)
    set_password(client, link)

    again = Client().get(link)

    assert again.status_code == 200
    assert "This link no longer works" in again.content.decode()


def test_link_expires_after_password_reset_timeout(client, on_commit, settings, technician):
    settings.PASSWORD_RESET_TIMEOUT = 600
    with time_machine.travel("2026-05-01 10:00:00+00:00", tick=False):
        link = reset_link_for(client, on_commit, technician.email)
    with time_machine.travel("2026-05-01 10:09:00+00:00", tick=False):
        assert Client().get(link).status_code == 302
    with time_machine.travel("2026-05-01 10:10:02+00:00", tick=False):
        expired = Client().get(link)

    assert expired.status_code == 200
    assert "This link no longer works" in expired.content.decode()


def test_link_dies_when_the_password_changes(client, on_commit, technician):
    link = reset_link_for(client, on_commit, technician.email)
    technician.set_password("another-long-passphrase")
    technician.save()

    assert "This link no longer works" in Client().get(link).content.decode()


def test_link_dies_when_the_person_signs_in(client, on_commit, technician):
    link = reset_link_for(client, on_commit, technician.email)
    sign_in(Client(), technician)

    assert "This link no longer works" in Client().get(link).content.decode()


def test_older_link_dies_when_a_newer_one_is_used(client, on_commit, technician):
    with time_machine.travel("2026-05-01 10:00:00+00:00", tick=False):
        older = reset_link_for(client, on_commit, technician.email)
    with time_machine.travel("2026-05-01 10:05:00+00:00", tick=False):
        newer = reset_link_for(client, on_commit, technician.email)
        assert newer != older
        set_password(Client(), newer)

        assert "This link no longer works" in Client().get(older).content.decode()


def test_a_deactivated_persons_link_is_dead(client, on_commit, technician):
    link = reset_link_for(client, on_commit, technician.email)
    technician.is_active = False
    technician.save()

    assert "This link no longer works" in Client().get(link).content.decode()


@pytest.mark.parametrize("path", ["/accounts/reset/xx/yy/", "/accounts/reset/MQ/set-password/"])
def test_a_bad_link_is_a_plain_page_not_an_error(client, db, path):
    response = client.get(path)

    assert response.status_code == 200
    assert "This link no longer works" in response.content.decode()


def test_reset_ends_every_session_audits_and_mails_a_notice(client, on_commit, technician):
    laptop, phone = Client(), Client()
    sign_in(laptop, technician)
    sign_in(phone, technician)
    link = reset_link_for(client, on_commit, technician.email, REMOTE_ADDR="192.0.2.40")

    on_commit(set_password, client, link)

    for old in (laptop, phone):
        assert old.get("/").status_code == 302
        assert SESSION_KEY not in old.session
    completed = AuditEvent.objects.get(event=AuditEventType.PASSWORD_RESET_COMPLETED)
    assert completed.target == technician
    assert completed.tenant == technician.tenant
    revoked = AuditEvent.objects.get(event=AuditEventType.SESSION_REVOKED)
    assert revoked.details == {"reason": "password reset", "sessions": 2}
    requested = AuditEvent.objects.get(event=AuditEventType.PASSWORD_RESET_REQUESTED)
    assert requested.ip == "192.0.2.40"
    notice = mails_to(technician.email)[-1]
    assert notice.subject == "Your Portcullis password was changed"
    assert "reset through an emailed link" in notice.body
    assert "/accounts/reset/" not in notice.body


def test_reset_does_not_sign_in_so_the_next_sign_in_asks_for_everything(
    client, on_commit, technician
):
    link = reset_link_for(client, on_commit, technician.email)

    set_password(client, link)

    assert SESSION_KEY not in client.session
    assert client.get("/").status_code == 302
    assert not AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED).exists()


def test_reset_lifts_the_lock(client, on_commit, technician):
    for _ in range(5):
        sign_in_attempt(Client(), technician.email, "wrong-password-123")
    assert sign_in_attempt(Client(), technician.email, NEW_PASSWORD).status_code == 429

    set_password(client, reset_link_for(client, on_commit, technician.email))

    assert sign_in_attempt(Client(), technician.email, NEW_PASSWORD).status_code == 302
    completed = AuditEvent.objects.get(event=AuditEventType.PASSWORD_RESET_COMPLETED)
    assert completed.details == {"lock_lifted": True}


def test_new_password_is_checked_by_every_validator(client, on_commit, technician):
    link = reset_link_for(client, on_commit, technician.email)
    landing = client.get(link)

    cases = {
        ("short", "short"): "at least 12 characters",
        ("password1234", "password1234"): "too common",
        (NEW_PASSWORD, NEW_PASSWORD + "x"): "The two passwords don",
        ("northwind-rocks-forever", "northwind-rocks-forever"): "“northwind”",
        ("tech@northwind.example", "tech@northwind.example"): "too similar",
    }
    for (first, second), message in cases.items():
        response = client.post(landing.url, {"new_password1": first, "new_password2": second})
        assert response.status_code == 200
        assert message in response.content.decode(), message


def test_at_most_five_reset_mails_an_hour_per_account(client, on_commit, settings, technician):
    assert settings.RESET_LIMIT_PER_ACCOUNT == 5
    with time_machine.travel("2026-05-01 10:00:00+00:00", tick=False):
        answers = {
            on_commit(ask_reset, Client(REMOTE_ADDR=f"192.0.2.{n}"), technician.email).url
            for n in range(7)
        }
    assert answers == {SENT}
    assert len(mails_to(technician.email)) == 5

    with time_machine.travel("2026-05-01 11:00:01+00:00", tick=False):
        on_commit(ask_reset, client, technician.email)
    assert len(mails_to(technician.email)) == 6
    limited = AuditEvent.objects.filter(
        event=AuditEventType.PASSWORD_RESET_REQUESTED, details__outcome="limited"
    )
    assert limited.count() == 2


def test_requests_beyond_the_per_ip_limit_get_the_same_answer_and_send_nothing(
    on_commit, settings, technician
):
    settings.RESET_LIMIT_PER_IP = 3
    client = Client(REMOTE_ADDR="198.51.100.20")
    for number in range(3):
        assert on_commit(ask_reset, client, f"someone{number}@example.com").url == SENT

    over_limit = on_commit(ask_reset, client, technician.email)
    other_ip = on_commit(ask_reset, Client(REMOTE_ADDR="198.51.100.21"), technician.email)

    assert over_limit.status_code == 302
    assert over_limit.url == SENT
    assert PasswordResetRequest.objects.filter(ip="198.51.100.20").count() == 3
    assert len(mails_to(technician.email)) == 1
    assert other_ip.url == SENT


def test_reset_request_is_processed_once_by_the_worker_and_the_sweep(client, technician):
    ask_reset(client, technician.email)
    reset_request = PasswordResetRequest.objects.get()

    assert password_reset_request_process(reset_request_id=reset_request.pk) == "sent"
    assert password_reset_request_process(reset_request_id=reset_request.pk) is None
    sweep_password_reset_requests.delay()

    assert AuditEvent.objects.filter(event=AuditEventType.PASSWORD_RESET_REQUESTED).count() == 1


def test_sweep_forgets_reset_requests_after_a_day(client, technician):
    with time_machine.travel("2026-05-01 10:00:00+00:00", tick=False):
        ask_reset(client, technician.email)
        sweep_password_reset_requests.delay()
    assert PasswordResetRequest.objects.count() == 1

    with time_machine.travel("2026-05-02 10:00:01+00:00", tick=False):
        sweep_password_reset_requests.delay()
    assert not PasswordResetRequest.objects.exists()


def test_reset_pages_are_not_cached(client, db):
    for path in [RESET, SENT]:
        assert "no-store" in client.get(path)["Cache-Control"]
    assert "no-store" in client.post(RESET, {"email": "x@example.com"})["Cache-Control"]


def test_sign_in_page_links_to_forgot_password(client, db):
    page = client.get("/accounts/login/").content.decode()

    assert f'href="{RESET}"' in page
    assert "Forgot password?" in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_workers_process_a_reset_request_once(technician):
    reset_request = PasswordResetRequest.objects.create(email=technician.email, ip="192.0.2.1")
    outcomes = at_once(
        8, lambda _: password_reset_request_process(reset_request_id=reset_request.pk)
    )

    assert sorted(outcomes, key=str) == [None] * 7 + ["sent"]
    assert AuditEvent.objects.filter(event=AuditEventType.PASSWORD_RESET_REQUESTED).count() == 1
