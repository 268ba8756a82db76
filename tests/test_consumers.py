"""Durable consumers: client.events.consume resumes after the last acknowledged event, retries with backoff,
sets events aside and replays them, survives a killed process, and runs a group in one process at a time."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from agentinbox import AgentInbox, AsyncAgentInbox, NotFoundError, ValidationError
from agentinbox._clock import Clock
from agentinbox.events import consumers
from agentinbox.models import FailedEvent, MessageReceivedEvent

DOMAIN = "agents.test"
_SOURCE = str(Path(__file__).resolve().parents[1])


def raw(subject: str, to: str = f"desk@{DOMAIN}") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Hi there\n")
    return bytes(msg)


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``predicate()`` is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


def subject(event: Any) -> str:
    assert isinstance(event, MessageReceivedEvent)
    return event.message.subject or ""


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> float:
    """A one-second lease, so takeovers after a kill happen within the test."""
    monkeypatch.setattr(consumers, "LEASE", 1.0)
    return 1.0


@pytest.fixture
async def desk(client: AsyncAgentInbox) -> AsyncAgentInbox:
    await client.inboxes.create(username="desk")
    return client


async def test_oldest_handles_the_backlog_then_new_events_in_order(desk: AsyncAgentInbox) -> None:
    await desk.deliver(raw("one"))
    await desk.deliver(raw("two"))
    await desk.inboxes.create(username="other")  # no event: inbox creation is not in the log's types
    seen: list[str] = []

    @desk.events.consume(group="triage", event_types="message.received")
    async def handle(event: Any) -> None:
        seen.append(subject(event))

    assert isinstance(handle, consumers.Consumer) and handle.group == "triage"
    await until(lambda: seen == ["one", "two"])
    await desk.deliver(raw("three"))
    await until(lambda: seen == ["one", "two", "three"])
    await handle.stop()
    assert not handle.running
    await desk.deliver(raw("four"))
    await asyncio.sleep(0.2)
    assert seen == ["one", "two", "three"]


async def group_exists(client: AsyncAgentInbox, group: str) -> None:
    """Wait until the group's row exists (its consumer has started)."""
    for _ in range(500):
        try:
            await client.events.failed(group)
            return
        except NotFoundError:
            await asyncio.sleep(0.01)
    raise AssertionError(f"group {group!r} was not created")


async def test_now_skips_the_backlog(desk: AsyncAgentInbox) -> None:
    await desk.deliver(raw("old"))
    seen: list[str] = []

    async def handle(event: Any) -> None:
        seen.append(subject(event))

    desk.events.consume(group="fresh", handler=handle, event_types=["message.received"], start="now")
    await group_exists(desk, "fresh")
    await desk.deliver(raw("new"))
    await until(lambda: seen == ["new"])  # "old" has the lower id: had it been handled, it came first


async def test_now_never_skips_an_event_committed_right_after_consume(desk: AsyncAgentInbox) -> None:
    for n in range(5):
        seen: list[str] = []
        await desk.deliver(raw(f"old{n}"))
        desk.events.consume(group=f"g{n}", handler=functools.partial(record, seen), start="now")
        await desk.deliver(raw(f"new{n}"))  # races the consumer's first read
        await until(functools.partial(contains, seen, f"new{n}"))
        assert seen[-1] == f"new{n}" and len(seen) <= 2  # "old" at most (see the module docstring)


def record(seen: list[str], event: Any) -> None:
    seen.append(subject(event))


def contains(seen: list[str], item: str) -> bool:
    return item in seen


async def test_consumers_registered_before_open_start_with_the_client(database_url: str) -> None:
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as first:
        await first.inboxes.create(username="desk")
        await first.deliver(raw("before"))
    client = AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN)
    seen: list[str] = []
    consumer = client.events.consume(group="g", handler=lambda event: seen.append(subject(event)))
    assert not consumer.running
    await asyncio.sleep(0.05)
    assert seen == []
    async with client:
        await until(lambda: seen == ["before"])
        assert consumer.running
    assert not consumer.running


