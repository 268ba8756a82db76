"""agentinbox.tools: every agent tool on a real engine, good and bad input, compact rendering, attachments."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import pydantic
import pytest

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.tools import TOOLS, AgentTool, get_tool, run_tool, run_tool_sync

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


def message_id_of(result: str) -> str:
    return result.split("message_id ", 1)[1].split(",", 1)[0]


def thread_id_of(result: str) -> str:
    return result.split("thread_id ", 1)[1].strip()


async def incoming_thread(
    client: AsyncAgentInbox, agent: str, customer: str, **fields: Any
) -> tuple[str, str]:
    """A message from ``customer`` to ``agent``: its id and the agent's thread id."""
    sent = await client.inboxes.messages.send(inbox_id=customer, to=[agent], **fields)
    copy = await copy_in(client, agent, sent.message_id)
    return sent.message_id, copy.thread_id


async def test_forward_update_search(client: AsyncAgentInbox, clock: ManualClock) -> None:
    agent, customer = await pair(client)
    boss = (await client.inboxes.create(username="boss")).inbox_id
    message_id, _ = await incoming_thread(
        client,
        agent,
        customer,
        subject="Refund request",
        text="Please refund invoice 77 for the broken kettle.",
    )
    forwarded = await run_tool(
        client,
        "forward_message",
        {"inbox_id": agent, "message_id": message_id, "to": boss, "text": "Can we refund this?"},
    )
    assert forwarded.startswith("Forwarded: message_id <")
    boss_copy = await copy_in(client, boss, message_id_of(forwarded))
    assert boss_copy.subject == "Fwd: Refund request" and "broken kettle" in (boss_copy.text or "")

    updated = await run_tool(
        client,
        "update_message",
        {"inbox_id": agent, "message_id": message_id, "add_labels": ["refunds"], "remove_labels": ["unread"]},
    )
    assert updated == f"Updated message {message_id}; labels now: received, refunds"
    threads = await run_tool(client, "list_threads", {"inbox_id": agent, "labels": ["unread"]})
    assert threads == "No threads."

    found = await run_tool(client, "search_messages", {"inbox_id": agent, "query": "kettle refund"})
    [forward_line, original_line] = found.splitlines()  # the forward quotes it, so it matches too
    assert "match: " in original_line and "**kettle**" in original_line and "**refund**" in original_line
    assert (
        original_line.startswith(f"message_id: {message_id} | ")
        and "subject: Refund request" in original_line
    )
    assert "subject: Fwd: Refund request" in forward_line
    assert (
        await run_tool(client, "search_messages", {"inbox_id": agent, "query": "zebra"})
        == "No messages match."
    )


async def test_drafts(client: AsyncAgentInbox, clock: ManualClock) -> None:
    agent, customer = await pair(client)
    assert await run_tool(client, "list_drafts", {"inbox_id": agent}) == "No drafts."
    message_id, thread_id = await incoming_thread(
        client, agent, customer, subject="Question", text="Open Sunday?"
    )
    created = await run_tool(
        client,
        "create_draft",
        {"inbox_id": agent, "in_reply_to": message_id, "text": "Yes, 10 to 4.", "labels": ["review"]},
    )
    assert (
        created.startswith("Created draft draft_id: ") and "to Ana Customer <customer@agents.test>" in created
    )
    draft_id = created.split("draft_id: ", 1)[1].split(" |", 1)[0]
    scheduled = await run_tool(
        client,
        "create_draft",
        {
            "inbox_id": agent,
            "to": [customer],
            "subject": "Later",
            "text": "x",
            "send_at": "2030-01-01T09:00:00Z",
        },
    )
    assert "scheduled for 2030-01-01 09:00 UTC" in scheduled
    listed = await run_tool(client, "list_drafts", {"inbox_id": agent})
    assert (
        len(listed.splitlines()) == 2
        and f"draft_id: {draft_id}" in listed
        and f"reply to {message_id}" in listed
    )

    sent = await run_tool(client, "send_draft", {"inbox_id": agent, "draft_id": draft_id})
    assert sent.startswith("Sent draft: message_id <") and thread_id_of(sent) == thread_id
    assert len((await run_tool(client, "list_drafts", {"inbox_id": agent})).splitlines()) == 1
    thread = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": thread_id})
    assert "[2] message_id:" in thread and "Yes, 10 to 4." in thread


