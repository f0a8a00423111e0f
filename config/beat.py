"""Celery beat that sends the periodic jobs only while it holds a lock in Redis.

A second beat started by mistake (a second machine, a deploy that overlapped the old one) waits as
a standby instead of doubling every job, and takes over within `LOCK_SECONDS` when the first one
stops. The lock is a Redis key holding the leader's token with a TTL that the leader renews on
every tick (redis-py's `Lock`: SET NX PX, renewed and released by token in Lua), so a leader that
is killed outright frees it when the TTL runs out. Redis is already the broker: when it is down,
no beat can send anything anyway, so the lock adds no new way to fail.

Each beat keeps its own schedule file, so the leader also writes when it last sent each job to
Redis, and a beat that takes over starts from there: a job the old leader just sent is not sent
again, and one it missed while nobody led is sent at once.
"""

import contextlib
from datetime import datetime

import redis
from celery.beat import PersistentScheduler, ScheduleEntry
from celery.utils.log import get_logger
from django.conf import settings
from redis.exceptions import LockError

logger = get_logger(__name__)

LOCK_NAME = "portcullis:beat:leader"
LAST_RUN_NAME = "portcullis:beat:last-run"
LOCK_SECONDS = 60.0


class SingleBeatScheduler(PersistentScheduler):
    """The persistent scheduler of `celery beat`, sending only while it leads."""

    lock_seconds = LOCK_SECONDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Renewed at least four times per TTL; a standby asks as often.
        self.max_interval = min(self.max_interval, self.lock_seconds / 4)
        self.redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        self.lock = self.redis.lock(
            LOCK_NAME, timeout=self.lock_seconds, blocking=False, thread_local=False
        )
        self.leading = False

    def tick(self, *args, **kwargs) -> float:
        if not self._lead():
            return self.max_interval
        return super().tick(*args, **kwargs)

    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:
        """Note the job's new last run in Redis before it is sent, for whoever leads next."""
        new_entry = super().reserve(entry)
        try:
            self.redis.hset(LAST_RUN_NAME, entry.name, new_entry.last_run_at.isoformat())
        except redis.RedisError as error:
            logger.warning("beat: could not record the last run of %s: %s", entry.name, error)
        return new_entry

    def close(self) -> None:
        """Let a standby take over at once rather than after the TTL."""
        if self.leading:
            # Lost already, or Redis is down: then the TTL frees it.
            with contextlib.suppress(LockError, redis.RedisError):
                self.lock.release()
            self.leading = False
        super().close()

    def _lead(self) -> bool:
        try:
            if self.leading:
                self.lock.reacquire()
                return True
            if self.lock.acquire(blocking=False):
                self.leading = True
                logger.info("beat: holding the beat lock; sending the periodic jobs")
                self._resume_from_last_runs()
                return True
        except LockError:
            # The TTL ran out (the process was paused, or Redis was away that long) and another
            # beat may lead now: stand by rather than send alongside it.
            self.leading = False
            logger.warning("beat: lost the beat lock; standing by")
        except redis.RedisError as error:
            # Not known whether the lock is still ours; nothing can be sent without Redis anyway.
            logger.warning("beat: Redis is not answering (%s); sending nothing", error)
        return False

    def _resume_from_last_runs(self) -> None:
        stored = self.redis.hgetall(LAST_RUN_NAME)
        for name, entry in self.schedule.items():
            value = stored.get(name.encode())
            if value is None:
                continue
            last_run_at = datetime.fromisoformat(value.decode())
            if entry.last_run_at is None or last_run_at > entry.last_run_at:
                entry.last_run_at = last_run_at
        self._heap = None  # the next tick orders the jobs by the times just read
