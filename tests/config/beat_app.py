"""The site's Celery app with a one-second schedule, for tests/config/test_beat.py:
`celery -A tests.config.beat_app beat`, started with a short `BEAT_LOCK_SECONDS`."""

from config.celery import app

QUEUE = "beat-test"
TICK_SECONDS = 1.0

# Sent to a queue no worker reads, so the test counts what beat sent by the queue's length.
app.conf.beat_schedule = {
    "tick": {"task": "tests.beat.tick", "schedule": TICK_SECONDS, "options": {"queue": QUEUE}}
}