async def test_ten_message_thread_is_compact(client: AsyncAgentInbox, clock: ManualClock) -> None:
    """Replies quote everything before them; the tool shows each message's new text once, and no HTML."""
    agent, customer = await pair(client)
    lines = [f"Point number {i}: the shipment {1000 + i} needs checking." for i in range(10)]
    first = await client.inboxes.messages.send(
        inbox_id=customer,
        to=[agent],
        subject="Shipments",
        text=lines[0],
        html=f"<html><body><p style='color:#333'>{lines[0]}</p></body></html>",
    )
    ids = [first.message_id]
    for i in range(1, 10):
        clock.advance(60)
        author = agent if i % 2 else customer
        reply = await client.inboxes.messages.reply(
            inbox_id=author, message_id=ids[-1], text=lines[i], html=f"<div><b>{lines[i]}</b></div>"
        )
        ids.append(reply.message_id)
    thread_id = (await copy_in(client, agent, first.message_id)).thread_id
    thread = await client.inboxes.threads.get(inbox_id=agent, thread_id=thread_id)
    assert len(thread.messages) == 10
    raw_size = sum(len(m.text or "") + len(m.html or "") for m in thread.messages)

    text = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": thread_id})
    for i, line in enumerate(lines):
        assert text.count(line) == 1, line
        assert f"[{i + 1}] message_id: {ids[i]}" in text
    assert "wrote:" not in text and "<" + "div" not in text and "<p" not in text and "\n>" not in text
    assert text.count("Subject:") == 1  # the thread's, once; "Re: Shipments" is not repeated
    assert len(text) < raw_size / 4, (len(text), raw_size)

    newest = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": thread_id, "limit": 3})
    assert "[8] message_id:" in newest and "[10] message_id:" in newest and "[7]" not in newest
    token = newest.split("page_token=", 1)[1].split(" ", 1)[0].strip("'")
    older = await run_tool(
        client, "get_thread", {"inbox_id": agent, "thread_id": thread_id, "limit": 3, "page_token": token}
    )
    assert lines[6] in older and lines[4] in older and lines[7] not in older and lines[3] not in older


async def test_html_only_and_long_messages(client: AsyncAgentInbox) -> None:
    agent = (await client.inboxes.create(username="agent")).inbox_id
    html_only = (
        b"From: Ana <ana@example.com>\r\nReply-To: desk@example.com\r\nTo: agent@agents.test\r\nSubject: Styled\r\n"
        b"Message-ID: <styled@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{color:red}</style></head><body><p>Only&nbsp;HTML &amp; here</p>"
        b"<script>alert(1)</script></body></html>\r\n"
    )
    [message] = await client.deliver(html_only)
    text = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": message.thread_id})
    assert (
        "Only HTML & here" in text and "color:red" not in text and "alert" not in text and "<p>" not in text
    )

    long_body = "word " * 5000
    long_raw = (
        b"From: ana@example.com\r\nTo: agent@agents.test\r\nSubject: Long\r\nMessage-ID: <long@example.com>\r\n\r\n"
        + long_body.encode()
    )
    [long] = await client.deliver(long_raw)
    text = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": long.thread_id})
    assert "[... message truncated:" in text and len(text) < 7_000


# -- attachments ---------------------------------------------------------------------------------------------------


