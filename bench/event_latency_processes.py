"""Event latency across engine processes on PostgreSQL: an event committed in one process to a hook in another.

Engine A (this process) stores probe messages with ``deliver`` and notes the wall clock when the commit
returned; engine B (this script with ``--subscriber``, a process of its own on the same database) notes the
wall clock when its ``@client.on("message.received")`` hook starts. Probes are sent one at a time, 20-120 ms
apart (random, so a poll's phase is random too). Two rows: B woken by the PostgreSQL notification
(LISTEN/NOTIFY, the default), and B with its listener off, finding A's events by polling the log alone (every
0.1 s). A fresh database is created on the server and dropped afterwards.

    .venv/bin/python bench/event_latency_processes.py [--database-url postgresql+asyncpg://...] [--probes N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from email.message import EmailMessage

from sqlalchemy.engine import make_url

from agentinbox import AsyncAgentInbox
from agentinbox.models import MessageReceivedEvent
from agentinbox.store import notify

DOMAIN = "agents.test"
PROBE = f"probe@{DOMAIN}"


def _raw(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "client@example.com"
    msg["To"] = PROBE
    msg["Subject"] = subject
    msg.set_content("A short probe body.\n" * 5)
    return bytes(msg)


async def subscriber(url: str, listen: bool) -> None:
    """Engine B: print ``ready``, then ``<subject> <time>`` per received message, until stdin ends."""
    if not listen:

        def start(self: notify.Listener) -> None:
            pass

        async def wait_up(self: notify.Listener, seconds: float) -> bool:
            return False

        notify.Listener.start = start  # type: ignore[method-assign]
        notify.Listener.wait_up = wait_up  # type: ignore[method-assign]
    async with AsyncAgentInbox(database_url=url, default_domain=DOMAIN) as client:

        @client.on("message.received")
        async def hook(event: MessageReceivedEvent) -> None:
            print(f"{event.message.subject} {time.time():.6f}", flush=True)

        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def measure(url: str, probes: int, listen: bool) -> list[float]:
    """Start engine B, send ``probes`` messages through engine A; each one's commit-to-hook latency in ms."""
    args = [sys.executable, __file__, "--subscriber", url] + ([] if listen else ["--no-listen"])
    child = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None and child.stdin is not None
    latencies = []
    try:
        assert (await child.stdout.readline()).strip() == b"ready"
        async with AsyncAgentInbox(database_url=url, default_domain=DOMAIN) as client:
            for number in range(probes + 5):
                subject = f"probe-{uuid.uuid4().hex[:8]}"
                await client.deliver(_raw(subject), rcpt_to=[PROBE])
                committed = time.time()
                while True:
                    line = (await asyncio.wait_for(child.stdout.readline(), 10)).decode().split()
                    if line[0] == subject:
                        break
                if number >= 5:  # the first few warm up both processes
                    latencies.append((float(line[1]) - committed) * 1000)
                await asyncio.sleep(random.uniform(0.02, 0.12))
    finally:
        child.stdin.close()
        await child.wait()
    return latencies


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:<40} n={len(ordered):<5} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   max {ordered[-1]:7.2f} ms")


async def bench(server: str, probes: int) -> None:
    import asyncpg

    name = f"agentinbox_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        async with AsyncAgentInbox(database_url=url, default_domain=DOMAIN) as client:
            await client.inboxes.create(username="probe")
        report("cross-process, LISTEN/NOTIFY", await measure(url, probes, listen=True))
        report("cross-process, polling only (0.1 s)", await measure(url, probes, listen=False))
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--subscriber", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--no-listen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        asyncio.run(subscriber(args.subscriber, listen=not args.no_listen))
        return
    asyncio.run(bench(args.database_url, args.probes))


if __name__ == "__main__":
    main()
