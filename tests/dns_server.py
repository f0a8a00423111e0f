"""A DNS server on the loopback interface, for the domain verification tests.

It answers UDP queries from the TXT records the test puts in `txt` (name → values, each value
one record), with NXDOMAIN for any other name and SERVFAIL for the names in `failing` (a
broken DNS host). Messages are read and made with dnspython, the library the site asks with;
the site reaches it through `DNS_RESOLVER` ("127.0.0.1:<port>"), as it would a real resolver.
"""

import socketserver
import threading

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        server: DnsServer = self.server.dns
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        with server.lock:
            server.queries.append(name)
            values = server.txt.get(name)
            failing = name in server.failing
        if failing:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif values is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT and values:
            self._answer(response, question, values)
        sock.sendto(response.to_wire(), self.client_address)

    @staticmethod
    def _answer(response: dns.message.Message, question: dns.rrset.RRset, values: list) -> None:
        # Each value its own record; a TXT string holds at most 255 bytes, so longer values are
        # split as a DNS host would.
        records = [
            " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
            for value in values
        ]
        response.answer.append(
            dns.rrset.from_text_list(
                question.name, 300, dns.rdataclass.IN, dns.rdatatype.TXT, records
            )
        )


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class DnsServer:
    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.failing: set[str] = set()
        self.queries: list[str] = []
        self.lock = threading.Lock()
        self.server = _UdpServer(("127.0.0.1", 0), _Handler)
        self.server.dns = self
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> "DnsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def publish(self, name: str, *values: str) -> None:
        """TXT records at `name`: no values is a name that exists with no TXT record."""
        with self.lock:
            self.txt[name.lower()] = list(values)

    def unpublish(self, name: str) -> None:
        with self.lock:
            self.txt.pop(name.lower(), None)
