"""A DNS server on loopback (dnslib) answering from a zone the test controls; never the internet.

``zone`` maps (name, type) to a list of record values: ``("example.test", "MX")`` to ``[(10, "mx.example.test")]``,
``("mx.example.test", "A")`` to ``["127.0.0.1"]``, ``("sel._domainkey.example.test", "TXT")`` to
``["v=DKIM1; k=rsa; p=..."]``. Unknown names get NXDOMAIN; a known name without the asked type gets an
empty answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.zone: dict[tuple[str, str], list[Any]] = {}
        self.queries: list[tuple[str, str]] = []

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.queries.append((name, qtype))
        if not any(known == name for known, _ in self.zone):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for value in self.zone.get((name, qtype), []):
            if qtype == "A":
                rdata: Any = A(value)
            elif qtype == "AAAA":
                rdata = AAAA(value)
            elif qtype == "MX":
                rdata = MX(value[1], value[0])
            elif qtype == "TXT":
                # Long TXT values are split into 255-byte strings, as real zones publish DKIM keys.
                data = value.encode()
                rdata = TXT([data[i : i + 255] for i in range(0, len(data), 255)])
            else:
                continue
            reply.add_answer(RR(request.q.qname, QTYPE.reverse[qtype], rdata=rdata, ttl=60))
        return reply


class LoopbackDNS:
    """A UDP and TCP DNS server on 127.0.0.1 on a free port; ``address`` is ``"127.0.0.1:PORT"``."""

    def __init__(self) -> None:
        self.resolver = ZoneResolver()
        self._udp = DNSServer(self.resolver, address="127.0.0.1", port=0)
        port = self._udp.server.server_address[1]
        self._tcp = DNSServer(self.resolver, address="127.0.0.1", port=port, tcp=True)
        self.port = port
        self.address = f"127.0.0.1:{port}"

    @property
    def zone(self) -> dict[tuple[str, str], list[Any]]:
        return self.resolver.zone

    def start(self) -> None:
        self._udp.start_thread()
        self._tcp.start_thread()

    def stop(self) -> None:
        self._udp.stop()
        self._tcp.stop()


def serve() -> Iterator[LoopbackDNS]:
    """Generator body for a pytest fixture."""
    server = LoopbackDNS()
    server.start()
    try:
        yield server
    finally:
        server.stop()
