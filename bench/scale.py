"""Latency at size: grow one inbox to N messages (default 100,000), then time list, thread list and search.

The store is grown through the real inbound store path (threading, labels, search index) in large
transactions, from the R-devel mbox replicated with distinct Message-IDs (subject-only threading off, so
each copy forms its own threads); reply extraction is skipped while growing, since it does not affect the
reads measured here. On PostgreSQL the bench runs VACUUM ANALYZE after every copy of the corpus, as
autovacuum would (it is switched off on some test machines, and without statistics the planner degrades
as the tables grow from empty). Prints p50/p99 in milliseconds for
``messages.list``, ``threads.list``, a label-filtered list and three-word ``search`` calls, each repeated.

    .venv/bin/python bench/scale.py [--messages 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _corpus import mbox_messages, require_corpora

from agentinbox import AsyncAgentInbox
from agentinbox.pipeline import inbound

_IDS = re.compile(rb"^(Message-ID|In-Reply-To|References):(.*)$", re.MULTILINE | re.IGNORECASE)
QUERIES = ["package namespace import", "memory leak bug", "windows build error", "data frame column"]


def replicate(raw: bytes, copy: int) -> bytes:
    """The message with every Message-ID in its id headers made unique to this copy."""
    if copy == 0:
        return raw
    suffix = f".c{copy}>".encode()
    return _IDS.sub(lambda m: m.group(1) + b":" + m.group(2).replace(b">", suffix), raw)


async def grow(client: AsyncAgentInbox, inbox_id: str, pod_id: str, total: int) -> float:
    ctx = await client._context()
    corpus = mbox_messages()
    started = time.perf_counter()
    done = 0
    copy = 0
    while done < total:
        batch = []
        for raw in corpus:
            if done + len(batch) >= total:
                break
            prepared = inbound.prepare(replicate(raw, copy), extracted=(None, None))
            batch.append(prepared)
        copy += 1

        def store(conn, items=batch):
            for item in items:
                inbound.store_received(conn, item, {inbox_id: pod_id}, now=ctx.clock.now(), subject_window=0)

        for start in range(0, len(batch), 500):
            await ctx.db.write(store, batch[start : start + 500])
        done += len(batch)
        if ctx.db.dialect == "postgresql":
            await vacuum(ctx.db.url)
        print(f"  grown to {done} messages ({time.perf_counter() - started:.0f} s)", flush=True)
    return time.perf_counter() - started


async def vacuum(url: str) -> None:
    """VACUUM ANALYZE, which cannot run inside a transaction, on its own connection."""
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def timed(call: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    await call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


async def main(args: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp(prefix="agentinbox-scale-")
    url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'scale.db'}"
    async with AsyncAgentInbox(database_url=url) as client:
        inbox = await client.inboxes.create(username="r-devel")
        seconds = await grow(client, inbox.inbox_id, inbox.pod_id, args.messages)
        print(
            f"grew {args.messages} messages in {seconds:.0f} s ({args.messages / seconds:.0f} msgs/s, no extraction)"
        )
        i = inbox.inbox_id
        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("messages.list limit=10", lambda: client.inboxes.messages.list(inbox_id=i, limit=10)),
            ("messages.list limit=100", lambda: client.inboxes.messages.list(inbox_id=i, limit=100)),
            (
                "messages.list labels=[unread] limit=10",
                lambda: client.inboxes.messages.list(inbox_id=i, limit=10, labels=["unread"]),
            ),
            ("threads.list limit=10", lambda: client.inboxes.threads.list(inbox_id=i, limit=10)),
            ("threads.list limit=100", lambda: client.inboxes.threads.list(inbox_id=i, limit=100)),
        ]
        for q in QUERIES:
            cases.append(
                (
                    f"messages.search {q!r} limit=10",
                    lambda q=q: client.inboxes.messages.search(inbox_id=i, q=q, limit=10),
                )
            )
        cases.append(
            (
                "threads.search 'memory leak bug' limit=10",
                lambda: client.inboxes.threads.search(inbox_id=i, q="memory leak bug", limit=10),
            )
        )
        hits = await client.inboxes.messages.search(inbox_id=i, q=QUERIES[0], limit=100)
        print(f"('{QUERIES[0]}' matches at least {hits.count} messages)")
        print(f"\n{'call at ' + str(args.messages) + ' messages':<52} {'p50 ms':>8} {'p99 ms':>8}")
        for name, call in cases:
            p50, p99 = await timed(call, args.repeat)
            print(f"{name:<52} {p50:>8.2f} {p99:>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", default="")
    require_corpora()
    asyncio.run(main(parser.parse_args()))
