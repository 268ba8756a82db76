"""What the inbound checks cost: authentication (SPF, DKIM, DMARC) plus the built-in spam and virus scanners.

Two measurements, both on the R-devel 2015 mbox (real list mail, 1,833 messages) and a loopback DNS server
(dnslib) that publishes SPF, DKIM and DMARC records for the senders' domains it is given and answers
NXDOMAIN for the rest:

  (a) cost per message: each check called on each message (a parsed message, as the pipeline hands it over,
      from a client address outside the trusted networks), p50 and p99 in ms per check and for all together
      (``run_checks``, authentication first, then spam and virus concurrently); a first pass (each new
      domain's records looked up) and a warm one. Two samples: the mbox as it is, and 300 of its texts sent
      DKIM-signed from a domain that publishes SPF, DKIM and DMARC (the full authentication path).
  (b) SMTP ingest: an engine in a process of its own (SQLite in a temporary folder, smtp_listen on
      loopback, the checks off or all on, alternating, fresh each round) receives the messages from this
      process over reused SMTP connections; the rate is messages stored per second from the first
      connection until every message is stored. The ratio is checks on / checks off.

    ./dev bench inbound_checks [--messages 1000] [--rounds 2] [--concurrency 8]   (--rounds 0: only (a))
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosmtplib
from _corpus import mbox_messages, require_corpora
from dnslib import QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

HERE = Path(__file__).resolve().parent
DOMAIN = "agents.test"
RECIPIENT = f"bench@{DOMAIN}"
#: A client address outside the default trusted networks (TEST-NET-2): authentication runs for it.
OUTSIDE_IP = "198.51.100.7"


# --- the loopback DNS server ---------------------------------------------------------------------------------


class Zone(BaseResolver):  # type: ignore[misc]
    """TXT and A records by name; every other name is NXDOMAIN."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        values = self.records.get((name, qtype))
        if values is None:
            if not any(known == name for known, _ in self.records):
                reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for value in values:
            rdata: Any = (
                A(value) if qtype == "A" else TXT([value[i : i + 255] for i in range(0, len(value), 255)])
            )
            reply.add_answer(RR(request.q.qname, QTYPE.reverse[qtype], rdata=rdata, ttl=3600))
        return reply


