import pytest
from django.test import Client

from teams import scopes
from tests.factories import UserFactory


@pytest.fixture
def sign_in(password):
    """A fresh browser (its own cookies) signed in as `user` through the real sign-in page."""

    def sign_in(user, **extra) -> Client:
        client = Client()
        response = client.post(
            "/accounts/login/", {"username": user.email, "password": password}, **extra
        )
        assert response.status_code == 302, response.content
        return client

    return sign_in


@pytest.fixture
def other_owner(other_tenant):
    return UserFactory(tenant=other_tenant, builtin=scopes.OWNER, email="owner@contoso.example")


@pytest.fixture
def half_signed_in(user_with_totp, password) -> Client:
    """A session past the password but not the second step."""
    from tests.mfa.helpers import VERIFY, password_step

    client = password_step(user_with_totp, password)
    assert client.get("/").url.startswith(VERIFY)
    return client
