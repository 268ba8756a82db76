"""An engine in a process of its own, for tests and benchmarks of several engines on one database.

Settings come from ``AGENTINBOX_*`` variables. It prints ``ready <smtp port or 0>`` once started, then one
``event <event_type> <subject> <time.time()>`` line per event it is handed, and stops on SIGTERM or when
stdin ends. ``--no-listen`` runs without the PostgreSQL listener (other processes' events then arrive by
polling only), to compare the two.

    python tests/engine_process.py [--no-listen]
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from agentinbox import AsyncAgentInbox
from agentinbox.models import Event, MessageReceivedEvent
from agentinbox.store import notify


def _without_listener() -> None:
    def start(self: notify.Listener) -> None:
        pass

    async def wait_up(self: notify.Listener, seconds: float) -> bool:
        return False

    notify.Listener.start = start  # type: ignore[method-assign]
    notify.Listener.wait_up = wait_up  # type: ignore[method-assign]


async def main(listen: bool) -> None:
    if not listen:
        _without_listener()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    client = AsyncAgentInbox()

    @client.on()
    async def echo(event: Event) -> None:
        subject = event.message.subject if isinstance(event, MessageReceivedEvent) else "-"
        print(f"event {event.event_type} {subject} {time.time():.6f}", flush=True)

    async with client:
        await client.start()
        port = client.smtp_address[1] if client.smtp_address is not None else 0
        print(f"ready {port}", flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        ended = asyncio.ensure_future(reader.read())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([ended, stopped], return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        stopped.cancel()


if __name__ == "__main__":
    asyncio.run(main("--no-listen" not in sys.argv[1:]))
