"""Scope guard overhead: ``inboxes.messages.get`` through the organization's client, a pod key's view and an
inbox key's view of the same engine, and the cost of making a view (``with_api_key``, one key lookup).

One engine (SQLite in a temporary folder, or ``--database-url``), one pod with an inbox holding one received
message. Each row runs ``--calls`` gets one after another (after a warm-up), in rounds that alternate the
clients so drift hits them alike, and prints the median and best time per call with their ratios to the
organization's client, then the guard's own cost (``Access.within``) per call. A scoped get is the same
single query with one more condition (the key's pod), so the ratios should stay close to 1; on a busy
machine the rounds' spread is larger than the difference.

    .venv/bin/python bench/scope_overhead.py [--calls N] [--rounds R] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

from agentinbox import AsyncAgentInbox
from agentinbox.store.scopes import Scope


def _message(to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "carol@client.example"
    msg["To"] = to
    msg["Subject"] = "Overhead probe"
    msg.set_content("A short probe body.\n" * 5)
    return bytes(msg)


async def _timed(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Seconds per call over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - start) / calls


async def main(database_url: str, calls: int, rounds: int) -> None:
    async with AsyncAgentInbox(database_url=database_url, default_domain="agents.test") as org:
        pod = await org.pods.create(name="bench")
        inbox = await org.pods.inboxes.create(pod_id=pod.pod_id, username="probe")
        [message] = await org.deliver(_message(inbox.inbox_id))
        pod_key = (await org.pods.api_keys.create(pod_id=pod.pod_id)).api_key
        inbox_key = (await org.inboxes.api_keys.create(inbox_id=inbox.inbox_id)).api_key
        clients = {
            "organization (no key)": org,
            "pod key view": await org.with_api_key(pod_key),
            "inbox key view": await org.with_api_key(inbox_key),
        }

        def getter(client: AsyncAgentInbox) -> Callable[[], Awaitable[object]]:
            return lambda: client.inboxes.messages.get(inbox_id=inbox.inbox_id, message_id=message.message_id)

        async def make_view() -> object:
            return await org.with_api_key(pod_key)

        rows: dict[str, list[float]] = {name: [] for name in [*clients, "with_api_key (make a view)"]}
        for client in clients.values():
            await _timed(getter(client), max(1, calls // 10))  # warm-up: caches, prepared statements
        for _ in range(rounds):
            for name, client in clients.items():
                rows[name].append(await _timed(getter(client), calls))
            rows["with_api_key (make a view)"].append(await _timed(make_view, calls))

        guard = clients["pod key view"]._access
        requested = Scope(inbox_id=inbox.inbox_id)
        guard_cost = min(timeit.repeat(lambda: guard.within(requested), number=100_000, repeat=5)) / 100_000

    base = rows["organization (no key)"]
    print(f"inboxes.messages.get, {calls} calls x {rounds} rounds, {database_url.split(':')[0]}")
    print(
        f"{'client':<30} {'median us/call':>15} {'best us/call':>13} {'ratio (median)':>15} {'ratio (best)':>13}"
    )
    for name, samples in rows.items():
        median, best = statistics.median(samples), min(samples)
        ratios = f"{median / statistics.median(base):>15.3f} {best / min(base):>13.3f}"
        print(f"{name:<30} {median * 1e6:>15.1f} {best * 1e6:>13.1f} {ratios}")
    print(f"the guard alone (Access.within for a pod key): {guard_cost * 1e9:.0f} ns per call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(main(url, args.calls, args.rounds))