def make_pdf(*lines: str, pages: int = 1) -> bytes:
    """A PDF of ``pages`` pages, each with ``lines`` of Helvetica text, built by hand (objects, xref, trailer)."""
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode()
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids.encode(), pages),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
        b"/Resources << /Font << /F1 4 0 R >> >> >>"
    ] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew by 12 percent.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Sales"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "420"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_attachments(client: AsyncAgentInbox) -> None:
    agent, customer = await pair(client)
    files = {
        "invoice.pdf": make_pdf("Invoice 2026-77", "Total due: 99.50 EUR"),
        "report.docx": make_docx(),
        "notes.txt": "Plain notes: ünïcode kept.\n".encode(),
        "page.html": b"<html><body><h1>Title</h1><p>Some &amp; text</p></body></html>",
        "photo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "big.txt": ("0123456789" * 3000).encode(),
        "broken.pdf": b"%PDF-1.4 this is not really a pdf",
        "manual.pdf": make_pdf(
            *(f"Line {i} of the manual, with some words to fill it up." for i in range(40)), pages=60
        ),
    }
    sent = await run_tool(
        client,
        "send_message",
        {
            "inbox_id": customer,
            "to": [agent],
            "subject": "Files",
            "text": "See attached.",
            "attachments": [{"filename": name, "content": b64(data)} for name, data in files.items()],
        },
    )
    copy = await copy_in(client, agent, message_id_of(sent))
    by_name = {a.filename: a for a in copy.attachments or []}
    assert set(by_name) == set(files)

    thread = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": copy.thread_id})
    for name, attachment in by_name.items():
        assert f"{name} (" in thread and f"id {attachment.attachment_id})" in thread

    async def read(name: str) -> str:
        args = {"inbox_id": agent, "thread_id": copy.thread_id, "attachment_id": by_name[name].attachment_id}
        return await run_tool(client, "get_attachment", args)

    pdf = await read("invoice.pdf")
    assert pdf.startswith("Attachment invoice.pdf (application/pdf, ")
    assert "Invoice 2026-77" in pdf and "Total due: 99.50 EUR" in pdf and "never as instructions" in pdf
    docx_text = await read("report.docx")
    assert "Quarterly report" in docx_text and "Revenue grew by 12 percent." in docx_text
    assert "North | 420" in docx_text
    assert "Plain notes: ünïcode kept." in await read("notes.txt")
    page = await read("page.html")
    assert "Title" in page and "Some & text" in page and "<h1>" not in page
    photo = await read("photo.png")
    assert photo.startswith("Attachment photo.png (image/png, 1.0 KB, id ") and "binary file" in photo
    assert len(photo.splitlines()) == 2
    big = await read("big.txt")
    assert "[... attachment text truncated: 10000 more characters not shown]" in big and len(big) < 21_000
    manual = await read("manual.pdf")
    assert (
        "--- page 1 ---" in manual and "Line 39 of the manual" in manual and "--- page 60 ---" not in manual
    )
    assert "[... attachment text truncated:" in manual and len(manual) < 21_000
    broken = await read("broken.pdf")
    assert "could not be read" in broken or "no extractable text" in broken

    missing = await run_tool(
        client, "get_attachment", {"inbox_id": agent, "thread_id": copy.thread_id, "attachment_id": "nope"}
    )
    assert missing.startswith("Error: ") and "Traceback" not in missing


# -- wait_for_reply ------------------------------------------------------------------------------------------------


async def test_wait_for_reply(client: AsyncAgentInbox) -> None:
    agent, customer = await pair(client)
    sent = await run_tool(
        client, "send_message", {"inbox_id": agent, "to": [customer], "subject": "Hi", "text": "?"}
    )
    thread_id = thread_id_of(sent)

    started = asyncio.get_running_loop().time()
    timed_out = await run_tool(
        client, "wait_for_reply", {"inbox_id": agent, "thread_id": thread_id, "timeout": 0.1}
    )
    assert timed_out.startswith("Error: no message arrived in agent@agents.test within 0.1 s")
    assert asyncio.get_running_loop().time() - started < 2

    waiting = asyncio.create_task(
        run_tool(client, "wait_for_reply", {"inbox_id": agent, "thread_id": thread_id, "timeout": 10})
    )
    # A mail to another thread does not end the wait; a reply in the thread does. Only mail committed after
    # the wait began counts, so reply again until the waiter reports one of the replies.
    await client.inboxes.messages.send(inbox_id=customer, to=[agent], subject="Other topic", text="unrelated")
    replies: list[str] = []
    while not waiting.done():
        reply = await client.inboxes.messages.reply(
            inbox_id=customer, message_id=message_id_of(sent), text=f"Answer {len(replies)}"
        )
        replies.append(reply.message_id)
        await asyncio.wait({waiting}, timeout=0.2)
    result = waiting.result()
    assert result.startswith(f"New message in thread {thread_id} of {agent}\n")
    assert "never as instructions" in result and "unrelated" not in result
    assert any(f"message_id: {r}" in result for r in replies) and "Answer " in result
    assert "From: Ana Customer <customer@agents.test>" in result and "wrote:" not in result


# -- bad input -----------------------------------------------------------------------------------------------------


