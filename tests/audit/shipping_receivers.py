"""A syslog receiver and a webhook receiver on the loopback interface, for the shipping tests.

Each can be stopped and started again on the same port, as a receiver that goes down for a
while and comes back.
"""

import json
import re
import socket
import socketserver
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
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
    """RFC 5424 over TCP (or TLS, given a server context) with octet counting: every message
    received, in arrival order."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.tls = tls
        self.messages: list[bytes] = []

    def make_server(self):
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                receiver.messages.extend(octet_counted_messages(self.rfile.read()))

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        return server

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://localhost:{self.port}"

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
    """Takes a POST only when its Standard Webhooks signature verifies with `secret`; with
    `answer` set (503, say), answers that to every POST instead, as a receiver that is down."""

    def __init__(self) -> None:
        super().__init__()
        self.secret = ""
        self.received: list[dict] = []
        self.refused = 0
        self.answer: int | None = None

    def make_server(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.answer is not None:
                    self.send_response(receiver.answer)
                    self.end_headers()
                    return
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


def self_signed_localhost(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for `localhost`, and the certificate's file (the CA
    a client trusts to check it). Valid for years either side of now: the tests' clock is
    fake, OpenSSL's is not."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file = folder / "syslog.crt"
    key_file = folder / "syslog.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    return context, certificate_file


class SilentReceiver:
    """A port that takes connections (the kernel's backlog) and never answers: a receiver that
    hangs, for the "timed out" case."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = self.socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/audit-events"

    def close(self) -> None:
        self.socket.close()
