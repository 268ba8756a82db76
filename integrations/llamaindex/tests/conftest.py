"""Fixtures: a real engine, blocking and async, with a clock the tests move.

Each engine runs on a SQLite file and, when ``AGENTINBOX_TEST_DATABASE_URL`` names a PostgreSQL server (as
for the engine's own suite), on a fresh PostgreSQL database too.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from llamaindex_mail import DOMAIN
from sqlalchemy.engine import make_url

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox._clock import ManualClock

PG_URL = os.environ.get("AGENTINBOX_TEST_DATABASE_URL", "")


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(make_url(PG_URL).set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        return
    if not PG_URL:
        pytest.skip("AGENTINBOX_TEST_DATABASE_URL is not set: the PostgreSQL runs are skipped")
    database = f"agentinbox_li_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(PG_URL).set(database=database).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from _database(request.param, tmp_path, "engine")


@pytest.fixture(params=["sqlite", "postgresql"])
def async_engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from _database(request.param, tmp_path, "async-engine")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000_000_000)


@pytest.fixture
def engine(engine_url: str, clock: ManualClock) -> Iterator[AgentInbox]:
    with AgentInbox(database_url=engine_url, default_domain=DOMAIN, clock=clock) as client:
        client.inboxes.create(username="desk")
        yield client


@pytest.fixture
async def aengine(async_engine_url: str, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    async with AsyncAgentInbox(database_url=async_engine_url, default_domain=DOMAIN, clock=clock) as client:
        await client.inboxes.create(username="desk")
        yield client
