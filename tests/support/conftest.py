import pytest
from django.test import Client


@pytest.fixture
def half_signed_in(user_with_totp, password) -> Client:
    """A session past the password but not the second step."""
    from tests.mfa.helpers import VERIFY, password_step

    client = password_step(user_with_totp, password)
    assert client.get("/").url.startswith(VERIFY)
    return client
