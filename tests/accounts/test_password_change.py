import threading

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.db import connection
from django.test import Client

from accounts.models import PasswordHistory
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from tests.accounts.helpers import CountingArgon2Hasher, mails_to
from tests.signing_in import sign_in, sign_in_attempt

CHANGE = "/accounts/password/change/"
NEW_PASSWORD = "fresh-granite-lantern-orbit"


def change(client: Client, old: str, new: str = NEW_PASSWORD):
    return client.post(CHANGE, {"old_password": old, "new_password1": new, "new_password2": new})


def test_change_page_needs_a_signed_in_person(client, db):
    response = client.get(CHANGE)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_change_page_has_the_three_fields_and_is_not_cached(technician):
    response = sign_in(Client(), technician).get(CHANGE)

    page = response.content.decode()
    for name in ("old_password", "new_password1", "new_password2"):
        assert f'name="{name}"' in page
    assert 'autocomplete="current-password"' in page
    assert 'autocomplete="new-password"' in page
    assert "no-store" in response["Cache-Control"]


def test_change_needs_the_current_password(technician, password):
    client = sign_in(Client(), technician)

    response = change(client, "not-my-password-1")

    assert response.status_code == 200
    assert "That isn&#x27;t your current password" in response.content.decode()
    technician.refresh_from_db()
    assert technician.check_password(password)


def test_wrong_current_passwords_count_toward_the_lockout(technician, password):
    client = sign_in(Client(), technician)
    for _ in range(4):
        assert change(client, "not-my-password-1").status_code == 200

    fifth = change(client, "not-my-password-1")
    with_right_password = change(client, password)

    assert fifth.status_code == 429
    assert with_right_password.status_code == 200
    assert "Too many wrong passwords" in with_right_password.content.decode()
    technician.refresh_from_db()
    assert technician.check_password(password)


def test_change_keeps_this_session_and_ends_every_other(technician, password):
    client = sign_in(Client(), technician)
    other = sign_in(Client(), technician)
    old_key = client.session.session_key

    response = change(client, password)

    assert response.status_code == 302
    assert response.url == "/"
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "1 other session was signed out" in dashboard.content.decode()
    assert client.session.session_key != old_key
    assert other.get("/").status_code == 302
    assert SESSION_KEY not in other.session
    assert list(
        UserSession.objects.filter(user=technician).values_list("session_key", flat=True)
    ) == [client.session.session_key]
    technician.refresh_from_db()
    assert technician.check_password(NEW_PASSWORD)
    assert technician.password_changed_at > technician.date_joined


def test_change_is_audited_and_mails_a_notice(
    technician, password, django_capture_on_commit_callbacks
):
    client = sign_in(Client(), technician)
    sign_in(Client(), technician)

    with django_capture_on_commit_callbacks(execute=True):
        change(client, password)

    changed = AuditEvent.objects.get(event=AuditEventType.PASSWORD_CHANGED)
    assert changed.actor == technician
    assert changed.target == technician
    assert changed.details == {"other_sessions_ended": 1}
    revoked = AuditEvent.objects.get(event=AuditEventType.SESSION_REVOKED)
    assert revoked.details == {"reason": "password changed", "sessions": 1}
    (notice,) = mails_to(technician.email)
    assert notice.subject == "Your Portcullis password was changed"
    assert "Every other session was signed out" in notice.body
    assert NEW_PASSWORD not in notice.body


def test_history_refuses_the_last_n_passwords(technician, password):
    tenant = technician.tenant
    tenant.password_history_count = 2
    tenant.save()
    client = sign_in(Client(), technician)

    assert change(client, password, "passphrase-one-alpha").status_code == 302
    assert change(client, "passphrase-one-alpha", "passphrase-two-bravo").status_code == 302

    reuse = change(client, "passphrase-two-bravo", "passphrase-one-alpha")
    assert reuse.status_code == 200
    assert "among your last 2" in reuse.content.decode()
    assert change(client, "passphrase-two-bravo", "passphrase-three-charlie").status_code == 302
    assert change(client, "passphrase-three-charlie", "passphrase-one-alpha").status_code == 302

    technician.refresh_from_db()
    assert technician.password_history.count() == 2


