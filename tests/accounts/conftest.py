import pytest

from config.celery import app as celery_app

DEAD_BROKER_URL = "redis://127.0.0.1:1/0"


def _reset_publisher() -> None:
    """Make the next publish connect to the current broker URL (kombu keeps one connection pool
    per URL, so the previous URL's pool is simply no longer used)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """Celery publishing to a broker that refuses connections, as when Redis is stopped."""
    previous_url = celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = DEAD_BROKER_URL
    _reset_publisher()
    yield
    celery_app.conf.broker_url = previous_url
    celery_app.conf.task_always_eager = True
    _reset_publisher()
