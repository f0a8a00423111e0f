"""Seeing, renaming and removing one's own passkeys on /mfa/."""

import re

import pytest
from django.core import mail
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import PasskeyDevice
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa.helpers import request_with_fresh_proof
from tests.mfa.passkeys.authenticator import (
    ADD,
    SoftAuthenticator,
    options_on_page,
    passkey_register,
)
from tests.signing_in import REAUTHENTICATE as REAUTH
from tests.signing_in import sign_in


@pytest.fixture
def signed_in(clock, technician, authenticator) -> Client:
    client = sign_in(Client(), technician)
    passkey_register(client, authenticator, name="Work laptop")
    return client


def passkey_of(person) -> PasskeyDevice:
    return PasskeyDevice.objects.get(user=person)


def test_overview_lists_each_passkey_with_rename_and_remove(signed_in, technician):
    passkey = passkey_of(technician)

    page = signed_in.get("/mfa/").content.decode()

    assert "Work laptop" in page
    assert f"/mfa/passkeys/{passkey.pk}/rename/" in page
    assert f"/mfa/passkeys/{passkey.pk}/remove/" in page
    assert "synced" in page


def test_rename_is_audited(signed_in, technician):
    passkey = passkey_of(technician)

    response = signed_in.post(f"/mfa/passkeys/{passkey.pk}/rename/", {"name": "Old laptop"})

    assert response.url == "/mfa/"
    assert passkey_of(technician).name == "Old laptop"
    renamed = AuditEvent.objects.get(event=AuditEventType.PASSKEY_RENAMED)
    assert renamed.details == {"from": "Work laptop", "to": "Old laptop"}


def test_rename_to_nothing_or_too_long_is_a_clear_message(signed_in, technician):
    passkey = passkey_of(technician)

    empty = signed_in.post(f"/mfa/passkeys/{passkey.pk}/rename/", {"name": ""})
    long = signed_in.post(f"/mfa/passkeys/{passkey.pk}/rename/", {"name": "x" * 65})

    assert "Give this passkey a name." in empty.content.decode()
    assert "64 characters or fewer" in long.content.decode()
    assert passkey_of(technician).name == "Work laptop"


def test_remove_needs_a_fresh_password_proof(signed_in, technician, clock, settings):
    passkey = passkey_of(technician)
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    response = signed_in.post(f"/mfa/passkeys/{passkey.pk}/remove/")

    assert response.url.startswith("/mfa/confirm-password/")
    assert PasskeyDevice.objects.filter(pk=passkey.pk).exists()


def test_remove_is_audited_and_mailed(signed_in, technician, django_capture_on_commit_callbacks):
    passkey = passkey_of(technician)

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/mfa/passkeys/{passkey.pk}/remove/")

    assert response.url == "/mfa/"
    assert not PasskeyDevice.objects.exists()
    assert AuditEvent.objects.get(event=AuditEventType.PASSKEY_REMOVED).details == {
        "name": "Work laptop"
    }
    assert [message.subject for message in mail.outbox] == ["Passkey removed"]


def test_last_factor_cannot_be_removed_where_mfa_is_required(signed_in, technician):
    technician.tenant.require_mfa = True
    technician.tenant.save()
    passkey = passkey_of(technician)

    signed_in.post(f"/mfa/passkeys/{passkey.pk}/remove/")

    assert PasskeyDevice.objects.filter(pk=passkey.pk).exists()
    assert not AuditEvent.objects.filter(event=AuditEventType.PASSKEY_REMOVED).exists()


@pytest.mark.parametrize("action", ["rename", "remove"])
def test_another_persons_passkey_is_a_404(clock, signed_in, technician, other_tenant, action):
    for stranger in (UserFactory(tenant=technician.tenant), UserFactory(tenant=other_tenant)):
        client = sign_in(Client(), stranger)
        passkey_register(client, SoftAuthenticator())
        theirs = passkey_of(stranger)

        assert signed_in.get(f"/mfa/passkeys/{theirs.pk}/{action}/").status_code == 404
        assert (
            signed_in.post(f"/mfa/passkeys/{theirs.pk}/{action}/", {"name": "x"}).status_code == 404
        )
        assert passkey_of(stranger).name == "Work laptop"


def test_owner_reset_removes_passkeys(clock, signed_in, technician, owner):
    from mfa.services import mfa_factors_reset

    assert (
        mfa_factors_reset(target=technician, actor=owner, request=request_with_fresh_proof())
        is True
    )

    assert not PasskeyDevice.objects.filter(user=technician).exists()
    reset = AuditEvent.objects.get(event=AuditEventType.MFA_RESET)
    assert reset.details["passkeys"] == 1


