import pytest
from django.contrib.auth import SESSION_KEY

from audit.events import AuditEventType
from audit.models import AuditEvent
from tests.factories import UserFactory
from tests.signing_in import LOGIN, sign_in, sign_in_attempt

SAME_MESSAGE = "That email and password don&#x27;t match an active account."


def test_sign_in_with_email_and_password_reaches_dashboard(client, technician, password):
    response = sign_in_attempt(client, technician.email, password)

    assert response.status_code == 302
    assert response.url == "/"
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert technician.email in dashboard.content.decode()


def test_sign_in_ignores_email_case_and_surrounding_spaces(client, technician, password):
    response = sign_in_attempt(client, "  TECH@Northwind.Example ", password)

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(technician.pk)


@pytest.mark.parametrize(
    "email, typed_password",
    [
        ("tech@northwind.example", "wrong-password-123"),
        ("nobody@northwind.example", "correct-horse-battery-staple"),
    ],
)
def test_wrong_password_and_unknown_email_get_the_same_message(
    client, technician, email, typed_password
):
    response = sign_in_attempt(client, email, typed_password)

    assert response.status_code == 200
    assert SAME_MESSAGE in response.content.decode()
    assert SESSION_KEY not in client.session


def test_deactivated_person_gets_the_wrong_password_message(client, technician, password):
    technician.is_active = False
    technician.save()

    response = sign_in_attempt(client, technician.email, password)

    assert response.status_code == 200
    assert SAME_MESSAGE in response.content.decode()
    assert SESSION_KEY not in client.session


def test_session_key_changes_at_sign_in(client, technician):
    client.get(LOGIN)
    client.session.save()
    planted_key = client.session.session_key
    client.cookies["sessionid"] = planted_key

    sign_in(client, technician)

    assert client.session.session_key != planted_key
    from django.contrib.sessions.backends.db import SessionStore

    assert SESSION_KEY not in SessionStore(session_key=planted_key).load()


def test_sign_in_and_failure_are_audited_without_the_password(client, technician):
    sign_in_attempt(client, technician.email, "not-my-password-1")
    sign_in(
        client,
        technician,
        HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        REMOTE_ADDR="203.0.113.7",
    )

    failed = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_FAILED)
    assert failed.target == technician
    assert failed.tenant == technician.tenant
    assert failed.details == {"email": technician.email}
    assert "not-my-password-1" not in str(failed.details)
    succeeded = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_SUCCEEDED)
    assert succeeded.actor == technician
    assert succeeded.ip == "203.0.113.7"
    assert "Firefox" in succeeded.user_agent


def test_failure_for_unknown_email_records_what_was_tried(client, db):
    sign_in_attempt(client, " Ghost@Example.com\n", "whatever-it-is")

    failed = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_FAILED)
    assert failed.target is None
    assert failed.tenant is None
    assert failed.details == {"email": "ghost@example.com"}


def test_next_parameter_redirects_only_within_the_site(client, technician, password):
    inside = sign_in_attempt(client, technician.email, password, next_page="/admin/")
    assert inside.url == "/admin/"
    client.post("/accounts/logout/")

    outside = sign_in_attempt(client, technician.email, password, next_page="https://evil.example/")
    assert outside.url == "/"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"username": ""},
        {"username": "a" * 5000 + "@example.com", "password": "x"},
        {"username": "tech@northwind.example", "password": "p" * 5000},
        {"username": "\x00\x1b[31m@example.com", "password": "\x00"},
        {"username": ["one@example.com", "two@example.com"], "password": ["a", "b"]},
    ],
)
def test_malformed_sign_in_posts_get_a_form_error_not_a_crash(client, technician, data):
    response = client.post(LOGIN, data)

    assert response.status_code == 200
    assert 'class="form-errors"' in response.content.decode() or "field-error" in (
        response.content.decode()
    )
    assert SESSION_KEY not in client.session


def test_sign_in_without_csrf_token_is_refused(technician, password):
    from django.test import Client

    strict_client = Client(enforce_csrf_checks=True)
    response = sign_in_attempt(strict_client, technician.email, password)

    assert response.status_code == 403
    assert SESSION_KEY not in strict_client.session


def test_signed_in_visitor_to_login_page_goes_to_dashboard(client_signed_in):
    response = client_signed_in.get(LOGIN)

    assert response.status_code == 302
    assert response.url == "/"


def test_login_page_is_not_cached_and_shows_canonical_address(client, db, settings):
    response = client.get(LOGIN)

    assert "no-store" in response["Cache-Control"]
    assert settings.SITE_URL in response.content.decode()
    assert 'type="password"' in response.content.decode()
    assert 'autocomplete="current-password"' in response.content.decode()


def test_operator_without_tenant_can_sign_in_with_their_second_factor(client, db, password):
    from tests.factories import OperatorFactory

    operator = OperatorFactory()

    response = sign_in_attempt(client, operator.email, password)

    assert response.status_code == 302
    assert response.url.startswith("/mfa/verify/")
    sign_in(client, operator)
    assert "Platform operator" in client.get("/").content.decode()


def test_people_of_different_tenants_sign_in_independently(client, technician):
    other = UserFactory(email="tech@contoso.example")

    sign_in(client, other)

    assert client.session[SESSION_KEY] == str(other.pk)
