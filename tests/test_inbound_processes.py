"""``inbound_processes``: accepted SMTP mail is stored by child processes, exactly once, losing nothing.

The children run on the wall clock (a test's ManualClock cannot reach another process), so these engines
keep the real clock.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiosmtplib
import pytest

from agentinbox import AsyncAgentInbox
from agentinbox.errors import ValidationError
from agentinbox.pipeline.inbound_processes import InboundProcesses
from agentinbox.pipeline.inbound_worker import InboundWorker
from agentinbox.store import inbound_queue

INBOX = "desk@agents.test"


async def engine(database_url: str, processes: int, *, create: bool = True) -> AsyncAgentInbox:
    """A started engine with ``processes`` inbound processes (and the inbox ``desk``, created unless told)."""
    client = AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        smtp_listen="127.0.0.1:0",
        inbound_processes=processes,
    )
    if create:
        await client.inboxes.create(username="desk")
    await client.start()
    return client


@pytest.fixture(params=[1, 2], ids=["1-process", "2-processes"])
async def served(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[AsyncAgentInbox]:
    client = await engine(database_url, request.param)
    try:
        yield client
    finally:
        await client.close()


def children(client: AsyncAgentInbox) -> InboundProcesses:
    assert client._receiving is not None and isinstance(client._receiving.worker, InboundProcesses)
    return client._receiving.worker


async def send(client: AsyncAgentInbox, numbers: range, *, sessions: int = 5) -> None:
    """Deliver one message per number over SMTP, ``sessions`` at a time, each on a connection of its own."""
    assert client.smtp_address is not None
    host, port = client.smtp_address
    limit = asyncio.Semaphore(sessions)

    async def one(number: int) -> None:
        message = EmailMessage()
        message["From"] = "carol@example.com"
        message["To"] = INBOX
        message["Subject"] = f"Load {number}"
        message["Message-ID"] = f"<load-{number}@example.com>"
        message.set_content(f"Message number {number}.\n" * 20)
        async with limit:
            await aiosmtplib.send(message, hostname=host, port=port, timeout=30)

    await asyncio.gather(*(one(number) for number in numbers))


async def stored_subjects(client: AsyncAgentInbox) -> list[str]:
    """The subjects of every message in the inbox (one entry per stored copy)."""
    found: list[str] = []
    token = None
    while True:
        page = await client.inboxes.messages.list(inbox_id=INBOX, limit=100, page_token=token)
        found += [item.subject or "" for item in page.messages]
        token = page.next_page_token
        if token is None:
            return found


async def queued(client: AsyncAgentInbox) -> int:
    ctx = await client._context()
    return await ctx.db.read(inbound_queue.due_count, now=ctx.clock.now() + 10**12)


async def test_accepted_mail_is_stored_once_by_the_children(served: AsyncAgentInbox) -> None:
    workers = children(served)
    assert len(workers.pids) == len(workers._children)
    assert os.getpid() not in workers.pids
    await send(served, range(60))
    await asyncio.wait_for(workers.idle(), timeout=60)
    ids = await stored_subjects(served)
    assert sorted(ids) == sorted(f"Load {n}" for n in range(60))
    assert await queued(served) == 0


async def test_a_child_killed_mid_load_loses_nothing(database_url: str) -> None:
    client = await engine(database_url, 1)
    try:
        workers = children(client)
        [first] = workers.pids
        sending = asyncio.create_task(send(client, range(300), sessions=8))
        # Kill the child while mail is arriving and it is storing: whatever batch it held stays queued.
        while True:
            if await queued(client) > 0 or sending.done():
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        os.kill(first, signal.SIGKILL)
        await sending
        await asyncio.wait_for(workers.idle(), timeout=60)
        ids = await stored_subjects(client)
        assert sorted(ids) == sorted(f"Load {n}" for n in range(300))
        assert len(workers.pids) == 1 and workers.pids != [first]  # started again
    finally:
        await client.close()


async def test_close_leaves_no_child_behind(database_url: str) -> None:
    client = await engine(database_url, 2)
    pids = children(client).pids
    assert len(pids) == 2
    await send(client, range(10))
    await client.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # Mail accepted before close() was stored (by the children, or by the next start).
    client = await engine(database_url, 1, create=False)
    try:
        await asyncio.wait_for(children(client).idle(), timeout=60)
        assert len(await stored_subjects(client)) == 10
    finally:
        await client.close()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"  # exited, not yet reaped
    except FileNotFoundError:
        return True


async def test_children_exit_when_the_parent_dies(database_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from agentinbox import AsyncAgentInbox

        async def main():
            client = AsyncAgentInbox(database_url={database_url!r}, default_domain="agents.test",
                                     smtp_listen="127.0.0.1:0", inbound_processes=2)
            await client.start()
            print(*client._receiving.worker.pids, flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
        """
    )
    parent = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), timeout=60)
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2
    finally:
        parent.kill()
        await parent.wait()
    deadline = time.monotonic() + 20
    while True:
        if all(_gone(pid) for pid in pids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert all(_gone(pid) for pid in pids)


async def test_without_a_receiver_the_worker_stays_in_process(database_url: str) -> None:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", inbound_processes=2
    ) as client:
        await client.start()
        assert client._receiving is not None and isinstance(client._receiving.worker, InboundWorker)


@pytest.mark.parametrize("value", [-1, 17, "two", 1.5])
def test_bad_values_are_refused(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        AsyncAgentInbox(inbound_processes=value)
    assert caught.value.errors[0]["path"] == ["inbound_processes"]
