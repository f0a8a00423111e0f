"""A Pwned Passwords range API on the loopback interface, for the breached-password tests.

It answers `GET <base>/<PREFIX>` the way api.pwnedpasswords.com does: `SUFFIX:COUNT` lines
separated by CRLF, with padding entries of count 0 when asked with `Add-Padding: true`. It
records every request's path and headers, and can be told to answer slowly, with a server
error, or with a malformed body.
"""

import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE_PATH = "/range/"
PADDING_ENTRIES = 20


def sha1_of(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class RangeServer:
    """`breached(password, count)` lists a password; `pad(password)` lists it with count 0, as a
    padding entry. `mode` is "ok", "slow", "error" or "malformed"."""

    counts: dict[str, int] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    mode: str = "ok"
    slow_seconds: float = 5.0
    malformed_body: bytes = b"<html>not a range answer</html>"
    release: threading.Event = field(default_factory=threading.Event)

    def breached(self, password: str, count: int = 42) -> None:
        self.counts[sha1_of(password)] = count

    def pad(self, password: str) -> None:
        self.counts[sha1_of(password)] = 0

    def answer(self, prefix: str, padded: bool) -> bytes:
        entries = [
            (sha1[5:], count)
            for sha1, count in self.counts.items()
            if sha1.startswith(prefix) and (count or padded)
        ]
        if padded:
            entries += [(secrets.token_hex(18)[:35].upper(), 0) for _ in range(PADDING_ENTRIES)]
        entries += [(secrets.token_hex(18)[:35].upper(), 7)]  # another breached password
        return "\r\n".join(f"{suffix}:{count}" for suffix, count in entries).encode()

    def start(self) -> str:
        """Serve in a thread on 127.0.0.1; returns the base address for BREACHED_PASSWORDS_URL."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, dict(self.headers.items())))
                if server.mode == "slow":
                    server.release.wait(server.slow_seconds)
                if server.mode == "error":
                    self.send_error(503)
                    return
                prefix = self.path.removeprefix(BASE_PATH)
                if server.mode == "malformed":
                    body = server.malformed_body
                else:
                    body = server.answer(prefix, self.headers.get("Add-Padding") == "true")
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting (the time-out tests)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{BASE_PATH}"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def prefixes_asked(self) -> list[str]:
        return [seen.path.removeprefix(BASE_PATH) for seen in self.seen]