async def test_restart_resumes_after_the_last_ack(database_url: str) -> None:
    first: list[str] = []
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        await client.inboxes.create(username="desk")
        client.events.consume(group="g", handler=lambda event: first.append(subject(event)))
        await client.deliver(raw("a"))
        await client.deliver(raw("b"))
        await until(lambda: first == ["a", "b"])
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        await client.deliver(raw("c"))  # while no consumer of the group runs
        second: list[str] = []
        client.events.consume(group="g", handler=lambda event: second.append(subject(event)), start="now")
        await client.deliver(raw("d"))
        await until(lambda: second == ["c", "d"])  # start="now" is ignored: the group exists
    assert first == ["a", "b"]


async def test_events_the_filter_skips_still_move_the_cursor(database_url: str) -> None:
    seen: list[str] = []
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        await client.inboxes.create(username="desk")
        other = await client.inboxes.create(username="other")
        client.events.consume(
            group="g", handler=functools.partial(record, seen), inbox_ids=[f"desk@{DOMAIN}"]
        )
        await client.deliver(raw("skipped", to=other.inbox_id))
        await client.deliver(raw("mine"))
        await until(lambda: seen == ["mine"])
        await client.deliver(raw("skipped too", to=other.inbox_id))  # passed when the consumer stops
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        client.events.consume(group="g", handler=functools.partial(record, seen))  # now unfiltered
        await client.deliver(raw("last", to=f"other@{DOMAIN}"))
        await until(lambda: seen[-1:] == ["last"])
    assert seen == ["mine", "last"]


async def test_a_failing_handler_is_retried_with_backoff(desk: AsyncAgentInbox) -> None:
    attempts: list[float] = []

    async def flaky(event: Any) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError(f"flaky {len(attempts)}")

    desk.events.consume(group="g", handler=flaky, max_attempts=3, retry_delay=0.1)
    await desk.deliver(raw("x"))
    await until(lambda: len(attempts) == 3)
    assert attempts[1] - attempts[0] >= 0.1 and attempts[2] - attempts[1] >= 0.2  # doubles per retry
    await asyncio.sleep(0.1)
    assert len(attempts) == 3
    assert await desk.events.failed("g") == []


async def test_set_aside_listed_and_replayed(desk: AsyncAgentInbox) -> None:
    broken = True
    calls: list[str] = []

    async def handle(event: Any) -> None:
        calls.append(subject(event))
        if broken and subject(event) == "bad":
            raise ValueError("cannot parse the order number")

    desk.events.consume(group="orders", handler=handle, max_attempts=2, retry_delay=0)
    await desk.deliver(raw("bad"))
    await desk.deliver(raw("good"))
    await until(lambda: "good" in calls)
    assert calls == ["bad", "bad", "good"]  # set aside after 2 attempts; the group went on
    [failed] = await desk.events.failed("orders")
    assert isinstance(failed, FailedEvent) and failed.group == "orders"
    assert subject(failed.event) == "bad" and failed.attempts == 2
    assert failed.last_error == "ValueError: cannot parse the order number"
    assert failed.failed_at.tzinfo is not None

    # Replayed while still broken: two more attempts, still set aside, attempts added up.
    calls.clear()
    assert await desk.events.replay("orders") == 1
    await until(lambda: calls == ["bad", "bad"])
    await until(lambda: len(calls) == 2)
    for _ in range(200):
        [again] = await desk.events.failed("orders")
        if again.attempts == 4:
            break
        await asyncio.sleep(0.01)
    assert again.attempts == 4 and again.event.event_id == failed.event.event_id

    # Fixed: a replay of that event id runs it once and forgets the failure.
    broken = False
    calls.clear()
    assert await desk.events.replay("orders", event_ids=[failed.event.event_id]) == 1
    await until(lambda: calls == ["bad"])
    for _ in range(200):
        if not await desk.events.failed("orders"):
            break
        await asyncio.sleep(0.01)
    assert await desk.events.failed("orders") == []
    assert await desk.events.replay("orders") == 0
    await desk.deliver(raw("later"))
    await until(lambda: calls == ["bad", "later"])