def test_access_review_shows_passkeys(clock, signed_in, technician, owner):
    client = sign_in(Client(), owner)

    page = client.get("/access-review/").content.decode()

    assert "passkey" in page


# --- "Sign out my other sessions" on adding and removing a passkey (ASVS 5.0 V7.4.3)

SIGN_OUT_OTHERS_TICKED = re.compile(r'<input type="checkbox" name="sign_out_others"[^>]* checked>')


def test_adding_a_passkey_can_sign_out_other_sessions(clock, technician, authenticator):
    phone = sign_in(Client(), technician)
    laptop = sign_in(Client(), technician)
    page = laptop.get(ADD).content.decode()
    assert SIGN_OUT_OTHERS_TICKED.search(page)
    options = options_on_page(page, "passkey-registration-options")

    response = laptop.post(
        ADD,
        {"name": "Laptop", "credential": authenticator.create(options), "sign_out_others": "on"},
    )

    assert response.status_code == 302
    assert phone.get("/").status_code == 302, "the other session ended"
    assert laptop.get("/").status_code == 200, "this one stays"
    revoked = AuditEvent.objects.get(event=AuditEventType.SESSION_REVOKED)
    assert revoked.details == {"reason": "second factors changed", "sessions": 1}


def test_removing_a_passkey_can_sign_out_other_sessions(clock, technician, authenticator):
    phone = sign_in(Client(), technician)
    laptop = sign_in(Client(), technician)
    passkey_register(laptop, authenticator)
    remove = f"/mfa/passkeys/{passkey_of(technician).pk}/remove/"
    assert SIGN_OUT_OTHERS_TICKED.search(laptop.get(remove).content.decode())

    response = laptop.post(remove, {"sign_out_others": "on"})

    assert response.url == "/mfa/"
    assert not PasskeyDevice.objects.exists()
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert AuditEvent.objects.get(event=AuditEventType.SESSION_REVOKED).details["sessions"] == 1


def test_unticked_a_passkeys_removal_keeps_the_other_sessions(clock, technician, authenticator):
    phone = sign_in(Client(), technician)
    laptop = sign_in(Client(), technician)
    passkey_register(laptop, authenticator)

    laptop.post(f"/mfa/passkeys/{passkey_of(technician).pk}/remove/", {})

    assert not PasskeyDevice.objects.exists()
    assert phone.get("/").status_code == 200
    assert not AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).exists()


# --- a passkey proves the factor on the proof page (ASVS 5.0 V7.5.1)


def test_a_person_with_a_passkey_proves_it_with_the_password(
    signed_in, technician, authenticator, clock
):
    clock.shift(6 * 60)
    remove = f"/mfa/passkeys/{passkey_of(technician).pk}/remove/"
    assert signed_in.get(remove).url.startswith(REAUTH)
    page = signed_in.get(REAUTH).content.decode()
    assert 'name="otp_token"' not in page, "no codes to type"

    password_only = signed_in.post(REAUTH, {"password": DEFAULT_PASSWORD})

    assert password_only.status_code == 200
    assert not AuditEvent.objects.filter(event=AuditEventType.REAUTHENTICATED).exists()

    options = options_on_page(signed_in.get(REAUTH).content.decode(), "passkey-proof-options")
    proved = signed_in.post(
        REAUTH,
        {"password": DEFAULT_PASSWORD, "credential": authenticator.get(options), "next": remove},
    )

    assert proved.status_code == 302 and proved.url == remove
    assert AuditEvent.objects.get(event=AuditEventType.REAUTHENTICATED).details == {
        "factor": "passkey"
    }
    assert signed_in.get(remove).status_code == 200


def test_another_persons_passkey_proves_nothing(signed_in, technician, clock, tenant):
    clock.shift(6 * 60)
    stranger = UserFactory(tenant=tenant)
    theirs = SoftAuthenticator()
    passkey_register(sign_in(Client(), stranger), theirs)
    options = options_on_page(signed_in.get(REAUTH).content.decode(), "passkey-proof-options")
    options["allowCredentials"] = []

    refused = signed_in.post(
        REAUTH, {"password": DEFAULT_PASSWORD, "credential": theirs.get(options)}
    )

    assert refused.status_code == 200
    assert "That passkey didn" in refused.content.decode()
    assert AuditEvent.objects.get(event=AuditEventType.MFA_FAILED).target == technician
    assert not AuditEvent.objects.filter(event=AuditEventType.REAUTHENTICATED).exists()
