"""The site's Celery app with a one-second schedule and a two-second beat lock, for
tests/config/test_beat.py: `celery -A tests.config.beat_app beat`."""

from celery.utils.imports import symbol_by_name

from config.celery import app

QUEUE = "beat-test"
TICK_SECONDS = 1.0


class QuickSingleBeatScheduler(symbol_by_name(app.conf.beat_scheduler)):
    """The scheduler the settings name (the locked one whenever REDIS_URL is set)."""

    lock_seconds = 2.0


# Sent to a queue no worker reads, so the test counts what beat sent by the queue's length.
app.conf.beat_schedule = {
    "tick": {"task": "tests.beat.tick", "schedule": TICK_SECONDS, "options": {"queue": QUEUE}}
}
app.conf.beat_scheduler = "tests.config.beat_app:QuickSingleBeatScheduler"