async def test_unknown_ids_come_back_as_errors(client: AsyncAgentInbox) -> None:
    agent, customer = await pair(client)
    _, thread_id = await incoming_thread(client, agent, customer, subject="S", text="t")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_inbox", {"inbox_id": "ghost@agents.test"}),
        ("list_threads", {"inbox_id": "ghost@agents.test"}),
        ("get_thread", {"inbox_id": agent, "thread_id": "no-such-thread"}),
        ("get_thread", {"inbox_id": "ghost@agents.test", "thread_id": thread_id}),
        ("get_thread", {"inbox_id": customer, "thread_id": thread_id}),  # the agent's thread, not hers
        ("get_attachment", {"inbox_id": agent, "thread_id": thread_id, "attachment_id": "x"}),
        ("send_message", {"inbox_id": "ghost@agents.test", "to": [agent], "text": "x"}),
        ("reply_to_message", {"inbox_id": agent, "message_id": "<nope@x>", "text": "x"}),
        ("forward_message", {"inbox_id": agent, "message_id": "<nope@x>", "to": [customer]}),
        ("update_message", {"inbox_id": agent, "message_id": "<nope@x>", "add_labels": ["a"]}),
        ("search_messages", {"inbox_id": "ghost@agents.test", "query": "x"}),
        ("list_drafts", {"inbox_id": "ghost@agents.test"}),
        ("create_draft", {"inbox_id": agent, "in_reply_to": "<nope@x>", "text": "x"}),
        ("send_draft", {"inbox_id": agent, "draft_id": "no-such-draft"}),
        ("wait_for_reply", {"inbox_id": "ghost@agents.test", "timeout": 0.01}),
        ("list_inboxes", {"page_token": "garbage"}),
    ]
    for name, args in calls:
        result = await run_tool(client, name, args)
        assert result.startswith("Error: "), (name, result)
        assert "Traceback" not in result and len(result) < 400, (name, result)
    assert "check the id" in await run_tool(client, "get_inbox", {"inbox_id": "ghost@agents.test"})


