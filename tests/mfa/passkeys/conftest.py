import pytest
from django.test import Client

from mfa.models import PasskeyDevice
from tests.mfa.passkeys.authenticator import ORIGIN, SoftAuthenticator, passkey_register
from tests.signing_in import sign_in


@pytest.fixture(autouse=True)
def site_on_localhost(settings):
    """The relying party is SITE_URL's host; the soft authenticator answers for it."""
    settings.SITE_URL = ORIGIN


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def user_with_passkey(clock, technician, authenticator):
    """The technician with one passkey, held by `authenticator`."""
    client = sign_in(Client(), technician)
    response = passkey_register(client, authenticator)
    assert response.status_code == 302, response.content
    assert PasskeyDevice.objects.filter(user=technician).count() == 1
    return technician
