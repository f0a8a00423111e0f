import pytest
import time_machine
from django.test import Client

from tests.mfa.helpers import MID_STEP, VERIFY, password_step


@pytest.fixture
def clock():
    """Time stands still at MID_STEP until the test moves it (`clock.shift(seconds)`)."""
    with time_machine.travel(MID_STEP, tick=False) as traveller:
        yield traveller


@pytest.fixture
def half_signed_in(clock, user_with_totp, password) -> Client:
    """A session past the password but not the second step."""
    client = password_step(user_with_totp, password)
    assert client.get("/").url.startswith(VERIFY)
    return client
