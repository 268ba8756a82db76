"""A child process of ``inbound_processes`` (see inbound_processes.py): an ``InboundWorker`` over its share
of the inbound queue, woken by bytes on stdin, stopped by its end.

Run as ``python -m agentinbox.pipeline.inbound_child`` by the engine, never by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys

from .._clock import Clock
from ..settings import Settings
from ..store.database import Database
from .checks import build_checks, own_domains_of
from .context import Context
from .inbound_worker import InboundWorker

__all__ = ["main"]

# Messages per transaction. Larger than the in-process worker's: no receiver shares this process, and
# fewer commits cost less CPU per message (bench/smtp_accept.py, agentinbox-p1, 10,000 messages: 615 and
# 847 processed/s with a new connection per message and reused connections, against 577 and 796 with 32).
_BATCH = 128


async def _child() -> int:
    """Child side: read the setup line, then run the worker until stdin ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = await reader.readline()
    if not line.endswith(b"\n"):
        return 0  # the parent went away before saying anything
    setup = json.loads(line)
    settings = Settings(**setup["settings"])
    index, count = setup["shard"]
    db = Database(settings.database_url)
    ctx = Context(db=db, settings=settings, clock=Clock())
    ctx.checks = build_checks(settings, own_domains_of(db, settings))
    worker = InboundWorker(ctx, shard=(index, count), batch=_BATCH)
    try:
        worker.start()
        while await reader.read(4096):
            worker.wake()
        await worker.stop()
    finally:
        await db.close()
    return 0


def main() -> None:
    """Entry point of a child process: errors are logged to stderr, which it shares with the engine."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s[%(process)d] %(message)s")
    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C meant for the parent: it closes stdin too
        sys.exit(asyncio.run(_child()))


if __name__ == "__main__":
    main()
