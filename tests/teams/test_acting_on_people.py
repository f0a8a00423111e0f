"""Nobody acts on a person whose role is above their own: unlocking and reset links too."""

import pytest
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.test import Client

from accounts import lockout_counters
from accounts.services import lockout_unlock, password_reset_link_send
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from tests.signing_in import sign_in, sign_in_attempt

PEOPLE = "/admin/accounts/user/"


def lock_out(email: str) -> None:
    browser = Client()
    for _ in range(5):
        sign_in_attempt(browser, email, "not-the-password")
    assert lockout_counters.lock_for(email=email, ip=None) is not None


def act(client, action: str, people):
    return client.post(
        PEOPLE,
        {"action": action, "index": 0, helpers.ACTION_CHECKBOX_NAME: [p.pk for p in people]},
        follow=True,
    )


def test_an_admin_cannot_unlock_the_owner_through_the_admin_action(tenant_admin, owner):
    lock_out(owner.email)
    client = sign_in(Client(), tenant_admin)

    response = act(client, "unlock", [owner])

    page = response.content.decode()
    assert "the role Owner holds scopes you don" in page
    assert "Unlocked" not in page
    assert lockout_counters.lock_for(email=owner.email, ip=None) is not None
    assert not AuditEvent.objects.filter(event=AuditEventType.ACCOUNT_UNLOCKED).exists()


def test_an_admin_cannot_unlock_the_owner_through_the_service(tenant_admin, owner):
    lock_out(owner.email)

    with pytest.raises(ValidationError) as refused:
        lockout_unlock(user=owner, actor=tenant_admin)

    assert refused.value.code == "above_you"
    assert lockout_counters.lock_for(email=owner.email, ip=None) is not None


def test_an_admin_still_unlocks_a_technician(tenant_admin, technician):
    lock_out(technician.email)

    assert lockout_unlock(user=technician, actor=tenant_admin) is True


def test_an_admin_cannot_mail_the_owner_a_reset_link_through_the_admin_action(tenant_admin, owner):
    client = sign_in(Client(), tenant_admin)

    response = act(client, "send_reset_link", [owner])

    page = response.content.decode()
    assert "the role Owner holds scopes you don" in page
    assert "Mailed a password-reset link" not in page
    assert not OutboxMail.objects.filter(to=owner.email).exists()
    assert not AuditEvent.objects.filter(event=AuditEventType.PASSWORD_RESET_REQUESTED).exists()


def test_an_admin_cannot_mail_the_owner_a_reset_link_through_the_service(tenant_admin, owner):
    with pytest.raises(ValidationError) as refused:
        password_reset_link_send(user=owner, actor=tenant_admin)

    assert refused.value.code == "above_you"
    assert not OutboxMail.objects.filter(to=owner.email).exists()
