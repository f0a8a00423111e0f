"""The history, the trail and the admin's trail say how each sign-in went and colour outcomes."""

import re

from django.test import Client

from audit.events import AuditEventType
from audit.services import audit_event_record
from tests.audit.helpers import FROM_THE_OFFICE
from tests.factories import OperatorFactory
from tests.signing_in import fail_sign_in, sign_in, sign_in_with_totp


def record(kind, person, **details):
    return audit_event_record(
        event=kind, actor=person, tenant=person.tenant, target=person, details=details
    )


def test_history_names_each_sign_in_method(user_with_totp):
    record(
        AuditEventType.SIGN_IN_SUCCEEDED, user_with_totp, door="passkey", second_factor="passkey"
    )
    record(
        AuditEventType.SIGN_IN_SUCCEEDED,
        user_with_totp,
        door="provider",
        second_factor="identity_provider",
        via={"provider": "Microsoft", "kind": "entra", "subject": "x"},
    )
    fail_sign_in(Client(), user_with_totp.email, REMOTE_ADDR="198.51.100.5")
    client = sign_in_with_totp(Client(), user_with_totp, **FROM_THE_OFFICE)

    page = client.get("/audit/logins/").content.decode()

    assert 'class="sign-in-method">Password + authenticator app<' in page
    assert 'class="sign-in-method">Passkey<' in page
    assert 'class="sign-in-method">Via Microsoft<' in page
    assert 'class="sign-in-method">Password<' in page
    assert page.count('class="badge badge-ok">Sign-in succeeded<') == 3
    assert 'class="badge badge-danger">Sign-in failed<' in page


def test_trail_has_an_ip_column_methods_and_outcome_colours(owner, technician):
    fail_sign_in(Client(), technician.email, REMOTE_ADDR="198.51.100.5")
    record(AuditEventType.SSO_PASSWORD_REFUSED, technician, instead="Microsoft")
    client = sign_in(Client(), owner, **FROM_THE_OFFICE)

    page = client.get("/audit/").content.decode()

    assert '<th scope="col">IP address</th>' in page
    assert re.search(r'data-label="IP address">198\.51\.100\.5</td>', page)
    assert 'class="badge badge-danger">Sign-in failed<' in page
    assert re.search(r'class="badge badge-warn">Password sign-in refused[^<]*<', page)
    assert 'class="badge badge-ok">Sign-in succeeded</span><span class="sign-in-method">' in page
    assert "Password only" in page or "Password + " in page


def test_admin_trail_shows_method_and_outcome(technician):
    record(AuditEventType.SIGN_IN_SUCCEEDED, technician, door="password", second_factor="totp")
    client = sign_in(Client(), OperatorFactory(), **FROM_THE_OFFICE)

    page = client.get("/admin/audit/auditevent/").content.decode()

    assert '<span class="badge badge-ok">Sign-in succeeded</span>' in page
    assert "Password + authenticator app" in page
