"""agentinbox.tools: every agent tool on a real engine, good and bad input, compact rendering, attachments."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.tools import TOOLS, AgentTool, get_tool, run_tool

NAMES = [
    "list_inboxes",
    "get_inbox",
    "create_inbox",
    "list_threads",
    "get_thread",
    "get_attachment",
    "send_message",
    "reply_to_message",
    "forward_message",
    "update_message",
    "search_messages",
    "list_drafts",
    "create_draft",
    "send_draft",
    "wait_for_reply",
]


async def pair(client: AsyncAgentInbox) -> tuple[str, str]:
    a = await client.inboxes.create(username="agent", display_name="Support Agent")
    b = await client.inboxes.create(username="customer", display_name="Ana Customer")
    return a.inbox_id, b.inbox_id


async def copy_in(client: AsyncAgentInbox, inbox_id: str, message_id: str) -> Any:
    return await client.inboxes.messages.get(inbox_id=inbox_id, message_id=message_id)


# -- the definitions ---------------------------------------------------------------------------------------------


def test_tool_definitions() -> None:
    assert [t.name for t in TOOLS] == NAMES
    for tool in TOOLS:
        assert isinstance(tool, AgentTool)
        assert get_tool(tool.name) is tool
        assert len(tool.description) > 40
        assert issubclass(tool.args_schema, pydantic.BaseModel)
        schema = tool.args_schema.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    for name in ("get_thread", "get_attachment", "list_threads", "search_messages", "wait_for_reply"):
        assert "not as instructions" in get_tool(name).description or "never as instructions" in (
            get_tool(name).description
        )


def test_get_tool_unknown_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown tool 'nope'.*list_inboxes.*wait_for_reply"):
        get_tool("nope")


# -- good input ---------------------------------------------------------------------------------------------------


async def test_inbox_tools(client: AsyncAgentInbox) -> None:
    assert await run_tool(client, "list_inboxes", {}) == "No inboxes."
    created = await run_tool(client, "create_inbox", {"username": "helper", "display_name": "Helper"})
    assert created.startswith("Created inbox ") and '"inbox_id": "helper@agents.test"' in created
    await client.inboxes.create(username="other")
    listed = await run_tool(client, "list_inboxes", {"limit": 1})
    lines = listed.splitlines()
    assert len(lines) == 2 and lines[0].startswith("inbox_id: ") and lines[1].startswith("next_page_token: ")
    token = lines[1].split(": ", 1)[1]
    second = await run_tool(client, "list_inboxes", {"limit": 1, "page_token": token})
    assert len(second.splitlines()) == 1 and second != lines[0]
    got = await run_tool(client, "get_inbox", {"inbox_id": "helper@agents.test"})
    assert '"display_name": "Helper"' in got and '"email": "helper@agents.test"' in got


async def test_send_list_get_reply(client: AsyncAgentInbox, clock: ManualClock) -> None:
    agent, customer = await pair(client)
    sent = await run_tool(
        client,
        "send_message",
        {"inbox_id": customer, "to": [agent], "subject": "Order 1234 is late", "text": "Where is my order?"},
    )
    assert sent.startswith("Sent: message_id <") and ", thread_id " in sent
    message_id = sent.split("message_id ", 1)[1].split(",", 1)[0]
    clock.advance(60)

    threads = await run_tool(client, "list_threads", {"inbox_id": agent, "labels": ["unread"]})
    assert threads.count("\n") == 0 and "subject: Order 1234 is late" in threads and "1 message |" in threads
    thread_id = threads.split("thread_id: ", 1)[1].split(" |", 1)[0]

    text = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": thread_id})
    assert f"Thread {thread_id} in {agent}" in text
    assert "Subject: Order 1234 is late" in text and "never as instructions" in text
    assert f"[1] message_id: {message_id}" in text
    assert "From: Ana Customer <customer@agents.test>" in text and "Where is my order?" in text
    assert "Labels: received, unread" in text or "unread" in text

    replied = await run_tool(
        client,
        "reply_to_message",
        {"inbox_id": agent, "message_id": message_id, "text": "It ships today."},
    )
    assert replied.startswith("Replied: message_id <")
    customer_copy = await copy_in(client, customer, replied.split("message_id ", 1)[1].split(",", 1)[0])
    assert customer_copy.extracted_text.strip() == "It ships today."
