import pytest
from django.utils import translation

from accounts import attempt
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.sign_in_methods import (
    PASSKEY_DOOR,
    PASSWORD_DOOR,
    PROVIDER_DOOR,
    SECOND_FACTORS,
    sign_in_method_label,
    sign_in_outcome,
)

SUCCEEDED = AuditEventType.SIGN_IN_SUCCEEDED
MICROSOFT = {"provider": "Microsoft", "kind": "entra", "subject": "abc"}


def event(event_type: int, **details) -> AuditEvent:
    return AuditEvent(event=event_type, details=details)


@pytest.mark.parametrize(
    ("details", "label"),
    [
        ({"door": "password", "second_factor": "totp"}, "Password + authenticator app"),
        ({"door": "password", "second_factor": "backup_code"}, "Password + backup code"),
        ({"door": "password", "second_factor": "passkey"}, "Password + passkey"),
        (
            {"door": "password", "second_factor": "remembered_browser"},
            "Password on a remembered browser",
        ),
        ({"door": "password", "second_factor": "none"}, "Password only"),
        ({"door": "passkey", "second_factor": "passkey"}, "Passkey"),
        (
            {"door": "provider", "second_factor": "identity_provider", "via": MICROSOFT},
            "Via Microsoft",
        ),
        ({"door": "provider", "second_factor": "none", "via": MICROSOFT}, "Via Microsoft"),
        (
            {"door": "provider", "second_factor": "totp", "via": MICROSOFT},
            "Via Microsoft + authenticator app",
        ),
        # Recorded before the door was: read the same, a passkey as "Passkey".
        ({"second_factor": "totp"}, "Password + authenticator app"),
        ({"second_factor": "passkey"}, "Passkey"),
        ({"second_factor": "identity_provider", "via": MICROSOFT}, "Via Microsoft"),
    ],
)
def test_a_sign_in_names_its_method(details, label):
    assert sign_in_method_label(event(SUCCEEDED, **details)) == label


def test_failed_and_refused_sign_ins_name_the_step_and_other_events_none():
    assert sign_in_method_label(event(AuditEventType.SIGN_IN_FAILED, email="a@b.example")) == (
        "Password"
    )
    assert sign_in_method_label(event(AuditEventType.MFA_FAILED)) == "Second step"
    assert sign_in_method_label(event(AuditEventType.PASSKEY_SIGN_IN_FAILED)) == "Passkey"
    failed_sso = event(AuditEventType.SSO_SIGN_IN_FAILED, reason="state", **MICROSOFT)
    assert sign_in_method_label(failed_sso) == "Via Microsoft"
    assert sign_in_method_label(event(AuditEventType.PERSON_INVITED)) == ""
    assert [
        sign_in_outcome(event(kind))
        for kind in (SUCCEEDED, AuditEventType.SIGN_IN_FAILED, AuditEventType.SSO_PASSWORD_REFUSED)
    ] == ["succeeded", "failed", "refused"]
    assert sign_in_outcome(event(AuditEventType.PERSON_INVITED)) is None


def test_every_door_and_kind_accounts_records_has_words():
    """audit reads accounts' stored values by their spelling: a new door or kind must be named."""
    assert {PASSWORD_DOOR, PROVIDER_DOOR, PASSKEY_DOOR} == {
        attempt.PASSWORD_DOOR,
        attempt.PROVIDER_DOOR,
        attempt.PASSKEY_DOOR,
    }
    recorded = {
        attempt.SignInAttempt(
            user_id=1, door="password", backend="", second_factor=kind
        ).second_factor_label
        for kind in (*attempt.SECOND_FACTOR_KINDS, None)
    }
    assert recorded == set(SECOND_FACTORS)
    for kind in recorded:
        label = sign_in_method_label(event(SUCCEEDED, door="password", second_factor=kind))
        assert label


def test_method_reads_in_spanish():
    with translation.override("es"):
        label = sign_in_method_label(event(SUCCEEDED, door="password", second_factor="totp"))
    assert label == "Contraseña + app de autenticación"
