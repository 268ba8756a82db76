"""Several engine processes on one PostgreSQL database: each piece of work is done by exactly one of them,
work a killed process claimed is taken over after its lease, and events reach the other processes at once.

The engines are real processes (``agentinbox serve``, or ``tests/engine_process.py`` where a test needs an
event hook in the other process) on the wall clock; the test process holds one more engine, which it uses to
create inboxes, send mail and read what was stored. PostgreSQL only: one SQLite file serves one engine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from peers import Peer, PeerHandler
from sqlalchemy import Connection, func, select

from agentinbox import AsyncAgentInbox
from agentinbox.store import events, notify
from agentinbox.store import inbound_queue as queue
from agentinbox.store.database import Database
from agentinbox.store.tables import deliveries, drafts, inbound_queue

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

AGENTINBOX = str(Path(sys.executable).with_name("agentinbox"))
HELPER = str(Path(__file__).with_name("engine_process.py"))
DOMAIN = "agents.test"
INBOX = f"desk@{DOMAIN}"


class Engine:
    """An engine process: its SMTP port once ready, its stdout lines after that."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(
        cls, database_url: str, *, helper: bool = False, extra: Iterable[str] = (), **settings: Any
    ) -> Engine:
        env = {**os.environ, "AGENTINBOX_DEFAULT_DOMAIN": DOMAIN}
        env.update({f"AGENTINBOX_{name.upper()}": str(value) for name, value in settings.items()})
        if helper:
            env["AGENTINBOX_DATABASE_URL"] = database_url
            args = [sys.executable, HELPER, *extra]
        else:
            args = [AGENTINBOX, "serve", "--database-url", database_url, "--smtp-listen", "127.0.0.1:0"]
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
        )
        assert process.stdout is not None
        port = 0
        async with asyncio.timeout(20):
            while True:
                line = (await process.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"engine exited with {await process.wait()} before it was ready")
                if line.startswith("SMTP receiver on "):
                    port = int(line.rsplit(":", 1)[1])
                elif line.startswith("ready"):
                    port = port or int(line.split()[1])
                    return cls(process, port)

    async def line(self) -> str:
        assert self.process.stdout is not None
        return (await self.process.stdout.readline()).decode()

    def signal(self, signum: int) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signum)

    async def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                await self.process.wait()
        except TimeoutError:
            self.signal(signal.SIGKILL)
            await self.process.wait()


@pytest.fixture
async def local(database_url: str) -> AsyncIterator[AsyncAgentInbox]:
    """The test's own engine on the database (not started: the processes do the work)."""
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        yield client


@pytest.fixture
async def engines() -> AsyncIterator[list[Engine]]:
    """Where a test puts the processes it starts; each is stopped (or killed) at the end."""
    started: list[Engine] = []
    yield started
    for engine in started:
        engine.signal(signal.SIGCONT)
    await asyncio.gather(*(engine.stop() for engine in started))