async def test_bad_arguments(desk: AsyncAgentInbox) -> None:
    async def handle(event: Any) -> None:
        pass

    consume = desk.events.consume
    for bad in ("", "   ", "x" * 201, 42, None):
        with pytest.raises(ValidationError) as info:
            consume(group=bad, handler=handle)  # type: ignore[arg-type]
        assert info.value.errors[0]["path"] == ["group"]
    with pytest.raises(ValidationError, match="unknown event type"):
        consume(group="g", handler=handle, event_types=["message.recieved"])
    with pytest.raises(ValidationError):
        consume(group="g", handler=handle, inbox_ids=[""])
    for start in ("newest", "", None):
        with pytest.raises(ValidationError) as info:
            consume(group="g", handler=handle, start=start)  # type: ignore[call-overload]
        assert info.value.errors[0]["path"] == ["start"]
    for attempts in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValidationError) as info:
            consume(group="g", handler=handle, max_attempts=attempts)  # type: ignore[arg-type]
        assert info.value.errors[0]["path"] == ["max_attempts"]
    for delay in (-0.1, float("nan"), float("inf"), "1", None):
        with pytest.raises(ValidationError) as info:
            consume(group="g", handler=handle, retry_delay=delay)  # type: ignore[arg-type]
        assert info.value.errors[0]["path"] == ["retry_delay"]
    with pytest.raises(ValidationError) as info:
        consume(group="g", handler="not callable")  # type: ignore[call-overload]
    assert info.value.errors[0]["path"] == ["handler"]
    decorator = consume(group="g")
    with pytest.raises(ValidationError):
        decorator(42)  # type: ignore[arg-type]
    # Nothing invalid was registered or created.
    with pytest.raises(NotFoundError):
        await desk.events.failed("g")
    with pytest.raises(NotFoundError):
        await desk.events.replay("g")
    with pytest.raises(ValidationError):
        await desk.events.failed("")
    with pytest.raises(ValidationError):
        await desk.events.replay("g", event_ids=[""])
    with pytest.raises(ValidationError):
        await desk.events.replay("g", event_ids=[3])  # type: ignore[list-item]

    consumer = consume(group="known", handler=handle)
    await until(lambda: consumer.running)
    for _ in range(200):
        try:
            assert await desk.events.failed("known") == []
            break
        except NotFoundError:
            await asyncio.sleep(0.01)  # the group's row is created when the consumer starts
    with pytest.raises(NotFoundError, match="evt_missing"):
        await desk.events.replay("known", event_ids=["evt_missing"])
    await consumer.stop()
    await consumer.stop()  # a second stop is harmless


async def test_a_slow_handler_holds_up_neither_hooks_nor_other_groups(desk: AsyncAgentInbox) -> None:
    release = asyncio.Event()
    slow: list[str] = []
    fast: list[float] = []
    hooked: list[float] = []

    async def wait(event: Any) -> None:
        slow.append(subject(event))
        await release.wait()

    desk.events.consume(group="slow", handler=wait)
    desk.events.consume(group="fast", handler=lambda event: fast.append(time.monotonic()))

    @desk.on("message.received")
    async def hook(event: Any) -> None:
        hooked.append(time.monotonic())

    await desk.deliver(raw("first"))
    await until(lambda: slow == ["first"] and len(fast) == 1)
    started = time.monotonic()
    await desk.deliver(raw("second"))
    await until(lambda: len(fast) == 2 and len(hooked) == 2)
    assert fast[-1] - started < 1.0 and hooked[-1] - started < 1.0
    assert slow == ["first"]
    release.set()
    await until(lambda: slow == ["first", "second"])


async def test_closing_mid_handler_redelivers_the_unacknowledged_event(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "STOP_GRACE", 0.2)
    started = asyncio.Event()
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        await client.inboxes.create(username="desk")

        async def hang(event: Any) -> None:
            started.set()
            await asyncio.Event().wait()

        client.events.consume(group="g", handler=hang)
        await client.deliver(raw("stuck"))
        await asyncio.wait_for(started.wait(), 10)
    seen: list[str] = []
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        client.events.consume(group="g", handler=lambda event: seen.append(subject(event)))
        await until(lambda: seen == ["stuck"])


