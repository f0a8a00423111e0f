import json
from pathlib import Path

import pytest

from provisioning.services.tokens import token_create
from tests.sso.conftest import oidc, sso_tenant  # noqa: F401 - single sign-on's fixtures

FIXTURES = Path(__file__).parent / "fixtures"
SCIM = "application/scim+json"


def body(name: str, **replace: str) -> dict:
    """A recorded Entra- or Okta-shaped request body, with placeholders filled in."""
    text = (FIXTURES / f"{name}.json").read_text()
    for key, value in replace.items():
        text = text.replace(key, value)
    return json.loads(text)


class Scim:
    """The Django test client speaking SCIM with a bearer token."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.token = token

    def _call(self, method: str, path: str, payload=None, **extra):
        return getattr(self.client, method)(
            f"/scim/v2/{path}",
            data=json.dumps(payload) if payload is not None else None,
            content_type=SCIM,
            headers={"Authorization": f"Bearer {self.token}"},
            **extra,
        )

    def get(self, path, **extra):
        return self.client.get(
            f"/scim/v2/{path}", headers={"Authorization": f"Bearer {self.token}"}, **extra
        )

    def post(self, path, payload):
        return self._call("post", path, payload)

    def put(self, path, payload):
        return self._call("put", path, payload)

    def patch(self, path, payload):
        return self._call("patch", path, payload)

    def delete(self, path):
        return self._call("delete", path)


def token_for(tenant, name="Entra ID") -> str:
    return token_create(tenant=tenant, name=name, actor=None)[1]


@pytest.fixture
def scim_token(tenant, owner) -> str:
    return token_for(tenant)


@pytest.fixture
def scim(client, scim_token) -> Scim:
    return Scim(client, scim_token)
