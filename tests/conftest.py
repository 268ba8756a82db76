"""Shared fixtures: every engine test runs on SQLite and, when AGENTINBOX_TEST_DATABASE_URL is set, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import dnsserver
import pytest
from dnsserver import LoopbackDNS
from peers import Peer
from sqlalchemy.engine import make_url
from tlscert import write_self_signed

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock

PG_URL = os.environ.get("AGENTINBOX_TEST_DATABASE_URL", "")


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database with the schema migrated, copied for each test (much faster than migrating)."""
    if not PG_URL:
        pytest.skip("AGENTINBOX_TEST_DATABASE_URL is not set: the PostgreSQL half of the suite is skipped")
    name = f"agentinbox_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(PG_URL, f'CREATE DATABASE "{name}"'))

    async def migrate() -> None:
        from agentinbox.store.database import Database

        db = Database(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
        await db.migrate()
        await db.close()

    asyncio.run(migrate())
    yield name
    asyncio.run(_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'agentinbox.db'}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"agentinbox_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000_000_000)


@pytest.fixture
async def client(database_url: str, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", clock=clock
    ) as engine:
        yield engine


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    """A scripted SMTP server on loopback (``peers.Peer``) that outbound mail can be delivered to."""
    server = await Peer().start()
    yield server
    await server.stop()


@pytest.fixture
def dns_server() -> Iterator[LoopbackDNS]:
    """A DNS server on loopback whose ``zone`` the test fills; pass ``dns_server.address`` as ``dns_resolver``."""
    yield from dnsserver.serve()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 and localhost: ``(cert_file, key_file)``."""
    folder = tmp_path / "tls"
    folder.mkdir()
    return write_self_signed(folder)
