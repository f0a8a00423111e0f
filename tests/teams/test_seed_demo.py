import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from tests.signing_in import sign_in_attempt

CREDENTIAL_LINE = re.compile(r"^\s+(\S+)\s+(\S+@\S+)\s+password: (\S+)$", re.MULTILINE)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_refuses_without_debug(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG") as refused:
        seed()

    assert refused.value.returncode == 2
    assert not User.objects.exists()


def test_seed_demo_makes_an_owner_and_two_technicians_who_can_sign_in(db, settings, client):
    settings.DEBUG = True

    credentials = CREDENTIAL_LINE.findall(seed())

    assert sorted(role for role, _, _ in credentials) == ["Owner", "Technician", "Technician"]
    for _, email, password in credentials:
        response = sign_in_attempt(client, email, password)
        assert response.status_code == 302, email
        client.post("/accounts/logout/")


def test_seed_demo_again_keeps_the_people_and_gives_new_passwords(db, settings):
    settings.DEBUG = True
    first = dict((email, password) for _, email, password in CREDENTIAL_LINE.findall(seed()))

    second = dict((email, password) for _, email, password in CREDENTIAL_LINE.findall(seed()))

    assert first.keys() == second.keys()
    assert User.objects.count() == 3
    assert all(first[email] != second[email] for email in first)


def test_seed_demo_follows_the_secure_default_and_says_what_sign_in_asks_for(db, settings, client):
    settings.DEBUG = True

    output = seed()

    assert "What the first sign-in asks for:" in output
    assert output.count("then setting up an authenticator app") == 3
    _, email, password = CREDENTIAL_LINE.findall(output)[0]
    response = sign_in_attempt(client, email, password)
    assert response.url.startswith("/mfa/totp/setup/")


def test_seeded_passwords_have_their_timestamp_so_the_access_review_knows_their_age(db, settings):
    settings.DEBUG = True

    seed()

    assert User.objects.exists()
    assert not User.objects.filter(password_changed_at__isnull=True).exists()
