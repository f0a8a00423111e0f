"""The Redis cache backend (config/cache.py) keeps one Redis client per connection pool and stays
right when threads share it, as gthread workers and Celery's thread pool do."""

import threading

import pytest
import redis

from config.cache import RedisCache


@pytest.fixture
def cache(redis_url):
    backend = RedisCache(redis_url, {"KEY_PREFIX": "cache-test"})
    yield backend
    backend.clear()


def test_many_calls_build_one_client(cache, monkeypatch):
    built = []
    original = redis.Redis.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counted)

    for number in range(50):
        cache.set(f"key-{number}", number)
        assert cache.get(f"key-{number}") == number
    cache.delete_many([f"key-{number}" for number in range(50)])

    assert len(built) == 1
    assert cache.get("key-7") is None


def test_threads_sharing_the_client_each_read_their_own_values(cache):
    errors: list[str] = []

    def work(thread: int) -> None:
        for number in range(200):
            key = f"thread-{thread}-{number}"
            cache.set(key, (thread, number))
            if cache.get(key) != (thread, number):
                errors.append(key)

    threads = [threading.Thread(target=work, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert cache.get_many([f"thread-3-{number}" for number in range(3)]) == {
        f"thread-3-{number}": (3, number) for number in range(3)
    }
