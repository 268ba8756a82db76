"""The official ``agentmail-toolkit`` LangChain tools run against a served engine through the sync SDK
client they wrap. Their calls pass every schema field, so bodies and queries arrive full of nulls, which the
server must read as "not given"; each tool's output must carry the real data."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agentmail_toolkit.langchain import AgentMailToolkit
from http_api import Served, serving
from langchain_core.tools import BaseTool

from agentinbox.models import MessageReceivedEvent

DOMAIN = "agents.test"
NOTES = b"Agenda:\n1. numbers\n2. ship date\n"

#: The SDK encodes the toolkit's attachment models with pydantic's deprecated ``dict()``.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:agentmail.*")


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[Served]:
    async with serving(database_url, default_domain=DOMAIN) as running:
        yield running


class Tools:
    """The toolkit's tools by name, each run in a worker thread (the sync SDK client blocks while this
    loop serves it); ``bodies`` keeps the JSON body of every request they made."""

    def __init__(self, served: Served) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        http = httpx.Client(event_hooks={"request": [self._record]}, timeout=30)
        client = served.sync_sdk(httpx_client=http)
        self._tools: dict[str, BaseTool] = {
            tool.name: tool for tool in AgentMailToolkit(client=client).get_tools()
        }

    def _record(self, request: httpx.Request) -> None:
        if request.content:
            self.bodies.append((request.url.path, json.loads(request.content)))

    def body(self, path_end: str) -> dict[str, Any]:
        """The body of the last request whose path ends with ``path_end``."""
        return next(body for path, body in reversed(self.bodies) if path.endswith(path_end))

    async def __call__(self, name: str, **arguments: Any) -> Any:
        return await asyncio.to_thread(self._tools[name].invoke, arguments)


async def received(served: Served, inbox_id: str, send: Any) -> tuple[Any, MessageReceivedEvent]:
    """Run ``send`` (a coroutine) and return its result with the ``message.received`` it causes."""
    subscription = served.engine.events.subscribe("message.received", inbox_ids=[inbox_id])
    try:
        result = await send
        event = await asyncio.wait_for(anext(aiter(subscription)), 20)
    finally:
        subscription.close()
    assert isinstance(event, MessageReceivedEvent)
    return result, event


async def test_toolkit_tools_against_the_server(served: Served) -> None:
    tools = Tools(served)

    # create_inbox sends {"username": ..., "domain": null, "display_name": null}; all nulls is all defaults.
    sales = await tools("create_inbox", username="sales")
    assert sales.inbox_id == f"sales@{DOMAIN}" and sales.email == sales.inbox_id
    anonymous = await tools("create_inbox", username=None, domain=None, display_name=None)
    assert anonymous.inbox_id.endswith(f"@{DOMAIN}") and anonymous.inbox_id != sales.inbox_id
    assert tools.body("/v0/inboxes") == {"username": None, "domain": None, "display_name": None}
    support = await tools("create_inbox", username="support", display_name="Support Desk")
    assert support.display_name == "Support Desk"

    listed = await tools("list_inboxes")  # limit=10, page_token=null
    assert listed.count == 3 and listed.limit == 10
    assert {i.inbox_id for i in listed.inboxes} == {sales.inbox_id, anonymous.inbox_id, support.inbox_id}
    assert (await tools("get_inbox", inbox_id=support.inbox_id)).display_name == "Support Desk"

    # send_message: cc, bcc, html and labels null; the attachment has content_id and url null and no
    # content_type at all (the server infers it from the file name).
    attachment = {"filename": "notes.txt", "content": base64.b64encode(NOTES).decode()}
    sent, arrival = await received(
        served,
        support.inbox_id,
        tools(
            "send_message",
            inbox_id=sales.inbox_id,
            to=[f"Support Desk <{support.inbox_id}>"],
            subject="Meeting notes",
            text="Notes attached.",
            attachments=[attachment],
        ),
    )
    assert sent.message_id.startswith("<") and sent.thread_id
    send_body = tools.body("/messages/send")
    assert send_body["cc"] is None and send_body["html"] is None and send_body["labels"] is None
    assert send_body["attachments"][0]["url"] is None and "content_type" not in send_body["attachments"][0]
    assert arrival.message.subject == "Meeting notes"

    # list_threads in the receiving inbox with a labels filter (before, after, include_* all null).
    threads = await tools("list_threads", inbox_id=support.inbox_id, labels=["unread"])
    assert [t.subject for t in threads.threads] == ["Meeting notes"]
    item = threads.threads[0]
    assert any(sales.inbox_id in sender for sender in item.senders)
    assert any(support.inbox_id in recipient for recipient in item.recipients)
    thread = await tools("get_thread", inbox_id=support.inbox_id, thread_id=item.thread_id)
    assert [m.subject for m in thread.messages] == ["Meeting notes"]
    message = thread.messages[0]
    assert message.text is not None and message.text.strip() == "Notes attached."
    assert sales.inbox_id in message.from_

    # get_attachment through the thread: metadata and a download link (over http the toolkit does not
    # download it, so the link itself is the output).
    assert message.attachments and message.attachments[0].filename == "notes.txt"
    found = await tools(
        "get_attachment",
        inbox_id=support.inbox_id,
        thread_id=item.thread_id,
        attachment_id=message.attachments[0].attachment_id,
    )
    assert found.filename == "notes.txt" and found.size == len(NOTES)
    assert found.content_type is not None and found.content_type.startswith("text/plain")
    assert found.download_url.startswith(served.base_url)

    # update_message: remove unread (add_labels null).
    updated = await tools(
        "update_message",
        inbox_id=support.inbox_id,
        message_id=message.message_id,
        remove_labels=["unread"],
    )
    assert "unread" not in updated.labels and "received" in updated.labels
    assert tools.body(message.message_id)["add_labels"] is None
    still_unread = await tools("list_threads", inbox_id=support.inbox_id, labels=["unread"])
    assert still_unread.count == 0

    # reply_to_message (reply_all, html, labels, attachments null) lands in the sender's thread.
    reply, back = await received(
        served,
        sales.inbox_id,
        tools(
            "reply_to_message",
            inbox_id=support.inbox_id,
            message_id=message.message_id,
            text="Thanks, see you there.",
        ),
    )
    assert back.message.subject == "Re: Meeting notes"
    assert back.message.thread_id == sent.thread_id and back.message.in_reply_to == sent.message_id
    sales_thread = await tools("get_thread", inbox_id=sales.inbox_id, thread_id=sent.thread_id)
    assert [m.message_id for m in sales_thread.messages] == [sent.message_id, back.message.message_id]
    # One Message-ID, two copies: the replier's in its own thread, the original sender's in theirs.
    assert reply.message_id == back.message.message_id and reply.thread_id == item.thread_id

    # forward_message (subject null: "Fwd: " + the original's) carries the original and its attachment.
    forward, copy = await received(
        served,
        anonymous.inbox_id,
        tools(
            "forward_message",
            inbox_id=support.inbox_id,
            message_id=message.message_id,
            to=[anonymous.inbox_id],
            text="For your records.",
        ),
    )
    assert forward.message_id and copy.message.subject == "Fwd: Meeting notes"
    assert copy.message.text is not None and "For your records." in copy.message.text
    assert "Notes attached." in copy.message.text
    assert [a.filename for a in copy.message.attachments or []] == ["notes.txt"]

    # Failures come back as the tool's error text (handle_tool_error), with the server's message and status.
    missing = await tools("get_thread", inbox_id=support.inbox_id, thread_id="no-such-thread")
    assert isinstance(missing, str) and "(HTTP 404)" in missing
    refused = await tools(
        "send_message", inbox_id=sales.inbox_id, to=["not an address"], subject="x", text="x"
    )
    assert isinstance(refused, str) and "(HTTP 400)" in refused and "not an address" in refused

    # delete_inbox: gone afterwards.
    await tools("delete_inbox", inbox_id=anonymous.inbox_id)
    gone = await tools("get_inbox", inbox_id=anonymous.inbox_id)
    assert isinstance(gone, str) and "(HTTP 404)" in gone
