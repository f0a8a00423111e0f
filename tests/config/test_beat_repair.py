"""The beat that starts leading, or that reaches Redis again, sends the jobs that repair a fault
at once, and a killed leader is replaced within the lock's lifetime (config/beat.py)."""

from unittest import mock

import pytest
import redis
from django.conf import settings as django_settings

from config.beat import LAST_RUN_NAME, LOCK_NAME, SingleBeatScheduler
from config.celery import app as celery_app


class RecordingScheduler(SingleBeatScheduler):
    """The scheduler, noting the jobs it sends instead of sending them."""

    producer = None

    def __init__(self, *args, **kwargs) -> None:
        self.sent: list[str] = []
        super().__init__(*args, **kwargs)

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        self.sent.append(entry.name)


@pytest.fixture
def beat_redis(redis_url, settings):
    settings.REDIS_URL = redis_url
    settings.BEAT_LOCK_SECONDS = 60.0
    client = redis.Redis.from_url(redis_url)
    client.delete(LOCK_NAME, LAST_RUN_NAME)
    yield client
    client.delete(LOCK_NAME, LAST_RUN_NAME)
    client.close()


@pytest.fixture
def beats(beat_redis, tmp_path):
    """Beats on the site's schedule (tests/config/beat_app.py replaces the app's when imported)."""
    replaced = celery_app.conf.beat_schedule
    celery_app.conf.beat_schedule = django_settings.CELERY_BEAT_SCHEDULE
    started = []

    def start(name: str) -> RecordingScheduler:
        scheduler = RecordingScheduler(app=celery_app, schedule_filename=str(tmp_path / name))
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.close()
    celery_app.conf.beat_schedule = replaced


def repair_jobs() -> set[str]:
    return set(django_settings.BEAT_REPAIR_JOBS)


def test_a_new_leader_sends_the_repair_jobs_at_once_though_they_just_ran(beats, beat_redis):
    first, second = beats("first"), beats("second")
    first.tick()
    assert set(first.sent) == repair_jobs()
    second.tick()
    assert second.sent == []

    # The first leader is killed: nothing releases the key, its TTL runs out.
    beat_redis.delete(LOCK_NAME)
    second.tick()

    # The recorded last runs say each job ran a moment ago; the new leader sends them anyway,
    # once each, and then waits their interval.
    assert sorted(second.sent) == sorted(repair_jobs())
    second.tick()
    assert sorted(second.sent) == sorted(repair_jobs())


def test_a_leader_that_reaches_redis_again_sends_the_repair_jobs(beats):
    leader = beats("leader")
    leader.tick()
    leader.sent.clear()

    with mock.patch.object(leader.lock, "reacquire", side_effect=redis.ConnectionError("down")):
        leader.tick()
    assert leader.sent == []
    leader.tick()

    assert sorted(leader.sent) == sorted(repair_jobs())
    leader.tick()
    assert sorted(leader.sent) == sorted(repair_jobs())


def test_a_killed_leader_is_replaced_within_the_lock_lifetime(beats, beat_redis):
    leader, standby = beats("leader"), beats("standby")
    leader.tick()

    ttl_ms = beat_redis.pttl(LOCK_NAME)
    # After a kill the key lapses within its TTL, and the standby asks again within its
    # interval: both together stay inside the 60 s promised, with one interval to spare.
    assert 0 < ttl_ms <= 40_000
    assert standby.tick() == 10.0
    assert ttl_ms / 1000 + standby.max_interval + standby.max_interval <= 60.0
