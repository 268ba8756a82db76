"""Fixtures: a blocking and an async client on a fresh SQLite file, and the seeded support mailbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox._clock import ManualClock
from tests.mailbox import START, Mailbox, seed


def database_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'agentinbox.db'}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[AgentInbox]:
    with AgentInbox(database_url=database_url(tmp_path), default_domain="agents.test", clock=clock) as engine:
        yield engine


@pytest.fixture
async def async_client(tmp_path: Path, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    async with AsyncAgentInbox(
        database_url=database_url(tmp_path), default_domain="agents.test", clock=clock
    ) as engine:
        yield engine


@pytest.fixture
def mailbox(client: AgentInbox, clock: ManualClock) -> Mailbox:
    return seed(client, clock)


@pytest.fixture(scope="module")
def shared_mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    """One seeded engine for a whole module (the standard tool tests call every tool four times)."""
    clock = ManualClock(START)
    folder = tmp_path_factory.mktemp("shared")
    with AgentInbox(database_url=database_url(folder), default_domain="agents.test", clock=clock) as engine:
        yield seed(engine, clock)
