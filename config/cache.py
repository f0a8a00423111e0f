"""The Redis cache backend, with one Redis client per connection pool, that logs an outage once."""

import logging
import threading
import time
from functools import wraps

from django.core.cache.backends import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)


class Outage:
    """Whether this process last found one Redis down: the first failed call logs a WARNING, the
    first call that answers after it an INFO, and the calls in between nothing.

    Every caller falls back on its own (sessions to the database, refusal counts per process),
    and a WARNING per failed call would be a line per request while Redis is away. Shared by
    every thread's client for the same server, so a process logs each outage once.
    """

    def __init__(self) -> None:
        self.since: float | None = None
        self._lock = threading.Lock()

    def failed(self, error: Exception) -> None:
        if self.since is not None:
            return
        with self._lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        logger.warning(
            "Cache (Redis) not answering (%s): sessions are read from the database and refusals "
            "counted per process until it answers, which is logged",
            type(error).__name__,
        )

    def answered(self) -> None:
        if self.since is None:
            return
        with self._lock:
            if self.since is None:
                return
            seconds, self.since = time.monotonic() - self.since, None
        logger.info("Cache (Redis) answering again after %.0f s", seconds)


_outages: dict[str, Outage] = {}
_outages_lock = threading.Lock()


def _outage_for(servers: list[str]) -> Outage:
    key = " ".join(servers)
    with _outages_lock:
        return _outages.setdefault(key, Outage())


def _watched(method):
    @wraps(method)
    def call(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as error:
            self._outage.failed(error)
            raise
        self._outage.answered()
        return result

    return call


class SharedClientRedisCacheClient(redis.RedisCacheClient):
    """Django's client builds a new `redis.Redis` for every cache call, and building one fills
    its table of about 170 reply handlers: some 0.1 ms of Python per call, several calls per
    sign-in. A `redis.Redis` is only a handle on its connection pool, safe to share between
    threads (the pool hands each command its own connection), so one per pool is kept.

    Every command's failure or answer is also noted in the server's `Outage`, so the outage is
    logged once; the error still reaches the caller."""

    def __init__(self, servers, **options) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, object] = {}
        self._outage = _outage_for(servers)

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    add = _watched(redis.RedisCacheClient.add)
    get = _watched(redis.RedisCacheClient.get)
    set = _watched(redis.RedisCacheClient.set)
    touch = _watched(redis.RedisCacheClient.touch)
    delete = _watched(redis.RedisCacheClient.delete)
    get_many = _watched(redis.RedisCacheClient.get_many)
    has_key = _watched(redis.RedisCacheClient.has_key)
    incr = _watched(redis.RedisCacheClient.incr)
    set_many = _watched(redis.RedisCacheClient.set_many)
    delete_many = _watched(redis.RedisCacheClient.delete_many)
    clear = _watched(redis.RedisCacheClient.clear)


class RedisCache(redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
