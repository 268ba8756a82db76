"""A served HTTP API for tests: an engine on the test's database with ``http_listen`` on a free loopback
port, its organization key, and the official ``agentmail`` SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agentmail import AgentMail, AsyncAgentMail
from agentmail.environment import AgentMailEnvironment

from agentinbox import AsyncAgentInbox

ORG_KEY = "am_test_organization_key_0123456789"


@dataclass
class Served:
    """A running server: the engine (organization access), its base URL and the key it accepts."""

    engine: AsyncAgentInbox
    base_url: str
    api_key: str = ORG_KEY

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")

    def environment(self) -> AgentMailEnvironment:
        return AgentMailEnvironment(http=self.base_url, websockets=self.ws_url)

    def sdk(self, api_key: str | None = None, **options: Any) -> AsyncAgentMail:
        """The official async SDK as a client of this server (the org key unless another is given)."""
        return AsyncAgentMail(environment=self.environment(), api_key=api_key or self.api_key, **options)

    def sync_sdk(self, api_key: str | None = None, **options: Any) -> AgentMail:
        return AgentMail(environment=self.environment(), api_key=api_key or self.api_key, **options)


@asynccontextmanager
async def serving(database_url: str, **settings: Any) -> AsyncIterator[Served]:
    """An engine serving the HTTP API on 127.0.0.1 (a free port) until the block ends."""
    options: dict[str, Any] = {"http_listen": "127.0.0.1:0", "api_key": ORG_KEY, **settings}
    async with AsyncAgentInbox(database_url=database_url, **options) as engine:
        await engine.start()
        address = engine.http_address
        assert address is not None
        yield Served(engine=engine, base_url=f"http://{address[0]}:{address[1]}")
