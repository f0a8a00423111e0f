import pytest

from teams import scopes
from tests.factories import UserFactory


@pytest.fixture
def tenant_admin(tenant):
    return UserFactory(tenant=tenant, builtin=scopes.ADMIN, email="admin@northwind.example")
