"""Ingest throughput: the R-devel mbox and the malformed-MIME corpus through ``deliver()``.

Prints messages/s for the full pipeline (parse, thread, extract, store, index) on SQLite and, when
AGENTINBOX_TEST_DATABASE_URL is set, PostgreSQL, beside the parse-only floor measured in the same run:
``email.message_from_bytes(raw, policy=policy.default)`` alone, and the same with the fields the pipeline
reads (subject, addresses, ids, date, body) actually read. Peak RSS is the process's high-water mark.

    ./dev bench ingest            # or: .venv/bin/python bench/ingest.py [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import os
import resource
import tempfile
import time
from email import policy
from pathlib import Path

from _corpus import malformed_messages, mbox_messages, require_corpora

from agentinbox import AsyncAgentInbox


def parse_only(raws: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in raws:
        email.message_from_bytes(raw, policy=policy.default)
    return len(raws) / (time.perf_counter() - start)


def parse_and_read(raws: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in raws:
        msg = email.message_from_bytes(raw, policy=policy.default)
        for name in ("subject", "from", "to", "cc", "message-id", "in-reply-to", "references", "date"):
            msg.get(name)
        body = msg.get_body(("plain", "html"))
        if body is not None:
            try:
                body.get_content()
            except (LookupError, ValueError):
                pass
    return len(raws) / (time.perf_counter() - start)


async def pipeline(url: str, raws: list[bytes], concurrency: int) -> float:
    async with AsyncAgentInbox(database_url=url) as client:
        inbox = await client.inboxes.create(username="r-devel")
        queue = list(reversed(raws))

        async def worker() -> None:
            while queue:
                await client.deliver(queue.pop(), rcpt_to=[inbox.inbox_id])

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        stored = (await client.inboxes.messages.list(inbox_id=inbox.inbox_id, limit=1)).count
        assert stored == 1, "the inbox must hold the messages"
        return len(raws) / elapsed


async def pg_url(base: str) -> tuple[str, str]:
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"agentinbox_bench_{os.getpid()}"
    conn = await asyncpg.connect(
        make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


async def drop_pg(base: str, name: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(
        make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=1, help="deliver() calls in flight at once")
    args = parser.parse_args()
    require_corpora()
    mbox = mbox_messages()
    malformed = malformed_messages()
    print(f"corpora: mbox {len(mbox)} messages, malformed-MIME {len(malformed)} messages")
    rows: list[tuple[str, str, float]] = []
    floor = parse_only(mbox)
    read_floor = parse_and_read(mbox)
    rows.append(("mbox", "parse only: message_from_bytes(policy.default)", floor))
    rows.append(("mbox", "parse + read the fields the pipeline uses", read_floor))
    rows.append(("malformed", "parse only: message_from_bytes(policy.default)", parse_only(malformed)))
    with tempfile.TemporaryDirectory() as folder:
        for name, raws in (("mbox", mbox), ("malformed", malformed)):
            url = f"sqlite+aiosqlite:///{Path(folder) / (name + '.db')}"
            rows.append(
                (name, "agentinbox deliver(), SQLite", asyncio.run(pipeline(url, raws, args.concurrency)))
            )
    base = os.environ.get("AGENTINBOX_TEST_DATABASE_URL")
    if base:
        url, dbname = asyncio.run(pg_url(base))
        try:
            rows.append(
                (
                    "mbox",
                    "agentinbox deliver(), PostgreSQL",
                    asyncio.run(pipeline(url, mbox, args.concurrency)),
                )
            )
        finally:
            asyncio.run(drop_pg(base, dbname))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{'corpus':<10} {'what':<50} {'msgs/s':>9} {'× parse-only':>13} {'× parse+read':>13}")
    for corpus, what, rate in rows:
        ratios = f"{rate / floor:>13.3f} {rate / read_floor:>13.3f}" if corpus == "mbox" else ""
        print(f"{corpus:<10} {what:<50} {rate:>9.0f} {ratios}")
    print(f"\npeak RSS of the whole run: {peak_mb:.0f} MB (concurrency {args.concurrency})")


if __name__ == "__main__":
    main()
