"""One date-time format across the site, the admin and the mail: "7 Dec 2026, 14:26 UTC", in
Spanish "7 dic 2026, 14:26 UTC" (config/formats); never a stray space before a full stop."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from tests.audit.helpers import FROM_THE_OFFICE
from tests.factories import OperatorFactory
from tests.signing_in import sign_in

AT = datetime(2026, 12, 7, 14, 26, 30, tzinfo=UTC)
ENGLISH = "7 Dec 2026, 14:26 UTC"
SPANISH = "7 dic 2026, 14:26 UTC"
# Other layouts a date has been shown in: "Dec 7, 2026", "Dec. 7, 2026, 2:26 p.m.",
# "7 de diciembre de 2026", "2026-12-07 14:26".
OTHER_LAYOUTS = re.compile(
    r"(Dec|dic)\.? 7,|\d{1,2}:\d\d [ap]\.?m\.?|7 de diciembre|2026-12-07 \d\d:\d\d|7 Dic 2026"
)


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def assert_one_format(html: str, expected: str) -> None:
    text = text_of(html)
    assert expected in text
    assert not OTHER_LAYOUTS.search(text), OTHER_LAYOUTS.search(text).group(0)
    assert not re.search(r"UTC\s+\.", text), "a stray space before a full stop"


@pytest.mark.parametrize(("language", "expected"), [("en", ENGLISH), ("es", SPANISH)])
def test_site_pages_use_the_one_format(technician, language, expected):
    technician.password_changed_at = AT
    technician.save(update_fields=["password_changed_at"])
    with time_machine.travel(AT, tick=False):
        client = sign_in(Client(), technician, **FROM_THE_OFFICE)
        history = client.get("/audit/logins/", HTTP_ACCEPT_LANGUAGE=language)
        dashboard = client.get("/", HTTP_ACCEPT_LANGUAGE=language)

    assert_one_format(history.content.decode(), expected)
    assert_one_format(dashboard.content.decode(), expected)


@pytest.mark.parametrize(("language", "expected"), [("en", ENGLISH), ("es", SPANISH)])
def test_admin_lists_and_readonly_fields_use_the_one_format(technician, language, expected):
    with time_machine.travel(AT, tick=False):
        sign_in(Client(), technician, **FROM_THE_OFFICE)
    event = AuditEvent.objects.get(event=AuditEventType.SIGN_IN_SUCCEEDED, target=technician)
    operator = sign_in(Client(), OperatorFactory(), **FROM_THE_OFFICE)

    listing = operator.get("/admin/audit/auditevent/", HTTP_ACCEPT_LANGUAGE=language)
    shown = operator.get(
        f"/admin/audit/auditevent/{event.pk}/change/", HTTP_ACCEPT_LANGUAGE=language
    )

    assert_one_format(listing.content.decode(), expected)
    assert_one_format(shown.content.decode(), expected)


@pytest.mark.parametrize(("language", "expected"), [("en", ENGLISH), ("es", SPANISH)])
def test_mail_uses_the_one_format(language, expected):
    person = User(email="tess@northwind.example")
    with translation.override(language):
        for kind in ("password_changed", "unusual_sign_in"):
            for ending in ("txt", "html"):
                body = render_to_string(
                    f"mail/{kind}.{ending}",
                    {"when": AT, "person": person, "how": "change", "ip": "192.0.2.1"},
                )
                assert_one_format(body, expected)