async def until(check: Callable[[], Any], *, seconds: float, what: str, every: float = 0.05) -> None:
    """Poll ``check`` (an async callable) until it returns something true."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(every)


def _mail(number: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "carol@example.com"
    message["To"] = INBOX
    message["Subject"] = f"m{number}"
    message["Message-ID"] = f"<m{number}@example.com>"
    message.set_content(f"Message number {number}.\n" * 200)
    return message


async def send_over_smtp(
    port_of: Callable[[int], int], numbers: Iterable[int], *, sessions: int = 6
) -> set[int]:
    """Send one message per number to the port ``port_of(number)``; returns the numbers answered 250."""
    accepted: set[int] = set()
    limit = asyncio.Semaphore(sessions)

    async def one(number: int) -> None:
        async with limit:
            try:
                await aiosmtplib.send(_mail(number), hostname="127.0.0.1", port=port_of(number), timeout=10)
            except (aiosmtplib.SMTPException, OSError):
                return  # not accepted: the sender would try again later
            accepted.add(number)

    await asyncio.gather(*(one(number) for number in numbers))
    return accepted


async def stored_numbers(local: AsyncAgentInbox, inbox_id: str) -> list[int]:
    """The number of every stored message in the inbox, one entry per stored copy."""
    found: list[int] = []
    token = None
    while True:
        page = await local.inboxes.messages.list(inbox_id=inbox_id, limit=100, page_token=token)
        found += [int((m.subject or "m-1")[1:]) for m in page.messages]
        token = page.next_page_token
        if not token:
            return found


def _count(table: Any, *where: Any) -> Callable[[Connection], int]:
    def count(conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    return count


async def _claimed_rows(local: AsyncAgentInbox) -> int:
    """Queued messages held by a claim (their next attempt pushed past their arrival by a lease)."""
    ctx = await local._context()
    lease_held = inbound_queue.c.next_attempt_at > inbound_queue.c.received_at + 1_000_000
    return await ctx.db.read(_count(inbound_queue, lease_held))


async def test_received_mail_is_stored_once_across_processes_one_killed(
    local: AsyncAgentInbox, database_url: str, engines: list[Engine]
) -> None:
    """Three engines receive over SMTP and share one inbound queue: every accepted message is stored exactly
    once, including the batch a process had claimed when it was killed (taken over after the lease)."""
    inbox = await local.inboxes.create(username="desk")
    engines += await asyncio.gather(*(Engine.start(database_url, inbound_lease=2) for _ in range(3)))
    first, second, victim = engines

    # All three at once: messages spread over the receivers, each parsed by whichever claims it.
    accepted = await send_over_smtp(lambda n: engines[n % 3].port, range(150))
    assert accepted == set(range(150))

    async def all_stored() -> bool:
        # Every accepted message (the killed process may also have stored some whose 250 never got out).
        return accepted <= set(await stored_numbers(local, inbox.inbox_id))

    await until(all_stored, seconds=15, what="the first 150 messages stored")

    # The victim alone works (the others are stopped) until it is caught holding a claim, then it is
    # killed: the messages it claimed stay queued under its lease.
    first.signal(signal.SIGSTOP)
    second.signal(signal.SIGSTOP)
    sending = asyncio.create_task(send_over_smtp(lambda n: victim.port, range(150, 400), sessions=4))
    orphaned = 0
    deadline = time.monotonic() + 10
    while not orphaned:
        assert time.monotonic() < deadline, "the victim was never caught holding a claim"
        if await _claimed_rows(local):
            victim.signal(signal.SIGSTOP)  # freeze it, then look: its batch may have been stored meanwhile
            orphaned = await _claimed_rows(local)
            if orphaned:
                victim.signal(signal.SIGKILL)
            else:
                victim.signal(signal.SIGCONT)
        await asyncio.sleep(0.002)
    accepted |= await sending
    await victim.process.wait()
    first.signal(signal.SIGCONT)
    second.signal(signal.SIGCONT)

    # The survivors go on receiving, and take the killed process's claim over once its lease passes.
    accepted |= await send_over_smtp(lambda n: engines[n % 2].port, range(400, 460))
    await until(all_stored, seconds=15, what="every accepted message stored")
    numbers = await stored_numbers(local, inbox.inbox_id)
    duplicates = sorted(n for n in set(numbers) if numbers.count(n) > 1)
    assert not duplicates, f"stored more than once: {duplicates}"
    # Everything accepted is stored; a message the victim committed before its 250 got out may be too.
    assert accepted <= set(numbers) <= set(range(460))
    ctx = await local._context()
    assert await ctx.db.read(_count(inbound_queue)) == 0
    assert orphaned > 0


class GatedHandler(PeerHandler):
    """A peer that holds each DATA reply while ``gate`` is closed; ``holding`` counts the sessions held.
    A session whose client died while held is cancelled by aiosmtpd and records nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.holding: set[int] = set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.holding.add(id(session))
        try:
            await self.gate.wait()
        finally:
            self.holding.discard(id(session))
        return await super().handle_DATA(server, session, envelope)


