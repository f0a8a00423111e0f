"""A directory's deactivation reaches every web process at once: two gunicorn processes on one
PostgreSQL and Redis (the topology of docs/deploy.md), the SCIM request served by one while the
person's session, remembered browser and waiting sign-in live on the other."""

import json
from http.client import HTTPConnection

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher

from accounts.models import User
from provisioning.services.tokens import token_create
from teams.models import RememberedBrowser, UserSession
from tests.factories import DEFAULT_PASSWORD, TOTPDeviceFactory, UserFactory
from tests.live_site import Browser, Processes, site_env
from tests.mfa.helpers import totp_code

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def scim_patch(port: int, token: str, person_id: int, operations: list) -> int:
    http = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        http.request(
            "PATCH",
            f"/scim/v2/Users/{person_id}",
            json.dumps(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": operations,
                }
            ),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        )
        return http.getresponse().status
    finally:
        http.close()


def test_deactivation_on_one_process_ends_everything_on_the_other(
    tenant, owner, redis_url, tmp_path
):
    person = UserFactory(tenant=tenant, email="leaver@northwind.example")
    User.objects.filter(pk=person.pk).update(
        password=Argon2PasswordHasher().encode(DEFAULT_PASSWORD, Argon2PasswordHasher().salt())
    )
    TOTPDeviceFactory(user=person)
    token = token_create(tenant=tenant, name="Entra ID", actor=None)[1]
    processes = Processes(tmp_path)
    try:
        env = site_env(redis_url, EMAIL_ALLOW_TEST_DOMAINS="1")
        first, second = (processes.gunicorn(f"node-{n}", env, workers=1) for n in range(2))

        signed_in = Browser("203.0.113.10")
        assert signed_in.sign_in(first, person.email, DEFAULT_PASSWORD) == 302
        status, _, _ = signed_in.request(
            first, "POST", "/mfa/verify/", {"otp_token": totp_code(person), "remember": "on"}
        )
        assert status == 302
        assert signed_in.request(second, "GET", "/")[0] == 200
        assert RememberedBrowser.objects.filter(user=person).exists()

        waiting = Browser("203.0.113.11")
        assert waiting.sign_in(second, person.email, DEFAULT_PASSWORD) == 302
        assert waiting.request(first, "GET", "/mfa/verify/")[0] == 200

        deactivated = scim_patch(
            first, token, person.pk, [{"op": "Replace", "value": {"active": "False"}}]
        )

        assert deactivated == 200
        status, location, _ = signed_in.request(second, "GET", "/")
        assert status == 302 and location.startswith("/accounts/login/")
        status, location, _ = waiting.request(second, "GET", "/mfa/verify/")
        assert status == 302 and "/mfa/verify/" not in location
        assert not UserSession.objects.filter(user=person).exists()
        assert not RememberedBrowser.objects.filter(user=person).exists()
    finally:
        processes.stop()