async def test_close_waits_for_the_running_handler_and_acknowledges_it(database_url: str) -> None:
    done: list[str] = []
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        await client.inboxes.create(username="desk")
        started = asyncio.Event()

        async def slowish(event: Any) -> None:
            started.set()
            await asyncio.sleep(0.3)
            done.append(subject(event))

        client.events.consume(group="g", handler=slowish)
        await client.deliver(raw("finish me"))
        await asyncio.wait_for(started.wait(), 10)
    assert done == ["finish me"]
    again: list[str] = []
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN) as client:
        client.events.consume(group="g", handler=lambda event: again.append(subject(event)))
        await client.deliver(raw("next"))
        await until(lambda: again == ["next"])


@pytest.fixture
async def two_clients(database_url: str, short_lease: float) -> AsyncIterator[tuple[Any, Any]]:
    a = AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN, clock=Clock())
    b = AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN, clock=Clock())
    await a.open()
    await a.inboxes.create(username="desk")
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_one_client_of_two_runs_a_group_and_the_standby_takes_over(
    two_clients: tuple[Any, Any],
) -> None:
    a, b = two_clients
    seen: list[tuple[str, str]] = []
    consumer_a = a.events.consume(group="g", handler=lambda event: seen.append(("a", subject(event))))
    consumer_b = b.events.consume(group="g", handler=lambda event: seen.append(("b", subject(event))))
    for n in range(6):
        await (a if n % 2 else b).deliver(raw(f"m{n}"))
    await until(lambda: len(seen) >= 6)
    await asyncio.sleep(0.3)
    assert [s for _, s in seen] == [f"m{n}" for n in range(6)]  # each once, in order
    [active] = {who for who, _ in seen}
    stopping, standby = (consumer_a, "b") if active == "a" else (consumer_b, "a")
    await stopping.stop()  # releases the lease: the standby claims it at its next try
    started = time.monotonic()
    await a.deliver(raw("after"))
    await until(lambda: seen[-1] == (standby, "after"), within=5)
    assert time.monotonic() - started < 2.5
    assert [s for _, s in seen].count("after") == 1


async def test_a_replay_asked_for_in_another_process_is_run_by_the_holder(
    two_clients: tuple[Any, Any],
) -> None:
    a, b = two_clients
    fixed = False
    calls: list[str] = []

    async def handle(event: Any) -> None:
        calls.append(subject(event))
        if not fixed:
            raise RuntimeError("not yet")

    a.events.consume(group="g", handler=handle, max_attempts=1)
    await a.deliver(raw("x"))
    await until(lambda: calls == ["x"])
    for _ in range(200):
        if await b.events.failed("g"):
            break
        await asyncio.sleep(0.01)
    fixed = True
    assert await b.events.replay("g") == 1  # b runs no consumer of the group: a finds the request itself
    await until(lambda: calls == ["x", "x"], within=5)
    for _ in range(200):
        if not await b.events.failed("g"):
            break
        await asyncio.sleep(0.01)
    assert await b.events.failed("g") == []


_KILLED = r"""
import asyncio, sys
from agentinbox import AsyncAgentInbox
from agentinbox.events import consumers

consumers.LEASE = 1.0


async def main() -> None:
    async with AsyncAgentInbox(database_url=sys.argv[1], default_domain="agents.test") as client:
        async def handle(event) -> None:
            print("handling", event.message.subject, flush=True)
            if event.message.subject == "in flight":
                await asyncio.Event().wait()

        client.events.consume(group="g", handler=handle)
        # Handled here, so this process holds the group's lease when the test goes on.
        await client.deliver(b"From: c@example.com\r\nTo: desk@agents.test\r\nSubject: warm-up\r\n\r\nhi\r\n")
        await asyncio.Event().wait()


asyncio.run(main())
"""