def _subjects(peer: Peer) -> list[str]:
    found = []
    for received in peer.received:
        for line in received.data.splitlines():
            if line.startswith(b"Subject: "):
                found.append(line[9:].decode())
                break
    return found


async def test_deliveries_are_sent_once_across_processes_one_killed(
    local: AsyncAgentInbox, database_url: str, engines: list[Engine]
) -> None:
    """Two engines deliver one outbound queue through a relay: each message is relayed once, and those a
    killed process held (mid-transaction, and claimed behind it) are sent by the other after the lease."""
    peer = Peer()
    peer.handler = GatedHandler()
    await peer.start()
    handler = peer.handler
    try:
        sender = await local.inboxes.create(username="out")
        settings: dict[str, Any] = {
            "relay_url": f"smtp://127.0.0.1:{peer.port}",
            "delivery_lease": 2,
            "delivery_concurrency": 1,  # one connection per process, so each holds one when gated
            "delivery_timeout": 5,
        }
        engines += await asyncio.gather(*(Engine.start(database_url, **settings) for _ in range(2)))
        victim = engines[1]

        async def send(numbers: range) -> None:
            for number in numbers:
                await local.inboxes.messages.send(
                    inbox_id=sender.inbox_id, to=["bob@remote.example"], subject=f"d{number}", text="Hello."
                )

        began = time.monotonic()
        await send(range(20))

        def relayed(count: int) -> Callable[[], Any]:
            async def check() -> bool:
                return len(peer.received) >= count

            return check

        await until(relayed(20), seconds=10, what="20 messages relayed")
        # Woken by the notification of each send, not by the workers' 5 s poll.
        assert time.monotonic() - began < 3

        handler.gate.clear()
        await send(range(20, 40))

        async def both_held() -> bool:
            return len(handler.holding) == 2

        await until(both_held, seconds=10, what="a transaction held from each process")
        victim.signal(signal.SIGKILL)
        await victim.process.wait()

        async def one_held() -> bool:
            return len(handler.holding) == 1

        await until(one_held, seconds=5, what="the killed process's session gone")
        handler.gate.set()
        await until(relayed(40), seconds=15, what="all 40 messages relayed")
        subjects = _subjects(peer)
        assert sorted(subjects) == sorted(f"d{n}" for n in range(40)), subjects
        ctx = await local._context()

        async def all_delivered() -> bool:
            return await ctx.db.read(_count(deliveries, deliveries.c.status != "delivered")) == 0

        await until(all_delivered, seconds=5, what="every delivery marked delivered")
        assert len(_subjects(peer)) == 40
    finally:
        await peer.stop()


async def test_scheduled_drafts_are_sent_once_by_two_processes(
    local: AsyncAgentInbox, database_url: str, engines: list[Engine]
) -> None:
    """Drafts scheduled from a third engine are sent once each, on time, by two running engines."""
    peer = await Peer().start()
    try:
        sender = await local.inboxes.create(username="later")
        relay = f"smtp://127.0.0.1:{peer.port}"
        engines += await asyncio.gather(*(Engine.start(database_url, relay_url=relay) for _ in range(2)))
        send_at = datetime.now(UTC) + timedelta(seconds=1.5)
        for number in range(30):
            await local.inboxes.drafts.create(
                inbox_id=sender.inbox_id, to=["bob@remote.example"], subject=f"s{number}", send_at=send_at
            )

        async def all_relayed() -> bool:
            return len(peer.received) >= 30

        await until(all_relayed, seconds=10, what="30 scheduled drafts relayed")
        # On time: each scheduler learnt of the drafts from a notification (its own poll is every 5 s).
        assert send_at <= datetime.now(UTC) < send_at + timedelta(seconds=3)
        await asyncio.sleep(0.3)  # a second send of any of them would come about now
        assert sorted(_subjects(peer)) == sorted(f"s{n}" for n in range(30))
        ctx = await local._context()
        assert await ctx.db.read(_count(drafts)) == 0
    finally:
        await peer.stop()


