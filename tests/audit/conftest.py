import pytest
from django.db import connection

from tests.audit.helpers import NO_TRUNCATE_TRIGGERS_OFF


@pytest.fixture
def months_emptied_after(transactional_db):
    """The months a transactional test makes get the no-truncate trigger; the test database
    switches it off on them too, so the test's tables can be emptied after it."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(NO_TRUNCATE_TRIGGERS_OFF)
