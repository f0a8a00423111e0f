"""A redis-server of a test's own, on a free loopback port, that the test stops and starts again
(tests/config/test_cache_outage_log.py, tests/config/test_faults_together.py). The shared Redis
other tests use is never stopped."""

import socket
import subprocess
import time
from pathlib import Path

import redis


class OwnRedis:
    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Start it (with what the last `stop(keep=True)` saved) and wait until it answers."""
        self.process = subprocess.Popen(  # noqa: S603 - our own server, on loopback only
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=1)
        until = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < until, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self, *, keep: bool = False) -> None:
        """Stop it; with `keep`, its data (queues, unacknowledged tasks, the beat lock) is saved
        and loaded by the next start, as a restart of a Redis with persistence keeps it."""
        if self.process is None or self.process.poll() is not None:
            return
        if keep:
            client = redis.Redis.from_url(self.url(), socket_connect_timeout=2)
            client.shutdown(save=True)
            client.close()
        else:
            self.process.terminate()
        self.process.wait(timeout=20)
