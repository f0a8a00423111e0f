import pytest
from django.test import RequestFactory

from audit.client import client_ip
from audit.events import AuditEventType
from audit.services import audit_event_record


@pytest.mark.parametrize(
    "proxies, forwarded, remote, expected",
    [
        (0, "198.51.100.1", "10.0.0.5", "10.0.0.5"),
        (1, "198.51.100.1", "10.0.0.5", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "10.0.0.5", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.9", "10.0.0.5", "198.51.100.1"),
        (2, "198.51.100.1", "10.0.0.5", "10.0.0.5"),
        (1, "not-an-ip", "10.0.0.5", "10.0.0.5"),
        (1, "", "10.0.0.5", "10.0.0.5"),
    ],
)
def test_client_ip_reads_forwarded_for_only_as_deep_as_trusted(
    settings, proxies, forwarded, remote, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)

    assert client_ip(request) == expected


def test_recorded_values_have_control_characters_escaped(technician):
    request = RequestFactory().get("/", HTTP_USER_AGENT="evil\r\nX-Injected: 1\x1b[2J")

    event = audit_event_record(
        event=AuditEventType.SIGN_IN_FAILED,
        actor=None,
        tenant=technician.tenant,
        target=technician,
        request=request,
        details={"email": "a\nb@example.com", "list": ["\x07"]},
    )

    event.refresh_from_db()
    assert event.user_agent == "evil\\x0d\\x0aX-Injected: 1\\x1b[2J"
    assert event.details == {"email": "a\\x0ab@example.com", "list": ["\\x07"]}
    assert event.target_label == technician.email
