"""AgentInboxToolkit and AgentInboxTool on a real engine: the tool set's names, descriptions and schemas
unchanged, sync and async calls with either client, errors as error ToolMessages, and bad input."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pydantic
import pytest
from langchain_agentinbox import AgentInboxTool, AgentInboxToolkit
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, BaseToolkit

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.tools import TOOLS, get_tool
from tests.mailbox import Mailbox, customer_mail, seed


def test_one_tool_per_tool_of_the_tool_set(client: AgentInbox) -> None:
    toolkit = AgentInboxToolkit(client)
    assert isinstance(toolkit, BaseToolkit)
    assert AgentInboxToolkit(client=client).get_tools()[0].name == "list_inboxes"
    tools = toolkit.get_tools()
    assert [t.name for t in tools] == [spec.name for spec in TOOLS]
    for tool, spec in zip(tools, TOOLS, strict=True):
        assert isinstance(tool, BaseTool) and isinstance(tool, AgentInboxTool)
        assert tool.description == spec.description
        assert tool.args_schema is spec.args_schema
        assert tool.client is client and tool.agent_tool is spec
        # What the model sees: the args model's fields and descriptions, nothing of the client.
        schema = tool.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
        assert set(schema.get("properties", {})) == set(spec.args_schema.model_fields)
        assert schema["description"] == spec.description
        assert "client" not in tool.model_dump()


def test_a_subset_of_tools(client: AgentInbox) -> None:
    tools = AgentInboxToolkit(client, tool_names=["reply_to_message", "get_thread"]).get_tools()
    assert [t.name for t in tools] == ["reply_to_message", "get_thread"]
    assert AgentInboxToolkit(client, tool_names=[]).get_tools() == []
    with pytest.raises(ValueError, match=r"unknown tool 'get_threads'.*get_thread"):
        AgentInboxToolkit(client, tool_names=["get_threads"])
    with pytest.raises(ValueError, match="list of tool names"):
        AgentInboxToolkit(client, tool_names="get_thread")


def test_building_a_tool(client: AgentInbox) -> None:
    by_name = AgentInboxTool(client=client, agent_tool="get_thread")
    by_spec = AgentInboxTool(client=client, agent_tool=get_tool("get_thread"))
    assert by_name.name == by_spec.name == "get_thread"
    renamed = AgentInboxTool(client=client, agent_tool="get_thread", name="read_conversation")
    assert renamed.name == "read_conversation" and renamed.args_schema is get_tool("get_thread").args_schema
    with pytest.raises(ValueError, match="unknown tool"):
        AgentInboxTool(client=client, agent_tool="no_such_tool")
    with pytest.raises(pydantic.ValidationError):
        AgentInboxTool(client="not a client", agent_tool="get_thread")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        AgentInboxTool(client=client, agent_tool=42)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        AgentInboxToolkit(object())  # type: ignore[arg-type]


def tools_of(client: AgentInbox | AsyncAgentInbox) -> dict[str, BaseTool]:
    return {tool.name: tool for tool in AgentInboxToolkit(client).get_tools()}


def test_sync_calls_with_the_blocking_client(mailbox: Mailbox) -> None:
    tools = tools_of(mailbox.client)
    text = tools["get_thread"].invoke({"inbox_id": mailbox.support, "thread_id": mailbox.order_thread})
    assert text.startswith(f"Thread {mailbox.order_thread} in support@agents.test")
    assert text.index("Where is it?") < text.index("delivered tomorrow") < text.index("great news")
    assert "> Your parcel" not in text  # the quoted history is left out

    reply = tools["reply_to_message"].invoke(
        {
            "name": "reply_to_message",
            "args": {
                "inbox_id": mailbox.support,
                "message_id": mailbox.refund_question,
                "text": "Refund started.",
            },
            "id": "call-7",
            "type": "tool_call",
        }
    )
    assert isinstance(reply, ToolMessage) and reply.tool_call_id == "call-7" and reply.status == "success"
    assert str(reply.content).startswith("Replied: message_id <")
    thread = mailbox.client.threads.get(thread_id=mailbox.refund_thread)
    assert (thread.messages[-1].text or "").strip().startswith("Refund started.")
    assert thread.messages[-1].to == ["Bob <bob@customer.test>"]

    labels = tools["update_message"].invoke(
        {"inbox_id": mailbox.support, "message_id": mailbox.refund_question, "remove_labels": ["unread"]}
    )
    assert "unread" not in labels and "billing" in labels


async def test_async_calls_with_the_blocking_client(mailbox: Mailbox) -> None:
    tools = tools_of(mailbox.client)
    text = await tools["search_messages"].ainvoke({"inbox_id": mailbox.support, "query": "refund"})
    assert mailbox.refund_question in text and mailbox.order_question not in text
    # Several at once: each runs the blocking call in a worker thread, the event loop stays free.
    results = await asyncio.gather(
        *(tools["get_inbox"].ainvoke({"inbox_id": inbox}) for inbox in (mailbox.support, mailbox.sales))
    )
    assert '"inbox_id": "support@agents.test"' in results[0]
    assert '"inbox_id": "sales@agents.test"' in results[1]


async def test_the_async_client(async_client: AsyncAgentInbox) -> None:
    tools = tools_of(async_client)
    created = await tools["create_inbox"].ainvoke({"username": "support"})
    assert created.startswith('Created inbox {"inbox_id": "support@agents.test"')
    await async_client.deliver(customer_mail("ann@customer.test", "support@agents.test", "Hi", "Any news?"))
    listed = await tools["list_threads"].ainvoke({"inbox_id": "support@agents.test"})
    assert "subject: Hi" in listed and "1 message" in listed
    # That client lives on this loop: a sync call says how to call it instead of blocking the loop.
    with pytest.raises(RuntimeError, match=r"AsyncAgentInbox.*ainvoke"):
        tools["list_inboxes"].invoke({})


async def test_wait_for_reply_returns_the_mail_that_arrives(async_client: AsyncAgentInbox) -> None:
    inbox = (await async_client.inboxes.create(username="support")).inbox_id
    waiting = asyncio.create_task(
        tools_of(async_client)["wait_for_reply"].ainvoke({"inbox_id": inbox, "timeout": 30})
    )
    # Only mail arriving after the waiter started counts: deliver until it has one (the first normally).
    sent = 0
    while not waiting.done():
        sent += 1
        await async_client.deliver(
            customer_mail("ann@customer.test", inbox, f"Answer {sent}", "Yes, please.")
        )
        await asyncio.wait({waiting}, timeout=0.05)
    text = waiting.result()
    assert text.startswith("New message in thread ") and "Subject: Answer " in text and "Yes, please." in text


def test_errors_come_back_as_error_messages(mailbox: Mailbox) -> None:
    tools = tools_of(mailbox.client)
    arguments = {"inbox_id": mailbox.support, "thread_id": "no-such-thread"}
    call: dict[str, Any] = {
        "name": "get_thread",
        "args": arguments,
        "id": "call-1",
        "type": "tool_call",
    }
    message = tools["get_thread"].invoke(call)
    assert isinstance(message, ToolMessage) and message.status == "error"
    assert str(message.content).startswith("Error: ") and "no-such-thread" in str(message.content)
    # Without a ToolCall the same text is the result (no exception for a caller to handle).
    text = tools["get_thread"].invoke(dict(arguments))
    assert text == message.content
    refused = tools["send_message"].invoke(
        {"inbox_id": mailbox.support, "to": ["not an address"], "text": "x"}
    )
    assert refused.startswith("Error: ")
    # The other inbox's thread is not in this one.
    other = tools["get_thread"].invoke({"inbox_id": mailbox.support, "thread_id": mailbox.pricing_thread})
    assert other.startswith("Error: ")


def test_arguments_the_schema_refuses(mailbox: Mailbox) -> None:
    tools = tools_of(mailbox.client)
    bad: list[tuple[str, dict[str, Any]]] = [
        ("get_thread", {"thread_id": mailbox.order_thread}),  # inbox_id missing
        ("get_thread", {"inbox_id": mailbox.support, "thread_id": mailbox.order_thread, "limit": 0}),
        ("get_thread", {"inbox_id": mailbox.support, "thread_id": mailbox.order_thread, "thread": "x"}),
        ("search_messages", {"inbox_id": mailbox.support, "query": ""}),
        ("list_threads", {"inbox_id": mailbox.support, "after": "yesterday"}),
        ("wait_for_reply", {"inbox_id": mailbox.support, "timeout": -1}),
    ]
    for name, args in bad:
        # LangChain validates against args_schema before the tool runs (create_agent hands the error
        # to the model); nothing reaches the engine.
        with pytest.raises(pydantic.ValidationError):
            tools[name].invoke(args)


# The closed client's portal refuses the coroutine without closing it (agentinbox's warning, not ours).
@pytest.mark.filterwarnings("ignore:coroutine 'run_tool' was never awaited:RuntimeWarning")
def test_tools_of_a_closed_client_fail_loudly(tmp_path: Path) -> None:
    client = AgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    tool = tools_of(client)["list_inboxes"]
    client.close()
    with pytest.raises(RuntimeError):
        tool.invoke({})
    gc.collect()  # the refused coroutine's warning, here where it is filtered


def test_an_exchange_through_the_tools_only(client: AgentInbox, clock: ManualClock) -> None:
    """Send, list, draft, list drafts, send the draft: each step through a tool, each step's effect seen."""
    box = seed(client, clock)
    tools = tools_of(client)
    sent = tools["send_message"].invoke(
        {
            "inbox_id": box.support,
            "to": [box.sales],
            "subject": "Lead",
            "text": "A customer asks for a quote.",
        }
    )
    assert sent.startswith("Sent: message_id ")
    threads = tools["list_threads"].invoke({"inbox_id": box.sales, "labels": ["unread"]})
    assert "subject: Lead" in threads
    draft = tools["create_draft"].invoke({"inbox_id": box.sales, "to": [box.support], "text": "On it."})
    draft_id = draft.split("draft_id: ")[1].split(" |")[0]
    assert draft_id in tools["list_drafts"].invoke({"inbox_id": box.sales})
    assert tools["send_draft"].invoke({"inbox_id": box.sales, "draft_id": draft_id}).startswith("Sent draft:")
    assert tools["list_drafts"].invoke({"inbox_id": box.sales}) == "No drafts."
