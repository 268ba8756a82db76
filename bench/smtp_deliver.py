"""Outbound throughput: queued sends delivered over SMTP to Postfix's ``smtp-sink``.

Two measurements in one run, alternating, against the same smtp-sink:
  (a) agentinbox: N messages are sent through ``inboxes.messages.send`` (stored ``sent`` with a pending
      delivery each) while the delivery worker is stopped, then the worker starts and the clock runs until
      every delivery is ``delivered`` (labels and events written).
  (b) the floor: the same N raw messages handed to smtp-sink with aiosmtplib at the same concurrency, one
      SMTP transaction per message, with no database at all.
It prints messages/s for both, the ratio, and the time to queue the sends.

    ./dev bench smtp_deliver [--messages 2000] [--rounds 2] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import aiosmtplib
from sqlalchemy import func, select

from agentinbox import AsyncAgentInbox
from agentinbox.store.tables import deliveries

BODY = ("Your order has shipped and will arrive on Thursday. " * 80)[:5000]


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [binary, "-h", "sink.test"]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    process = subprocess.Popen([*args, f"127.0.0.1:{port}", "1000"])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.02)
    raise SystemExit("smtp-sink did not start")


async def agentinbox_round(port: int, messages: int, concurrency: int) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(prefix="agentinbox-bench-"))
    client = AsyncAgentInbox(
        database_url=f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        relay_url=f"smtp://127.0.0.1:{port}",
        delivery_concurrency=concurrency,
    )
    try:
        inbox = await client.inboxes.create(username="shipping")
        queue_start = time.perf_counter()
        semaphore = asyncio.Semaphore(concurrency)

        async def send(i: int) -> None:
            async with semaphore:
                await client.inboxes.messages.send(
                    inbox_id=inbox.inbox_id, to=[f"customer{i}@example.com"], subject=f"Order {i}", text=BODY
                )

        await asyncio.gather(*(send(i) for i in range(messages)))
        queued = time.perf_counter() - queue_start
        ctx = await client._context()

        def delivered(conn: object) -> int:
            query = select(func.count()).select_from(deliveries).where(deliveries.c.status == "delivered")
            return int(conn.execute(query).scalar_one())  # type: ignore[attr-defined]

        start = time.perf_counter()
        await client.start()
        while await ctx.db.read(delivered) < messages:  # noqa: ASYNC110 (polls the database)
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        return messages / elapsed, queued
    finally:
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)


async def floor_round(port: int, raws: list[bytes], concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int, raw: bytes) -> None:
        async with semaphore:
            await aiosmtplib.send(
                raw,
                sender="shipping@agentinbox.localhost",
                recipients=[f"customer{i}@example.com"],
                hostname="127.0.0.1",
                port=port,
                start_tls=False,
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(i, raw) for i, raw in enumerate(raws)))
    return len(raws) / (time.perf_counter() - start)


def sample_raws(messages: int) -> list[bytes]:
    from email.message import EmailMessage

    raws = []
    for i in range(messages):
        msg = EmailMessage()
        msg["From"] = "shipping@agentinbox.localhost"
        msg["To"] = f"customer{i}@example.com"
        msg["Subject"] = f"Order {i}"
        msg["Message-ID"] = f"<bench.{i}@agentinbox.localhost>"
        msg.set_content(BODY)
        raws.append(msg.as_bytes())
    return raws


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    sink, port = start_sink()
    raws = sample_raws(args.messages)
    results: dict[str, list[float]] = {"agentinbox": [], "aiosmtplib floor": []}
    queue_times = []
    try:
        for _ in range(args.rounds):
            rate, queued = await agentinbox_round(port, args.messages, args.concurrency)
            results["agentinbox"].append(rate)
            queue_times.append(queued)
            results["aiosmtplib floor"].append(await floor_round(port, raws, args.concurrency))
    finally:
        sink.terminate()
        sink.wait()
    best = {name: max(rates) for name, rates in results.items()}
    print(
        f"\n{args.messages} messages of ~5 kB to smtp-sink, concurrency {args.concurrency}, best of {args.rounds}"
    )
    print(f"{'sender':<20} {'msgs/s':>10} {'all rounds':>30}")
    for name, rates in results.items():
        print(f"{name:<20} {best[name]:>10.0f} {', '.join(f'{r:.0f}' for r in rates):>30}")
    print(f"ratio agentinbox / floor: {best['agentinbox'] / best['aiosmtplib floor']:.2f}")
    print(
        f"queueing the sends (store as sent + delivery rows): {args.messages / min(queue_times):.0f} sends/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