async def test_a_killed_process_leaves_its_event_to_the_standby(
    database_url: str, short_lease: float
) -> None:
    async with AsyncAgentInbox(database_url=database_url, default_domain=DOMAIN, clock=Clock()) as client:
        await client.inboxes.create(username="desk")
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            textwrap.dedent(_KILLED),
            database_url,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _SOURCE},
        )
        try:
            assert child.stdout is not None
            assert await asyncio.wait_for(child.stdout.readline(), 30) == b"handling warm-up\n"
            seen: list[str] = []
            # Registered while the child holds the group: this client waits as standby.
            client.events.consume(group="g", handler=lambda event: seen.append(subject(event)))
            await client.deliver(raw("in flight"))
            assert await asyncio.wait_for(child.stdout.readline(), 10) == b"handling in flight\n"
            await asyncio.sleep(0.2)
            assert seen == []
            child.send_signal(signal.SIGKILL)
            await child.wait()
            await until(lambda: seen == ["in flight"], within=10)  # the lease expired: re-delivered
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()


def test_sync_client(tmp_path: Path) -> None:
    with AgentInbox(database_url=f"sqlite:///{tmp_path / 'sync.db'}", default_domain=DOMAIN) as client:
        client.inboxes.create(username="desk")
        client.deliver(raw("early"))
        seen: list[str] = []
        threads: list[threading.Thread] = []
        done = threading.Event()

        @client.events.consume(group="sync", event_types="message.received", max_attempts=1)
        def handle(event: Any) -> None:
            threads.append(threading.current_thread())
            # A sync handler may call the sync client.
            assert client.inboxes.get(inbox_id=event.message.inbox_id).inbox_id == event.message.inbox_id
            if subject(event) == "bad":
                raise RuntimeError("no")
            seen.append(subject(event))
            if subject(event) == "last":
                done.set()

        client.deliver(raw("bad"))
        client.deliver(raw("last"))
        assert done.wait(10)
        assert seen == ["early", "last"]
        assert all(t is not threading.main_thread() for t in threads)
        [failed] = client.events.failed("sync")
        assert subject(failed.event) == "bad" and failed.attempts == 1
        assert client.events.replay("sync") == 1
        handle.stop()
        with pytest.raises(ValidationError):
            client.events.consume(group="", handler=print)
        with pytest.raises(NotFoundError):
            client.events.failed("nobody")


async def _hold_late_event(url: str, copy_of: str) -> tuple[Any, Any, str]:
    """On PostgreSQL, insert a copy of an event in a transaction left open: its id is taken, not committed."""
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    transaction = conn.transaction()
    await transaction.start()
    event_id = "evt_late" + copy_of[-20:]
    await conn.execute(
        "INSERT INTO events (event_id, event_type, pod_id, inbox_id, thread_id, message_id, payload, created_at)"
        " SELECT $1, event_type, pod_id, inbox_id, thread_id, message_id, payload, created_at"
        " FROM events WHERE event_id = $2",
        event_id,
        copy_of,
    )
    return conn, transaction, event_id


@pytest.mark.parametrize("late", [False, True], ids=["fills-in-grace", "after-grace"])
async def test_a_gap_is_waited_for_then_rechecked(
    desk: AsyncAgentInbox, database_url: str, monkeypatch: pytest.MonkeyPatch, late: bool
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite commits in id order: no gaps")
    monkeypatch.setattr(consumers, "RECHECK_INTERVAL", 0.05)
    seen: list[str] = []
    desk.events.consume(group="g", handler=lambda event: seen.append(event.event_id))
    await desk.deliver(raw("first"))
    await until(lambda: len(seen) == 1)
    conn, transaction, late_id = await _hold_late_event(database_url, seen[0])
    try:
        await desk.deliver(raw("after"))  # committed with the id above the open transaction's
        if late:
            await until(lambda: len(seen) == 2)  # the gap was skipped after GAP_GRACE
            await transaction.commit()
            await until(lambda: len(seen) == 3)  # the late arrival was found by a recheck
            assert seen[2] == late_id
        else:
            await asyncio.sleep(consumers.GAP_GRACE / 5)
            assert len(seen) == 1  # waiting at the gap
            await transaction.commit()
            await until(lambda: len(seen) == 3)
            assert seen[1] == late_id  # in id order
    finally:
        if conn.is_in_transaction():
            await transaction.rollback()
        await conn.close()
    await asyncio.sleep(0.2)
    assert len(seen) == 3 and len(set(seen)) == 3
