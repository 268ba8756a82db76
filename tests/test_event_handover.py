"""Events a commit hands to the bus directly: exactly the committed ones, in id order, none read twice."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Connection

from agentinbox.events import EventBus
from agentinbox.store import events as log
from agentinbox.store.database import Database


def _append(conn: Connection, name: str, *, fail: bool = False) -> None:
    payload = log.receipt_payload(
        "send", inbox_id="a@agents.test", thread_id="t", message_id=f"<{name}@x>", now=1, recipients=["b@x"]
    )
    log.append_event(conn, "message.sent", now=1, payload=payload)
    if fail:
        raise RuntimeError(f"{name} fails after appending")


async def _bus(database_url: str) -> tuple[Database, EventBus, list[int]]:
    db = Database(database_url)
    await db.migrate()
    bus = EventBus()
    await bus.open(db)
    seen: list[int] = []

    class Recorder:  # a subscriber that notes every id offered to it
        where = type("All", (), {"matches": staticmethod(lambda row: True)})()

        def offer(self, row: log.EventRow) -> None:
            seen.append(row.id)

    bus._add(Recorder())  # type: ignore[arg-type]
    return db, bus, seen


async def _settle(bus: EventBus, db: Database) -> None:
    newest = await db.read(log.last_event_id)
    for _ in range(200):
        if bus.position >= newest and bus._cursor >= newest:
            return
        await asyncio.sleep(0.01)


async def test_a_write_rolled_back_in_a_shared_transaction_hands_over_nothing(database_url: str) -> None:
    db, bus, seen = await _bus(database_url)
    try:
        before = await db.read(log.last_event_id)
        outcomes = await asyncio.gather(
            *(db.write(_append, f"w{i}", fail=i % 2 == 1) for i in range(8)), return_exceptions=True
        )
        failed = [o for o in outcomes if isinstance(o, RuntimeError)]
        assert len(failed) == 4
        await _settle(bus, db)
        committed = await db.read(log.events_after, before)
        assert [row.id for row in committed] == seen
        assert len(seen) == 4 and seen == sorted(seen)
    finally:
        await bus.close()
        await db.close()


async def test_handed_and_read_events_are_offered_once_each_in_order(database_url: str) -> None:
    db, bus, seen = await _bus(database_url)
    other = Database(database_url)  # another engine on the same database: its events must be read
    try:
        before = await db.read(log.last_event_id)
        for i in range(30):
            await (other if i % 3 == 0 else db).write(_append, f"e{i}")
        bus.notify_other()  # as its notification would: the other engine's events come from the log
        await _settle(bus, db)
        committed = [row.id for row in await db.read(log.events_after, before)]
        assert seen == committed and len(seen) == 30
    finally:
        await bus.close()
        await db.close()
        await other.close()


@pytest.mark.parametrize("subscribers", [False, True])
async def test_position_covers_what_this_process_committed(subscribers: bool, tmp_path: object) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/p.db")
    await db.migrate()
    bus = EventBus()
    await bus.open(db)
    try:
        if subscribers:
            bus.subscribe()
        await db.write(_append, "x")
        # Before the dispatcher ran, the bus already knows that id is committed.
        assert bus.position == await db.read(log.last_event_id)
    finally:
        await bus.close()
        await db.close()