def _raw(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "carol@example.com"
    message["To"] = INBOX
    message["Subject"] = subject
    message.set_content("A probe.\n")
    return bytes(message)


async def test_an_event_reaches_another_process_at_once(
    local: AsyncAgentInbox, database_url: str, engines: list[Engine]
) -> None:
    """A message stored here is handed to a hook in another engine process within milliseconds: the
    notification wakes its bus (its safety-net poll runs only every second while it listens)."""
    await local.inboxes.create(username="desk")
    other = await Engine.start(database_url, helper=True)
    engines.append(other)
    latencies = []
    for number in range(10):
        await local.deliver(_raw(f"probe-{number}"), rcpt_to=[INBOX])
        committed = time.time()
        async with asyncio.timeout(5):
            while True:
                fields = (await other.line()).split()
                if fields[:3] == ["event", "message.received", f"probe-{number}"]:
                    break
        latencies.append(float(fields[3]) - committed)
        await asyncio.sleep(0.05)
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 0.5, latencies


async def test_a_write_notifies_once_at_commit_and_never_when_rolled_back(database_url: str) -> None:
    """One notification per write transaction that queued work or appended events, naming each kind once,
    sent at commit; none for a rolled-back transaction or one that wrote nothing of the kind."""
    import asyncpg

    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(notify.postgres_dsn(database_url))
    await listener.add_listener(notify.CHANNEL, lambda *args: heard.put_nowait(args[3]))
    db = Database(database_url)
    try:

        def work(conn: Connection) -> None:
            for _ in range(3):
                queue.enqueue(conn, b"Subject: x\r\n\r\nx\r\n", mail_from=None, rcpt_to=["a@b.c"], now=1)
                events.append_event(conn, "message.received", now=1)

        def failing(conn: Connection) -> None:
            queue.enqueue(conn, b"Subject: y\r\n\r\ny\r\n", mail_from=None, rcpt_to=["a@b.c"], now=1)
            raise ValueError("rolled back")

        await db.write(work)
        assert await asyncio.wait_for(heard.get(), 5) == f"{db.sender} events,inbound"
        with pytest.raises(ValueError):
            await db.write(failing)
        await db.write(queue.postpone, 1, error="later", retry_at=2)  # an update queues nothing new
        await db.write(work)  # a marker: anything sent by the two writes before would come first
        assert await asyncio.wait_for(heard.get(), 5) == f"{db.sender} events,inbound"
        assert heard.empty()
    finally:
        await db.close()
        await listener.close()


async def test_the_listener_reconnects_and_reports_everything_when_back(database_url: str) -> None:
    """A listening connection that drops (here: terminated by the server) is opened again; on coming back
    it reports every kind, since what was notified meanwhile is lost. Its own sender is skipped."""
    import asyncpg

    states: list[bool] = []
    heard: asyncio.Queue[frozenset[str]] = asyncio.Queue()
    listener = notify.Listener(database_url, sender="me", on_notify=heard.put_nowait, on_state=states.append)
    admin = await asyncpg.connect(notify.postgres_dsn(database_url))
    try:
        listener.start()
        assert await listener.wait_up(5)
        assert await asyncio.wait_for(heard.get(), 5) == notify.KINDS
        await admin.execute("SELECT pg_notify($1, 'me events')", notify.CHANNEL)
        await admin.execute("SELECT pg_notify($1, 'other delivery,unknown')", notify.CHANNEL)
        assert await asyncio.wait_for(heard.get(), 5) == {"delivery"}
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert killed == 1

        async def back() -> bool:
            return states == [True, False, True]

        await until(back, seconds=5, what="the listener down and up again")
        assert await asyncio.wait_for(heard.get(), 5) == notify.KINDS
        await admin.execute("SELECT pg_notify($1, 'other scheduler')", notify.CHANNEL)
        assert await asyncio.wait_for(heard.get(), 5) == {"scheduler"}
    finally:
        await listener.close()
        await admin.close()
    assert not listener.up