def serve_dns(records: dict[tuple[str, str], list[str]]) -> tuple[DNSServer, str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    server = DNSServer(Zone(records), port=port, address="127.0.0.1", logger=quiet)
    server.start_thread()
    return server, f"127.0.0.1:{port}"


SIGNED_DOMAIN = "signed.example"
SELECTOR = "bench"


def signed_messages(
    messages: Sequence[bytes], count: int
) -> tuple[list[bytes], dict[tuple[str, str], list[str]]]:
    """``count`` messages as a sender with everything in place would send them: From a domain with an SPF
    record through an include, a DMARC reject policy and a DKIM key, each message DKIM-signed (rsa-sha256,
    2048-bit key); and the DNS records that vouch for them."""
    from agentinbox.mail.parse import parse_message
    from agentinbox.security import dkim

    key = dkim.generate_key()
    signed = []
    for raw in messages[:count]:
        parsed = parse_message(raw)
        body = (parsed.text or "").replace("\r\n", "\n").replace("\n", "\r\n")
        subject = " ".join((parsed.subject or "").split()).encode("ascii", "replace").decode()
        message = (
            f"From: Sender <sender@{SIGNED_DOMAIN}>\r\nTo: {RECIPIENT}\r\nSubject: {subject}\r\n"
            f"Date: Sun, 01 Mar 2015 18:17:33 +0000\r\nMessage-ID: <{len(signed)}@{SIGNED_DOMAIN}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        ).encode() + body.encode("utf-8", "replace")
        signed.append(
            dkim.sign(message, domain=SIGNED_DOMAIN, selector=SELECTOR, private_key_pem=key.private_key_pem)
        )
    records = {
        (SIGNED_DOMAIN, "TXT"): [f"v=spf1 include:_spf.{SIGNED_DOMAIN} -all"],
        (f"_spf.{SIGNED_DOMAIN}", "TXT"): [f"v=spf1 ip4:{OUTSIDE_IP} -all"],
        (f"_dmarc.{SIGNED_DOMAIN}", "TXT"): ["v=DMARC1; p=reject"],
        (f"{SELECTOR}._domainkey.{SIGNED_DOMAIN}", "TXT"): [dkim.txt_record(key.public_key_pem)],
    }
    return signed, records


def sender_records(messages: Sequence[bytes]) -> dict[tuple[str, str], list[str]]:
    """SPF (allowing the bench's client address) and DMARC p=none for every From domain of ``messages``."""
    from agentinbox.mail.parse import parse_message

    records: dict[tuple[str, str], list[str]] = {}
    for raw in messages:
        sender = parse_message(raw).from_ or ""
        domain = sender.rpartition("@")[2].strip(">").lower()
        if domain and "." in domain:
            records[(domain, "TXT")] = [f"v=spf1 ip4:{OUTSIDE_IP} ip4:127.0.0.1 -all"]
            records[(f"_dmarc.{domain}", "TXT")] = ["v=DMARC1; p=none"]
    return records


# --- (a) cost per message --------------------------------------------------------------------------------------


async def cost_per_message(
    samples: dict[str, Sequence[bytes]], resolver: str
) -> list[tuple[str, str, str, float, float]]:
    from agentinbox.mail.parse import parse_message
    from agentinbox.pipeline.checks import build_checks, run_checks
    from agentinbox.security.inspection import Inspection
    from agentinbox.settings import Settings

    settings = Settings(default_domain=DOMAIN, dns_resolver=resolver, trusted_networks=[])

    async def own_domains() -> set[str]:
        return {DOMAIN}

    checks = build_checks(settings, own_domains)
    rows = []
    for sample, messages in samples.items():
        inspections = []
        for raw in messages:
            parsed = parse_message(raw)
            sender = parsed.from_ or ""
            envelope = sender.rpartition("<")[2].strip(">") if "<" in sender else sender
            inspections.append(
                Inspection(raw, parsed, mail_from=envelope or None, client_ip=OUTSIDE_IP, helo="mx.example")
            )
        for cache in ("first pass", "warm"):
            timings: dict[str, list[float]] = {check.name: [] for check in checks}
            timings["all checks"] = []
            for inspection in inspections:
                for check in checks:
                    started = time.perf_counter()
                    await check(inspection)
                    timings[check.name].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await run_checks(checks, inspection, seconds=30)
                timings["all checks"].append((time.perf_counter() - started) * 1000)
            for name, values in timings.items():
                values.sort()
                rows.append(
                    (sample, cache, name, statistics.median(values), values[int(len(values) * 0.99) - 1])
                )
    return rows


# --- (b) SMTP ingest, checks off and on -------------------------------------------------------------------------


async def serve(folder: Path, checks: str, resolver: str) -> None:
    """The engine under test: answers ``count`` on stdin with the number of stored messages."""
    sys.path.insert(0, str(HERE.parent))
    from agentinbox import AsyncAgentInbox

    if checks == "on":
        settings: dict[str, Any] = {"trusted_networks": [], "dns_resolver": resolver}
    else:
        settings = {"inbound_authentication": False, "spam_scanner": "none", "virus_scanner": "none"}
    async with AsyncAgentInbox(
        database_url=f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        default_domain=DOMAIN,
        smtp_listen="127.0.0.1:0",
        **settings,
    ) as client:
        await client.inboxes.create(username="bench")
        await client.start()
        assert client.smtp_address is not None
        print(json.dumps({"port": client.smtp_address[1]}), flush=True)
        ctx = await client._context()
        loop = asyncio.get_running_loop()
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() not in ("", "quit"):
            from sqlalchemy import func, select

            from agentinbox.store.tables import messages

            stored = await ctx.db.read(
                lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
            )
            print(json.dumps({"stored": stored}), flush=True)


class Engine:
    def __init__(self, checks: str, resolver: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="agentinbox-bench-"))
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", checks, "--dir", str(self.folder), "--resolver", resolver],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self._line()["port"])

    def _line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the engine under test exited")
        return dict(json.loads(line))

    def stored(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self._line()["stored"])

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def envelope_sender(raw: bytes) -> str:
    """The From address of ``raw``, used as its envelope sender (so SPF asks about the sender's domain)."""
    from agentinbox.mail.parse import parse_message

    sender = parse_message(raw).from_ or ""
    return sender.rpartition("<")[2].strip(">") if "<" in sender else sender


async def send_all(port: int, messages: Sequence[tuple[str, bytes]], concurrency: int) -> None:
    queue = list(messages)

    async def session() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await smtp.connect()
        try:
            while queue:
                sender, raw = queue.pop()
                await smtp.sendmail(sender, [RECIPIENT], raw)
        finally:
            smtp.close()

    await asyncio.gather(*(session() for _ in range(concurrency)))


def ingest_round(
    checks: str, resolver: str, messages: Sequence[tuple[str, bytes]], concurrency: int
) -> float:
    engine = Engine(checks, resolver)
    try:
        started = time.perf_counter()
        asyncio.run(send_all(engine.port, messages, concurrency))
        while engine.stored() < len(messages):
            time.sleep(0.02)
        return len(messages) / (time.perf_counter() - started)
    finally:
        engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--resolver", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.dir), args.serve, args.resolver))
        return

    require_corpora()
    sys.path.insert(0, str(HERE.parent))
    messages = mbox_messages()[: args.messages]
    signed, signed_records = signed_messages(messages, min(len(messages), 300))
    dns, resolver = serve_dns({**sender_records(messages), **signed_records})
    try:
        print(f"(a) cost per message, client {OUTSIDE_IP}, loopback DNS: the mbox as it is ({len(messages)},")
        print(
            f"    mostly unsigned list mail) and {len(signed)} of its texts DKIM-signed by a domain with SPF"
        )
        print("    (through an include), DKIM and a DMARC reject policy published\n")
        print(f"{'sample':<8} {'DNS cache':<11} {'check':<16} {'p50 ms':>8} {'p99 ms':>8}")
        samples = {"mbox": messages, "signed": signed}
        for sample, cache, name, p50, p99 in asyncio.run(cost_per_message(samples, resolver)):
            print(f"{sample:<8} {cache:<11} {name:<16} {p50:>8.3f} {p99:>8.3f}")

        if args.rounds < 1:
            return
        print(f"\n(b) SMTP ingest of {len(messages)} messages, {args.concurrency} connections, SQLite\n")
        envelopes = [(envelope_sender(raw) or "sender@lists.example", raw) for raw in messages]
        rates: dict[str, list[float]] = {"off": [], "on": []}
        for round_ in range(args.rounds):
            for checks in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                rate = ingest_round(checks, resolver, envelopes, args.concurrency)
                rates[checks].append(rate)
                print(f"round {round_ + 1}  checks {checks:<3}  {rate:8.1f} msgs/s", flush=True)
        off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
        print(f"\n{'checks':<8} {'msgs/s (median)':>16}")
        print(f"{'off':<8} {off:>16.1f}")
        print(f"{'on':<8} {on:>16.1f}")
        print(f"ratio on/off: {on / off:.2f}")
    finally:
        dns.stop()


if __name__ == "__main__":
    main()
