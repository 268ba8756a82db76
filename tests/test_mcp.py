"""``agentinbox mcp`` as a real process, driven by the official MCP SDK's client over stdio and streamable HTTP.

One server per transport serves the whole module; the client session lives on a background event loop (an
anyio blocking portal), so each test is a plain function calling it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the MCP server needs the 'server' extra (the mcp package)")

import jsonschema
import mcp_types as types
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agentinbox import AsyncAgentInbox
from agentinbox.server.mcp import call_tool
from agentinbox.tools import TOOLS, AgentTool, ListItemsArgs, get_tool

AGENTINBOX = str(Path(sys.executable).with_name("agentinbox"))


class Session:
    """A connected MCP client session, called from synchronous tests through a blocking portal."""

    def __init__(self, portal: BlockingPortal, session: ClientSession) -> None:
        self.portal = portal
        self.session = session

    def list_tools(self) -> types.ListToolsResult:
        return self.portal.call(self.session.list_tools)

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> types.CallToolResult:
        async def call() -> Any:
            return await self.session.call_tool(name, arguments)

        result = self.portal.call(call)
        assert isinstance(result, types.CallToolResult)
        return result

    def text(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        result = self.call(name, arguments)
        assert not result.is_error, result.content
        return _text(result)


def _text(result: types.CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], types.TextContent)
    return result.content[0].text


def _env(tmp: Path) -> dict[str, str]:
    return {
        "AGENTINBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'mcp.db'}",
        "AGENTINBOX_DEFAULT_DOMAIN": "agents.localhost",
    }


@asynccontextmanager
async def _stdio_session(tmp: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=AGENTINBOX, args=["mcp"], env=_env(tmp))
    with (tmp / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@asynccontextmanager
async def _http_session(url: str) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"agentinbox mcp --http exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp = tmp_path_factory.mktemp("mcp-stdio")
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(_stdio_session(tmp)) as session:
        yield Session(portal, session)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp = tmp_path_factory.mktemp("mcp-http")
    port = _free_port()
    process = subprocess.Popen(
        [AGENTINBOX, "mcp", "--http", f"127.0.0.1:{port}"],
        env={**_env(tmp), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, process)
        url = f"http://127.0.0.1:{port}/mcp"
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(_http_session(url)) as session,
        ):
            yield Session(portal, session)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr, stderr.decode()


def _create_inbox(session: Session, username: str) -> str:
    created = session.text("create_inbox", {"username": username, "display_name": username.title()})
    assert created.startswith("Created inbox {"), created
    inbox = json.loads(created.removeprefix("Created inbox "))
    assert inbox["inbox_id"] == f"{username}@agents.localhost"
    return str(inbox["inbox_id"])


def _thread_of(session: Session, inbox_id: str, subject: str, timeout: float = 20.0) -> str:
    """The thread_id of the thread with ``subject`` in ``inbox_id``, once delivery has put it there."""
    deadline = time.monotonic() + timeout
    while True:
        listing = session.text("list_threads", {"inbox_id": inbox_id})
        for line in listing.splitlines():
            if f"subject: {subject}" in line:
                found = re.search(r"thread_id: (\S+)", line)
                assert found, line
                return found.group(1)
        assert time.monotonic() < deadline, f"no thread {subject!r} in {inbox_id}: {listing}"
        time.sleep(0.1)


def _check_tools(session: Session) -> None:
    listed = {tool.name: tool for tool in session.list_tools().tools}
    assert sorted(listed) == sorted(tool.name for tool in TOOLS)
    for tool in TOOLS:
        definition = listed[tool.name]
        assert definition.description == tool.description
        schema = definition.input_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert schema == tool.args_schema.model_json_schema()
    send = listed["send_message"].input_schema
    assert set(send["required"]) == {"inbox_id", "to"}
    assert send["properties"]["to"]["description"]


def _round_trip(session: Session, prefix: str) -> None:
    agent = _create_inbox(session, f"{prefix}-agent")
    customer = _create_inbox(session, f"{prefix}-customer")
    assert agent in session.text("list_inboxes", {"limit": 100})
    subject = f"Order 1042 via {prefix}"
    sent = session.text(
        "send_message",
        {"inbox_id": agent, "to": [customer], "subject": subject, "text": "Your order has shipped."},
    )
    assert re.fullmatch(r"Sent: message_id <[^>]+>, thread_id \S+", sent), sent
    thread_id = _thread_of(session, customer, subject)
    thread = session.text("get_thread", {"inbox_id": customer, "thread_id": thread_id})
    assert "Your order has shipped." in thread
    assert f"From: {prefix.title()}-Agent <{agent}>" in thread or agent in thread
    found = session.text("search_messages", {"inbox_id": customer, "query": "shipped"})
    assert thread_id in found


def test_stdio_lists_every_tool_with_a_valid_schema(stdio: Session) -> None:
    _check_tools(stdio)


def test_stdio_send_and_read_back_between_local_inboxes(stdio: Session) -> None:
    _round_trip(stdio, "stdio")


def test_stdio_bad_arguments_are_a_tool_error(stdio: Session) -> None:
    result = stdio.call("send_message", {"inbox_id": "nobody@agents.localhost", "subject": "no recipients"})
    assert result.is_error
    text = _text(result)
    assert text.startswith("Error (validation_error): invalid arguments for send_message")
    assert "to: Field required" in text
    assert result.structured_content == {
        "error": {"code": "validation_error", "message": text.removeprefix("Error (validation_error): ")}
    }
    misspelt = stdio.call("list_inboxes", {"limt": 5})
    assert misspelt.is_error and "limt" in _text(misspelt)
    out_of_range = stdio.call("list_inboxes", {"limit": 0})
    assert out_of_range.is_error and "limit" in _text(out_of_range)


def test_stdio_library_errors_keep_their_code(stdio: Session) -> None:
    result = stdio.call("get_inbox", {"inbox_id": "ghost@agents.localhost"})
    assert result.is_error
    text = _text(result)
    assert text.startswith("Error (not_found): ")
    assert "ghost@agents.localhost" in text
    assert "Traceback" not in text
    assert result.structured_content["error"]["code"] == "not_found"


def test_stdio_unknown_tool_is_an_error(stdio: Session) -> None:
    with pytest.raises(MCPError) as raised:
        stdio.call("delete_everything", {})
    assert "unknown tool 'delete_everything'" in raised.value.message
    assert "send_message" in raised.value.message
    # the connection survives it
    assert stdio.text("list_inboxes")


def test_http_lists_every_tool_with_a_valid_schema(http: Session) -> None:
    _check_tools(http)


def test_http_send_and_read_back_between_local_inboxes(http: Session) -> None:
    _round_trip(http, "http")


def test_http_errors(http: Session) -> None:
    bad = http.call("update_message", {"inbox_id": "x@agents.localhost"})
    assert bad.is_error and "message_id: Field required" in _text(bad)
    missing = http.call("get_thread", {"inbox_id": "ghost@agents.localhost", "thread_id": "nope"})
    assert missing.is_error and _text(missing).startswith("Error (not_found): ")
    with pytest.raises(MCPError, match="unknown tool"):
        http.call("no_such_tool")


def test_cli_rejects_a_bad_http_address() -> None:
    done = subprocess.run(
        [AGENTINBOX, "mcp", "--http", "localhost"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "expected host:port" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                AGENTINBOX,
                "mcp",
                "--http",
                f"127.0.0.1:{port}",
                "--database-url",
                "sqlite+aiosqlite:///:memory:",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot serve MCP on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


async def test_an_unexpected_failure_is_reported_without_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(client: AsyncAgentInbox, args: ListItemsArgs) -> str:
        raise RuntimeError("disk on fire at /var/lib/secret")

    tool = AgentTool("broken", "A tool whose every call fails with a bug.", ListItemsArgs, broken)
    async with AsyncAgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}") as client:
        result = await call_tool(client, tool, {})
        listed = await call_tool(client, get_tool("list_inboxes"), None)
    assert result.is_error
    text = _text(result)
    assert text == "Error (internal_error): broken failed unexpectedly; the server log has details"
    assert "secret" not in text and "Traceback" not in text
    assert "disk on fire" in caplog.text  # logged on the server's side
    assert not listed.is_error
