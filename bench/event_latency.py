"""Event latency: from the SMTP client receiving ``250`` to an agent being woken, three ways: an in-process
``@client.on`` handler starting, a durable consumer's (``client.events.consume``) handler starting, and a
webhook's POST having been read by a local receiver.

One engine (SQLite in a temporary folder, SMTP receiver on loopback) with an async hook, an async consumer and
a webhook (to an HTTP server on loopback, ``webhook_allow_private``) on ``message.received`` for the probe
inbox. A probe thread sends one message at a time over SMTP (``smtplib``, a connection reused), notes
``time.perf_counter()`` when the ``250`` to DATA comes back, and waits for all three, each of which notes
the time it started. Measured idle and with a background load of ``--rate`` messages/s to another inbox,
sent by a separate process (paced, one connection). Prints p50, p99 and max in ms; targets: in-process
p50 <= 5 ms and p99 <= 25 ms, webhook p50 <= 25 ms.

Rows: idle (probes 1.1 s apart), probes 10 ms apart, and probes under the background load. The inbound
worker pauses ``_GATHER_SECONDS`` (0.2 s) to gather mail only while it processes 200+ messages/s; below
that every message is processed at once. ``--gather 0`` turns the pause off, for comparison.

    ./dev bench event_latency            # or: .venv/bin/python bench/event_latency.py [--probes N] [--rate R]
"""

from __future__ import annotations

import argparse
import json
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

from agentinbox import AgentInbox
from agentinbox.models import MessageReceivedEvent
from agentinbox.pipeline import inbound_worker

DOMAIN = "agents.test"


def _message(to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "probe@client.example"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("A short probe body.\n" * 5)
    return bytes(msg)


def load(host: str, port: int, rate: float, seconds: float) -> None:
    """Background load (run in a child process): ``rate`` messages/s to load@ for ``seconds``."""
    body = _message(f"load@{DOMAIN}", "load")
    interval = 1 / rate
    with smtplib.SMTP(host, port) as smtp:
        start = time.perf_counter()
        sent = 0
        while time.perf_counter() - start < seconds:
            smtp.sendmail("load@client.example", [f"load@{DOMAIN}"], body)
            sent += 1
            pause = start + sent * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    print(sent / (time.perf_counter() - start))


def measure(
    client: AgentInbox,
    host: str,
    port: int,
    probes: int,
    started: dict[str, dict[str, float]],
    gap: float = 0.01,
) -> dict[str, list[float]]:
    """Send ``probes`` messages one by one; per handler, the latency of each from its 250 to its start."""
    latencies: dict[str, list[float]] = {name: [] for name in started}
    with smtplib.SMTP(host, port) as smtp:
        for i in range(probes):
            subject = f"probe {time.perf_counter_ns()} {i}"
            smtp.sendmail("probe@client.example", [f"probe@{DOMAIN}"], _message(f"probe@{DOMAIN}", subject))
            acked = time.perf_counter()
            deadline = acked + 10
            for name, times in started.items():
                while subject not in times:
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"no {name} call for {subject!r} within 10 s")
                    time.sleep(0.0002)
                latencies[name].append((times.pop(subject) - acked) * 1000)
            time.sleep(gap)
    return latencies


def webhook_receiver(started: dict[str, float]) -> ThreadingHTTPServer:
    """An HTTP server on loopback that notes when it has read each webhook call, by the message's subject."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            read = time.perf_counter()
            self.send_response(204)
            self.end_headers()
            started[json.loads(body)["message"].get("subject", "")] = read

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    return server


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:<38} n={len(ordered):<5} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   max {ordered[-1]:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--idle-probes", type=int, default=30, help="probes sent 1.1 s apart")
    parser.add_argument("--rate", type=float, default=100.0, help="background messages/s")
    parser.add_argument(
        "--gather",
        type=float,
        default=None,
        help="override the inbound worker's gather pause under load (seconds), to see the bus alone",
    )
    parser.add_argument(
        "--load", nargs=4, metavar=("HOST", "PORT", "RATE", "SECONDS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.load:
        host, port, rate, seconds = args.load
        load(host, int(port), float(rate), float(seconds))
        return
    if args.gather is not None:
        inbound_worker._GATHER_SECONDS = args.gather
    folder = Path(tempfile.mkdtemp(prefix="agentinbox-bench-events-"))
    started: dict[str, dict[str, float]] = {"in-process hook": {}, "durable consumer": {}, "webhook": {}}
    receiver = webhook_receiver(started["webhook"])
    with AgentInbox(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        default_domain=DOMAIN,
        smtp_listen="127.0.0.1:0",
        webhook_allow_private=True,
    ) as client:
        probe = client.inboxes.create(username="probe")
        client.inboxes.create(username="load")
        client.webhooks.create(
            url=f"http://127.0.0.1:{receiver.server_address[1]}/hook",
            event_types=["message.received"],
            inbox_ids=[probe.inbox_id],
        )

        @client.on("message.received", inbox_ids=[probe.inbox_id])
        async def handler(event: MessageReceivedEvent) -> None:
            started["in-process hook"][event.message.subject or ""] = time.perf_counter()

        @client.events.consume(group="bench", event_types="message.received", inbox_ids=[probe.inbox_id])
        async def consumer(event: MessageReceivedEvent) -> None:
            started["durable consumer"][event.message.subject or ""] = time.perf_counter()

        client.start()
        assert client.smtp_address is not None
        host, port = client.smtp_address
        measure(client, host, port, 20, started)  # warm up
        time.sleep(1.1)
        # Idle: probes 1.1 s apart, so the inbound worker sees no recent load (it gathers for 0.2 s under load).
        for name, latencies in measure(client, host, port, args.idle_probes, started, gap=1.1).items():
            report(f"{name}, idle", latencies)
        for name, latencies in measure(client, host, port, args.probes, started).items():
            report(f"{name}, probes 10 ms apart", latencies)
        seconds = args.probes * 0.025 + 5
        loader = subprocess.Popen(
            [sys.executable, __file__, "--load", host, str(port), str(args.rate), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)
        under_load = measure(client, host, port, args.probes, started)
        out, _ = loader.communicate()
        for name, latencies in under_load.items():
            report(f"{name}, {float(out or 0):.0f} msg/s load", latencies)
    receiver.shutdown()


if __name__ == "__main__":
    main()
