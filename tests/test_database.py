"""Opening databases: bad URLs, an unreachable server and a second open of the same file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PG_URL
from sqlalchemy.engine import make_url

from agentinbox import AgentInboxError, AsyncAgentInbox, ValidationError


@pytest.mark.parametrize("url", ["not a url", "mysql://localhost/x", "oracle://u@h/db"])
async def test_bad_database_urls_are_validation_errors(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        async with AsyncAgentInbox(database_url=url):
            pass
    assert caught.value.code == "validation_error" and "database_url" in caught.value.message


async def test_unreachable_postgresql_is_a_typed_error() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    client = AsyncAgentInbox(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    with pytest.raises(AgentInboxError) as caught:
        await client.inboxes.list()
    assert caught.value.code == "service_unavailable" and "unavailable" in caught.value.message
    await client.close()


async def test_reopening_a_file_keeps_its_data(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mail.db'}"
    async with AsyncAgentInbox(database_url=url) as first:
        inbox = await first.inboxes.create(username="keep", client_id="keep-1")
    async with AsyncAgentInbox(database_url=url) as second:
        again = await second.inboxes.create(username="keep", client_id="keep-1")
        assert again.inbox_id == inbox.inbox_id
        assert (await second.inboxes.list()).count == 1


async def test_in_memory_database_works() -> None:
    async with AsyncAgentInbox(database_url="sqlite+aiosqlite:///:memory:") as client:
        a = await client.inboxes.create(username="a")
        b = await client.inboxes.create(username="b")
        await client.inboxes.messages.send(inbox_id=a.inbox_id, to=[b.inbox_id], subject="hi", text="hello")
        assert (await client.inboxes.threads.list(inbox_id=b.inbox_id)).count == 1


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        AsyncAgentInbox(databse_url="sqlite://")  # type: ignore[call-arg]
    assert "databse_url" in caught.value.message
    with pytest.raises(ValidationError):
        AsyncAgentInbox(default_domain="not a domain")


@pytest.mark.skipif(not PG_URL, reason="AGENTINBOX_TEST_DATABASE_URL is not set")
async def test_a_missing_postgresql_database_is_a_typed_error() -> None:
    url = make_url(PG_URL).set(database="agentinbox_no_such_database")
    client = AsyncAgentInbox(database_url=url.render_as_string(hide_password=False))
    with pytest.raises(AgentInboxError) as refused:
        await client.inboxes.list()
    assert refused.value.code == "service_unavailable"
    assert "agentinbox_no_such_database" in refused.value.message
    await client.close()
