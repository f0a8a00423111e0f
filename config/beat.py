"""Celery beat that sends the periodic jobs only while it holds a lock in Redis.

A second beat started by mistake (a second machine, a deploy that overlapped the old one) waits as
a standby instead of doubling every job, and takes over within `BEAT_LOCK_SECONDS` (the lock's
lifetime, 60 s in production) when the first one stops. The lock is a Redis key holding the
leader's token with a TTL that the leader renews on every tick (redis-py's `Lock`: SET NX PX,
renewed and released by token in Lua), so a leader that is killed outright frees it when the TTL
runs out. The TTL is two thirds of the lifetime and every beat ticks six times per lifetime, so
the key's lapse after a kill plus the standby's next ask (5/6 of the lifetime) leaves a tick's
slack within it. Redis is already the broker: when it is down, no beat can send anything anyway,
so the lock adds no new way to fail.

Whoever starts leading, and a leader that reaches Redis again after losing it, sends the jobs
that repair a fault (`BEAT_REPAIR_JOBS`: the sweeps of reset requests, recovery submissions and
the outbox, idle-session expiry, audit shipping) at once: what could not be queued while Redis
was away, or was held by a worker killed with the old leader, is picked up then instead of at
the jobs' next interval.

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


class SingleBeatScheduler(PersistentScheduler):
    """The persistent scheduler of `celery beat`, sending only while it leads."""

    def __init__(self, *args, **kwargs) -> None:
        self.lifetime = settings.BEAT_LOCK_SECONDS
        super().__init__(*args, **kwargs)
        # The leader renews, and a standby asks, six times per lifetime; the key lives four.
        self.max_interval = min(self.max_interval, self.lifetime / 6)
        self.redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        self.lock = self.redis.lock(
            LOCK_NAME, timeout=self.lifetime * 2 / 3, blocking=False, thread_local=False
        )
        self.leading = False
        self.repair_due = False

    def tick(self, *args, **kwargs) -> float:
        if not self._lead():
            return self.max_interval
        if self.repair_due:
            self.repair_due = False
            self._repair()
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
                self.repair_due = True
                return True
        except LockError:
            # The TTL ran out (the process was paused, or Redis was away that long) and another
            # beat may lead now: stand by rather than send alongside it.
            self.leading = False
            logger.warning("beat: lost the beat lock; standing by")
        except redis.RedisError as error:
            # Not known whether the lock is still ours; nothing can be sent without Redis anyway.
            # Whoever leads once it answers repairs what could not be queued meanwhile.
            logger.warning("beat: Redis is not answering (%s); sending nothing", error)
            self.repair_due = True
        return False

    def _repair(self) -> None:
        """Send the jobs that repair a fault now, each then due again a full interval later."""
        for name in settings.BEAT_REPAIR_JOBS:
            entry = self.schedule.get(name)
            if entry is None:
                continue
            self.reserve(entry)
            self.apply_entry(entry, producer=self.producer)
        self._heap = None  # reordered by the new last runs at the next tick

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
