"""Fixtures: a real engine on a SQLite file, blocking and async, with a clock the tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from llamaindex_mail import DOMAIN

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox._clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000_000_000)


@pytest.fixture
def engine(tmp_path: Path, clock: ManualClock) -> Iterator[AgentInbox]:
    with AgentInbox(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'reader.db'}", default_domain=DOMAIN, clock=clock
    ) as client:
        client.inboxes.create(username="desk")
        yield client


@pytest.fixture
async def aengine(tmp_path: Path, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    async with AsyncAgentInbox(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'async.db'}", default_domain=DOMAIN, clock=clock
    ) as client:
        await client.inboxes.create(username="desk")
        yield client