def test_history_is_not_kept_when_the_tenant_keeps_none(technician, password):
    change(sign_in(Client(), technician), password)

    assert not PasswordHistory.objects.exists()


def test_current_password_counts_as_history_even_from_before_the_policy(technician, password):
    tenant = technician.tenant
    tenant.password_history_count = 1
    tenant.save()

    response = change(sign_in(Client(), technician), password, password)

    assert "among your last 1" in response.content.decode()


@pytest.mark.parametrize("path", ["/", "/admin/", "/accounts/login/"])
def test_an_expired_password_sends_the_person_to_change_it_first(technician, password, path):
    tenant = technician.tenant
    tenant.password_max_age_days = 90
    tenant.save()
    with time_machine.travel("2026-01-01 09:00:00+00:00"):
        technician.set_password(password)
        technician.save()
    client = Client()

    with time_machine.travel("2026-04-02 09:00:00+00:00"):
        signed_in = sign_in_attempt(client, technician.email, password)
        visited = client.get(path)
        page = client.get(CHANGE).content.decode()

    assert signed_in.status_code == 302
    assert visited.status_code == 302
    assert visited.url.split("?")[0] == CHANGE
    assert "older than 90 days" in page


def test_an_expired_password_is_no_obstacle_once_changed(technician, password):
    tenant = technician.tenant
    tenant.password_max_age_days = 90
    tenant.save()
    with time_machine.travel("2026-01-01 09:00:00+00:00"):
        technician.set_password(password)
        technician.save()

    with time_machine.travel("2026-04-02 09:00:00+00:00"):
        client = sign_in(Client(), technician)
        assert change(client, password).url == "/"
        assert client.get("/").status_code == 200


def test_a_password_change_required_flag_comes_before_anything_else(technician, password):
    technician.password_change_required = True
    technician.save()
    client = sign_in(Client(), technician)

    assert client.get("/").url.split("?")[0] == CHANGE
    assert "asks you to choose a new password" in client.get(CHANGE).content.decode()
    assert client.post("/accounts/logout/").status_code == 302

    client = sign_in(Client(), technician)
    change(client, password)
    technician.refresh_from_db()
    assert technician.password_change_required is False
    assert client.get("/").status_code == 200


def test_password_age_is_off_by_default(technician, password):
    with time_machine.travel("2020-01-01 09:00:00+00:00"):
        technician.set_password(password)
        technician.save()

    assert sign_in(Client(), technician).get("/").status_code == 200
    assert mail.outbox == []


@pytest.mark.postgres
@pytest.mark.real_hashers
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_current_passwords_check_no_more_than_the_lockout_allows(
    settings, technician, password
):
    """The current-password check takes its lockout slot before the hash is checked, as the
    sign-in does: of twenty guesses sent at once only LOCKOUT_FAILURES are checked, and a 21st
    try with the right password is refused unchecked and changes nothing."""
    technician.role.max_sessions = 25
    technician.role.save()
    clients = [sign_in(Client(), technician) for _ in range(21)]
    settings.PASSWORD_HASHERS = ["tests.accounts.helpers.CountingArgon2Hasher"]
    CountingArgon2Hasher.checked = 0
    start = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit(client: Client, old: str) -> None:
        try:
            start.wait(timeout=30)
            status = change(client, old).status_code
            with lock:
                statuses.append(status)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=submit, args=(client, "not-my-password-1"))
        for client in clients[:20]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    right = change(clients[20], password)

    # The guess that starts the lock gets the lock notice; the form says so to the others.
    assert sorted(statuses) == [200] * 19 + [429]
    assert CountingArgon2Hasher.checked == settings.LOCKOUT_FAILURES
    checked = AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_FAILED).exclude(
        details__has_key="refused"
    )
    assert checked.count() == settings.LOCKOUT_FAILURES
    assert right.status_code == 200
    assert "Too many wrong passwords" in right.content.decode()
    technician.refresh_from_db()
    assert technician.check_password(password)
    assert not AuditEvent.objects.filter(event=AuditEventType.PASSWORD_CHANGED).exists()
