"""Two `celery beat` processes started by mistake send each periodic job once, and the standby
takes over when the one that leads is killed."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from config.beat import LAST_RUN_NAME, LOCK_NAME
from tests.config.beat_app import QUEUE, TICK_SECONDS

BASE_DIR = Path(__file__).resolve().parent.parent.parent
CELERY = Path(sys.executable).parent / "celery"
LEADING = "holding the beat lock"  # logged by config.beat once it leads


@pytest.fixture
def broker(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete(QUEUE, LOCK_NAME, LAST_RUN_NAME)
    yield client
    client.delete(QUEUE, LOCK_NAME, LAST_RUN_NAME)
    client.close()


def beat_start(name: str, redis_url: str, folder: Path) -> subprocess.Popen:
    log = (folder / f"{name}.log").open("w")
    return subprocess.Popen(  # noqa: S603 - our own beat, talking to the test's Redis only
        [str(CELERY), "-A", "tests.config.beat_app", "beat", "--loglevel", "INFO"]
        + ["--schedule", str(folder / f"{name}-schedule"), "--pidfile", ""],
        cwd=BASE_DIR,
        env={**os.environ, "REDIS_URL": redis_url, "BEAT_LOCK_SECONDS": "2"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, timeout: float) -> bool:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_two_beats_send_each_job_once_and_the_standby_takes_over(broker, redis_url, tmp_path):
    beats = {name: beat_start(name, redis_url, tmp_path) for name in ("a", "b")}

    def leaders() -> list[str]:
        return [name for name in beats if LEADING in (tmp_path / f"{name}.log").read_text()]

    try:
        # Starting Django and Celery can take a minute on a loaded two-core machine.
        assert wait_for(lambda: broker.llen(QUEUE) > 0, 120), "no beat sent anything"
        # Both have started (each logs its start) before the window is measured.
        assert wait_for(
            lambda: all("beat: Starting" in (tmp_path / f"{n}.log").read_text() for n in beats),
            120,
        )
        before = broker.llen(QUEUE)
        window = 6.0
        time.sleep(window)
        sent = broker.llen(QUEUE) - before
        # One beat sends one job a second; two would send twice as many.
        assert window / TICK_SECONDS - 2 <= sent <= window / TICK_SECONDS + 1, sent
        assert len(leaders()) == 1, leaders()

        leader = leaders()[0]
        standby = next(name for name in beats if name != leader)
        beats[leader].kill()  # SIGKILL: no release, the lock's TTL frees it
        beats[leader].wait(timeout=10)
        assert wait_for(lambda: standby in leaders(), 10), "the standby did not take over"
        before = broker.llen(QUEUE)
        time.sleep(window)
        sent = broker.llen(QUEUE) - before
        assert window / TICK_SECONDS - 2 <= sent <= window / TICK_SECONDS + 1, sent
    finally:
        for process in beats.values():
            process.terminate()
        for process in beats.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