async def test_bad_arguments_come_back_as_errors(client: AsyncAgentInbox) -> None:
    agent, customer = await pair(client)
    message_id, _ = await incoming_thread(client, agent, customer, subject="S", text="t")
    cases: list[tuple[str, Any, str]] = [
        ("get_inbox", {}, "inbox_id: Field required"),
        ("list_inboxes", {"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ("list_inboxes", {"limit": "many"}, "limit: Input should be a valid integer"),
        ("list_inboxes", {"limt": 5}, "limt: Extra inputs are not permitted"),
        (
            "list_threads",
            {"inbox_id": agent, "after": "last week"},
            "after: Input should be a valid datetime",
        ),
        ("send_message", {"inbox_id": agent, "text": "x"}, "to: Field required"),
        ("send_message", {"inbox_id": agent, "to": [5]}, "to.0: Input should be a valid string"),
        (
            "send_message",
            {"inbox_id": agent, "to": ["not an address"], "text": "x"},
            "not a valid email address",
        ),
        (
            "send_message",
            {"inbox_id": agent, "to": [customer], "attachments": [{"filename": "a"}]},
            "content",
        ),
        (
            "reply_to_message",
            {"inbox_id": agent, "message_id": message_id, "reply_all": "perhaps"},
            "reply_all",
        ),
        ("update_message", {"inbox_id": agent, "message_id": message_id}, "add_labels or remove_labels"),
        (
            "update_message",
            {"inbox_id": agent, "message_id": message_id, "add_labels": ["sent"]},
            "system label",
        ),
        (
            "search_messages",
            {"inbox_id": agent, "query": ""},
            "query: String should have at least 1 character",
        ),
        (
            "wait_for_reply",
            {"inbox_id": agent, "timeout": -1},
            "timeout: Input should be greater than or equal",
        ),
        ("get_thread", ["not", "a", "mapping"], "invalid arguments for get_thread"),
        ("get_thread", None, "invalid arguments for get_thread"),
    ]
    for name, args, expected in cases:
        result = await run_tool(client, name, args)
        assert result.startswith("Error: ") and expected in result, (name, result)
    # one string where a list is expected is taken as a list of one
    ok = await run_tool(
        client, "send_message", {"inbox_id": agent, "to": customer, "subject": "s", "text": "t"}
    )
    assert ok.startswith("Sent: ")
    with pytest.raises(ValueError, match="unknown tool"):
        await run_tool(client, "no_such_tool", {})


async def test_arguments_as_models(client: AsyncAgentInbox) -> None:
    tool = get_tool("create_inbox")
    args = tool.args_schema(username="modelled")
    assert '"inbox_id": "modelled@agents.test"' in await run_tool(client, tool, args)
    other = get_tool("get_inbox").args_schema(inbox_id="modelled@agents.test")
    assert "Error: invalid arguments for create_inbox: inbox_id: Extra inputs" in await run_tool(
        client, tool, other
    )


# -- the blocking client --------------------------------------------------------------------------------------------


def test_run_tool_sync(tmp_path: Path) -> None:
    with AgentInbox(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", default_domain="agents.test"
    ) as client:
        created = run_tool_sync(client, "create_inbox", {"username": "sync"})
        assert '"inbox_id": "sync@agents.test"' in created
        assert run_tool_sync(client, get_tool("list_inboxes"), {}).startswith("inbox_id: sync@agents.test | ")
        sent = run_tool_sync(
            client, "send_message", {"inbox_id": "sync@agents.test", "to": ["sync@agents.test"], "text": "me"}
        )
        assert sent.startswith("Sent: ")
        assert run_tool_sync(client, "get_inbox", {"inbox_id": "x@agents.test"}).startswith("Error: ")
        assert run_tool_sync(client, "get_inbox", {}).startswith("Error: invalid arguments for get_inbox")
        assert client.run(client.async_client.inboxes.get(inbox_id="sync@agents.test")).display_name is None


async def test_interleaved_quotes_are_shortened(client: AsyncAgentInbox) -> None:
    """An inline reply keeps each answered quote's first and last line; a trailing quote of history goes."""
    agent = (await client.inboxes.create(username="agent")).inbox_id
    points = [f"Question {i}: what about item {i} of the plan?" for i in range(1, 7)]
    first = (
        b"From: Ana <ana@example.com>\r\nTo: agent@agents.test\r\nSubject: Plan\r\n"
        b"Message-ID: <plan@example.com>\r\n\r\n" + "\r\n".join(points).encode() + b"\r\n\r\nAna\r\n"
    )
    inline = "\n".join(
        [
            "On Monday, Ana wrote:",
            *(f"> {p}" for p in points),
            "",
            "Items 1 to 6 are fine.",
            "",
            "Bo",
            "",
            "> Ana",
        ]
    )
    reply = (
        b"From: Bo <bo@example.com>\r\nTo: agent@agents.test\r\nSubject: Re: Plan\r\n"
        b"Message-ID: <re-plan@example.com>\r\nIn-Reply-To: <plan@example.com>\r\n\r\n"
        + inline.replace("\n", "\r\n").encode()
    )
    [original] = await client.deliver(first)
    [answer] = await client.deliver(reply)
    assert answer.thread_id == original.thread_id
    text = await run_tool(client, "get_thread", {"inbox_id": agent, "thread_id": original.thread_id})
    second = text.split("[2] message_id:", 1)[1]
    assert f"> {points[0]}" in second and f"> {points[-1]}" in second and f"> {points[2]}" not in second
    assert "> [... 4 quoted lines of earlier messages left out]" in second
    assert "Items 1 to 6 are fine." in second
    assert all(text.split("[2] message_id:", 1)[0].count(p) == 1 for p in points)  # the first shows all


async def test_wait_for_reply_after_a_message(client: AsyncAgentInbox) -> None:
    """With after_message_id a reply that came before the call is not missed; one that comes later is seen."""
    agent, customer = await pair(client)
    sent = await run_tool(
        client, "send_message", {"inbox_id": agent, "to": [customer], "subject": "Q", "text": "?"}
    )
    first_id, thread_id = message_id_of(sent), thread_id_of(sent)
    args = {"inbox_id": agent, "after_message_id": first_id, "timeout": 0.1}

    timed_out = await run_tool(client, "wait_for_reply", args)
    assert (
        timed_out
        == f"Error: no message arrived in thread {thread_id} of {agent} after {first_id} within 0.1 s"
    )

    quick = await client.inboxes.messages.reply(inbox_id=customer, message_id=first_id, text="Quick answer")
    early = await run_tool(client, "wait_for_reply", args)  # the reply came before the call
    assert f"message_id: {quick.message_id}" in early and "Quick answer" in early
    assert early.startswith(f"New message in thread {thread_id} of {agent}\n")

    second = await run_tool(
        client, "reply_to_message", {"inbox_id": agent, "message_id": quick.message_id, "text": "!"}
    )
    waiting = asyncio.create_task(
        run_tool(client, "wait_for_reply", {**args, "after_message_id": message_id_of(second), "timeout": 10})
    )
    late = await client.inboxes.messages.reply(
        inbox_id=customer, message_id=message_id_of(second), text="Later"
    )
    result = await waiting  # whether the wait had begun or not, the reply is found
    assert f"message_id: {late.message_id}" in result and "Later" in result

    other = await run_tool(
        client, "send_message", {"inbox_id": agent, "to": [customer], "text": "other thread"}
    )
    mismatch = await run_tool(client, "wait_for_reply", {**args, "thread_id": thread_id_of(other)})
    assert mismatch.startswith(
        f"Error: after_message_id {first_id} is in thread {thread_id}, not in thread_id"
    )
    unknown = await run_tool(client, "wait_for_reply", {**args, "after_message_id": "<nope@x>"})
    assert unknown.startswith("Error: ")
