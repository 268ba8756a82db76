"""Webhooks: what the fan-out costs ingest, and how soon a webhook call follows the SMTP ``250``.

1. Fan-out cost: the R-devel mbox (first ``--messages``) through ``deliver()`` on SQLite (and PostgreSQL when
   AGENTINBOX_TEST_DATABASE_URL is set), with 0 webhooks and with ``--webhooks`` (3) webhooks matching every
   message; the engine is not started, so this is the cost of queuing deliveries in the event's transaction
   (one query for the enabled webhooks per event, one insert per matching webhook), not of calling them.
   Runs alternate and the best of ``--rounds`` is kept.
2. Latency: an engine with an SMTP receiver and one webhook to an HTTP receiver on loopback; probes sent
   1.1 s apart over one SMTP connection; the time from the ``250`` to DATA to the receiver having read the
   POST. Prints p50/p99/max in ms (target p50 <= 25 ms).

    .venv/bin/python bench/webhook_fanout.py [--messages N] [--webhooks K] [--probes N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import statistics
import tempfile
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from _corpus import mbox_messages, require_corpora
from ingest import drop_pg, pg_url

from agentinbox import AgentInbox, AsyncAgentInbox

DOMAIN = "agents.test"


async def ingest(url: str, raws: list[bytes], webhooks: int) -> float:
    async with AsyncAgentInbox(database_url=url, default_domain=DOMAIN, webhook_allow_private=True) as client:
        inbox = await client.inboxes.create(username="r-devel")
        for n in range(webhooks):
            await client.webhooks.create(url=f"http://127.0.0.1:9/{n}", event_types=["message.received"])
        start = time.perf_counter()
        for raw in raws:
            await client.deliver(raw, rcpt_to=[inbox.inbox_id])
        return len(raws) / (time.perf_counter() - start)


def fanout_rows(raws: list[bytes], webhooks: int, rounds: int) -> list[tuple[str, float, float]]:
    targets: list[tuple[str, str]] = []
    folder = tempfile.mkdtemp()
    targets.append(("SQLite", "sqlite"))
    base = os.environ.get("AGENTINBOX_TEST_DATABASE_URL")
    if base:
        targets.append(("PostgreSQL", base))
    rows = []
    for name, kind in targets:
        best = {0: 0.0, webhooks: 0.0}
        if kind == "sqlite":  # warm up (imports, caches) before anything counts
            asyncio.run(ingest(f"sqlite+aiosqlite:///{Path(folder) / 'warm.db'}", raws[:100], webhooks))
        for round_ in range(rounds):
            for count in (0, webhooks):
                if kind == "sqlite":
                    url, dbname = f"sqlite+aiosqlite:///{Path(folder) / f'{round_}-{count}.db'}", ""
                else:
                    url, dbname = asyncio.run(pg_url(kind))
                try:
                    best[count] = max(best[count], asyncio.run(ingest(url, raws, count)))
                finally:
                    if dbname:
                        asyncio.run(drop_pg(kind, dbname))
        rows.append((name, best[0], best[webhooks]))
    return rows


class _Receiver(BaseHTTPRequestHandler):
    arrived: ClassVar[list[float]] = []
    event = threading.Event()

    def do_POST(self) -> None:  # http.server's naming
        self.rfile.read(int(self.headers.get("content-length", "0")))
        _Receiver.arrived.append(time.perf_counter())
        self.send_response(204)
        self.end_headers()
        _Receiver.event.set()

    def log_message(self, *args: object) -> None:
        pass


def latency(probes: int) -> list[float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp())
    client = AgentInbox(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        default_domain=DOMAIN,
        smtp_listen="127.0.0.1:0",
        webhook_allow_private=True,
    )
    try:
        client.inboxes.create(username="probe")
        client.webhooks.create(
            url=f"http://127.0.0.1:{server.server_address[1]}/hook", event_types=["message.received"]
        )
        client.start()
        assert client.smtp_address is not None
        host, port = client.smtp_address
        results = []
        with smtplib.SMTP(host, port) as smtp:
            for n in range(probes + 1):
                msg = EmailMessage()
                msg["From"] = "probe@client.example"
                msg["To"] = f"probe@{DOMAIN}"
                msg["Subject"] = f"probe {n}"
                msg.set_content("A short probe body.\n" * 5)
                _Receiver.event.clear()
                smtp.sendmail("probe@client.example", [f"probe@{DOMAIN}"], bytes(msg))
                accepted = time.perf_counter()
                if not _Receiver.event.wait(10):
                    raise RuntimeError("no webhook call within 10 s")
                if n:  # the first warms up connections
                    results.append((_Receiver.arrived[-1] - accepted) * 1000)
                time.sleep(1.1)
        return results
    finally:
        client.close()
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="mbox messages per ingest run")
    parser.add_argument("--webhooks", type=int, default=3, help="webhooks matching every message")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each kind; the best counts")
    parser.add_argument("--probes", type=int, default=20, help="latency probes (1.1 s apart); 0 skips")
    args = parser.parse_args()
    require_corpora()
    raws = mbox_messages()[: args.messages]
    print(f"ingest: {len(raws)} mbox messages through deliver(), best of {args.rounds}")
    print(f"{'database':<12} {'0 webhooks':>12} {f'{args.webhooks} webhooks':>12} {'ratio':>7}")
    for name, without, with_hooks in fanout_rows(raws, args.webhooks, args.rounds):
        print(f"{name:<12} {without:>10.0f}/s {with_hooks:>10.0f}/s {with_hooks / without:>7.3f}")
    if args.probes:
        times = sorted(latency(args.probes))
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"\nSMTP 250 -> webhook POST read (SQLite, idle, {len(times)} probes): "
            f"p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms"
        )


if __name__ == "__main__":
    main()
