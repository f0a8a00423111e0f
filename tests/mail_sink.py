"""An SMTP relay on the loopback interface that keeps what it accepts, for tests whose mail is
sent by other processes (Celery workers).

It speaks just enough SMTP for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), on as
many ports as asked, so each sender can be given its own port and the test knows which process
is sending. A message counts as accepted when the relay answers 250 to its DATA, as a real relay
takes responsibility for it then. `hold(stage)` stops the next conversation that reaches
`"data"` (the message received, the 250 not yet given) or `"quit"` (accepted, the goodbye not yet
given) until the test releases it or the sender goes away; a message held at "data" whose
sender goes away is dropped, as a real relay drops a message it never acknowledged.
"""

import email
import select
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field

HOLD_SECONDS = 60


@dataclass
class Accepted:
    port: int
    message_id: str
    subject: str
    at: float = field(default_factory=time.monotonic)  # when the 250 was given


@dataclass
class Hold:
    stage: str
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    port: int | None = None
    sender_left: bool = False


class MailSink:
    def __init__(self) -> None:
        self.accepted: list[Accepted] = []
        self._lock = threading.Lock()
        self._hold: Hold | None = None
        self._servers: list[socketserver.ThreadingTCPServer] = []

    def start(self, ports: int) -> list[int]:
        """Listen on `ports` free loopback ports; return them."""
        sink = self

        class Conversation(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                sink._converse(self)

        for _ in range(ports):
            server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Conversation)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        return [server.server_address[1] for server in self._servers]

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        if self._hold is not None:
            self._hold.release.set()

    def hold(self, stage: str) -> Hold:
        assert stage in {"data", "quit"}
        with self._lock:
            self._hold = Hold(stage=stage)
            return self._hold

    def _held_here(self, stage: str, port: int) -> Hold | None:
        with self._lock:
            hold = self._hold
            if hold is None or hold.stage != stage or hold.reached.is_set():
                return None
            hold.port = port
            hold.reached.set()
            return hold

    def _converse(self, handler: socketserver.StreamRequestHandler) -> None:
        port = handler.server.server_address[1]

        def reply(line: str) -> None:
            handler.wfile.write(line.encode() + b"\r\n")

        reply("220 mail sink ready")
        while line := handler.rfile.readline():
            command = line[:4].upper()
            if command in {b"EHLO", b"HELO"}:
                reply("250 mail sink")
            elif command in {b"MAIL", b"RCPT", b"RSET", b"NOOP"}:
                reply("250 OK")
            elif command == b"DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data_line := handler.rfile.readline()) not in {b".\r\n", b""}:
                    lines.append(data_line[1:] if data_line.startswith(b"..") else data_line)
                hold = self._held_here("data", port)
                if hold is not None and not self._wait(hold, handler.connection):
                    return  # the sender went away before the 250: the message is not accepted
                message = email.message_from_bytes(b"".join(lines))
                with self._lock:
                    self.accepted.append(
                        Accepted(
                            port=port,
                            message_id=message["Message-ID"],
                            subject=str(message["Subject"]),
                        )
                    )
                reply("250 OK: accepted")
            elif command == b"QUIT":
                hold = self._held_here("quit", port)
                if hold is not None and not self._wait(hold, handler.connection):
                    return
                reply("221 Bye")
                return
            else:
                reply("502 Command not implemented")

    @staticmethod
    def _wait(hold: Hold, connection: socket.socket) -> bool:
        """Wait for the release; False when the sender closed the connection first."""
        for _ in range(HOLD_SECONDS * 10):
            if hold.release.wait(0.1):
                return True
            readable, _, _ = select.select([connection], [], [], 0)
            if readable and not connection.recv(1, socket.MSG_PEEK):
                hold.sender_left = True
                return False
        return True
