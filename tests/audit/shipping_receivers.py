"""A syslog receiver and a webhook receiver on the loopback interface, for the shipping tests.

Each can be stopped and started again on the same port, as a receiver that goes down for a
while and comes back.
"""

import json
import re
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

FRAME = re.compile(rb"(\d+) ")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def octet_counted_messages(stream: bytes) -> list[bytes]:
    """Split an RFC 6587 octet-counted stream into its messages; fail on a broken frame."""
    messages, position = [], 0
    while position < len(stream):
        match = FRAME.match(stream, position)
        assert match, f"not an octet-counted frame at byte {position}"
        length = int(match.group(1))
        start = match.end()
        messages.append(stream[start : start + length])
        assert len(messages[-1]) == length, "a frame shorter than its count"
        position = start + length
    return messages


class Receiver:
    """Start and stop a server on one fixed port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = None

    def make_server(self):
        raise NotImplementedError("each receiver makes its own server")

    def start(self) -> None:
        self.server = self.make_server()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class SyslogReceiver(Receiver):
    """RFC 5424 over TCP with octet counting: every message received, in arrival order."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[bytes] = []

    def make_server(self):
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                receiver.messages.extend(octet_counted_messages(self.rfile.read()))

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        return socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 5) -> None:
        """Until `count` messages arrived: the handler reads on its own thread after the
        sender has closed the connection."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def documents(self) -> list[dict]:
        """The events received, from each message's JSON (after the UTF-8 BOM)."""
        return [json.loads(message.split(b"\xef\xbb\xbf", 1)[1]) for message in self.messages]


class WebhookReceiver(Receiver):
    """Takes a POST only when its Standard Webhooks signature verifies with `secret`."""

    def __init__(self) -> None:
        super().__init__()
        self.secret = ""
        self.received: list[dict] = []
        self.refused = 0

    def make_server(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                except Exception:  # noqa: BLE001 - any verification failure is a refusal
                    receiver.refused += 1
                    self.send_response(400)
                else:
                    receiver.received.append({"id": self.headers["webhook-id"], **payload["data"]})
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                return

        return ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/audit-events"
