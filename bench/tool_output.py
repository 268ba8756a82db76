"""What get_thread hands a model: characters (and estimated tokens) of a 10-message thread, against the raw thread.

    .venv/bin/python bench/tool_output.py

Two threads, each read with the ``get_thread`` tool (``agentinbox.tools``) from a fresh SQLite engine:

- **support**: a customer and an agent write ten messages back and forth, each with a text and an HTML part;
  every reply is made with ``messages.reply``, so it quotes the whole history below it in both parts, as mail
  clients do. The texts are a few sentences each, with a signature.
- **r-devel**: the ten oldest messages of the largest thread (by normalised subject) of the R-devel 2015 mbox
  in ../shared/corpora, delivered into one inbox: real list mail, plain text, quoting by hand.

"raw" is the sum over the thread's messages of ``len(text) + len(html)`` as stored (what a tool that returned the
messages' bodies would show), and "raw RFC 822" the sum of the messages' bytes as sent or received. Tokens are
estimated as characters / 4: tiktoken's encodings are downloaded at run time, which this setup does not do.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from _corpus import MBOX, mbox_messages

from agentinbox import AsyncAgentInbox
from agentinbox.tools import run_tool

CUSTOMER_LINES = [
    "Hello, I ordered the Aurora standing desk (order 58213) three weeks ago and the tracking page has said "
    "'label created' ever since. Could you tell me where it is? I need it before the office move on the 14th.",
    "Thanks for checking. The address is right, but I am away Thursday and Friday, so a delivery then would "
    "fail. Can the courier deliver on Monday or Tuesday instead, or hold it at a depot near Leith Walk?",
    "Tuesday works. One more thing: the confirmation email listed the oak top, but I chose walnut in the "
    "configurator. Can you check which finish is actually being shipped before it leaves?",
    "I have attached a screenshot of the configurator summary showing walnut, and the price I paid matches the "
    "walnut option. I would rather wait a few days than receive the wrong top.",
    "That is fine, I will wait for the walnut one. Please confirm the new delivery date in writing and whether "
    "the delay affects the 30-day return window, which I understood starts on delivery.",
]
AGENT_LINES = [
    "Hi Morgan, thanks for getting in touch and sorry for the silence on the tracking page. I can see the desk "
    "left our warehouse yesterday; the courier scans it at their hub first, which is why nothing showed yet.",
    "Of course. I have asked the courier to deliver on Tuesday between 8:00 and 12:00; you will get a text "
    "message the evening before. Holding it at a depot is also possible if Tuesday changes.",
    "Good catch, and apologies: the packing list does say oak. I have stopped the shipment at the hub while "
    "the warehouse checks the box. I will come back to you today with what they find.",
    "The warehouse confirmed the box holds the oak top, so the order was picked wrongly. A walnut top is "
    "being packed now; it can leave on Wednesday and arrive on Friday, or the following Tuesday if you prefer.",
    "Confirmed: the walnut desk arrives on Tuesday the 20th, 8:00 to 12:00. The 30-day return window starts on "
    "the day it is delivered, so the delay costs you nothing. Sorry again for the trouble.",
]
SIGNATURES = {
    "customer": "\n\nBest,\nMorgan Reyes",
    "agent": "\n\nKind regards,\nSam\nAurora Furniture Support",
}


def html_of(text: str) -> str:
    """An HTML part like a mail client writes it: styled paragraphs, a signature block."""
    paragraphs = "".join(
        f'<p style="margin:0 0 12px 0;font-family:Helvetica,Arial,sans-serif;font-size:14px">{p}</p>'
        for p in text.replace("\n\n", "\0").split("\0")
    )
    return (
        '<html><head><meta charset="utf-8"><style>p{line-height:1.4}</style></head>'
        f'<body><div dir="ltr" class="gmail_default">{paragraphs.replace(chr(10), "<br>")}</div></body></html>'
    )


async def measure(client: AsyncAgentInbox, inbox_id: str, thread_id: str) -> dict[str, int]:
    thread = await client.inboxes.threads.get(inbox_id=inbox_id, thread_id=thread_id, limit=10)
    raw_bodies = sum(len(m.text or "") + len(m.html or "") for m in thread.messages)
    rfc822 = 0
    for m in thread.messages:
        rfc822 += (await client.inboxes.messages.get_raw(inbox_id=inbox_id, message_id=m.message_id)).size
    output = await run_tool(client, "get_thread", {"inbox_id": inbox_id, "thread_id": thread_id, "limit": 10})
    return {"messages": len(thread.messages), "raw": raw_bodies, "rfc822": rfc822, "tool": len(output)}


async def support_thread(client: AsyncAgentInbox) -> dict[str, int]:
    agent = await client.inboxes.create(username="support", display_name="Aurora Support")
    customer = await client.inboxes.create(username="morgan", display_name="Morgan Reyes")
    first_text = CUSTOMER_LINES[0] + SIGNATURES["customer"]
    sent = await client.inboxes.messages.send(
        inbox_id=customer.inbox_id,
        to=[agent.inbox_id],
        subject="Where is my desk? (order 58213)",
        text=first_text,
        html=html_of(first_text),
    )
    last = sent.message_id
    for i in range(1, 10):
        author, lines, sig = (
            (agent, AGENT_LINES, "agent") if i % 2 else (customer, CUSTOMER_LINES, "customer")
        )
        text = lines[i // 2] + SIGNATURES[sig]
        reply = await client.inboxes.messages.reply(
            inbox_id=author.inbox_id, message_id=last, text=text, html=html_of(text)
        )
        last = reply.message_id
    copy = await client.inboxes.messages.get(inbox_id=agent.inbox_id, message_id=sent.message_id)
    return await measure(client, agent.inbox_id, copy.thread_id)


_PREFIX = re.compile(r"^\s*((re|fwd?|aw)\s*:\s*|\[r\]\s*)+", re.IGNORECASE)


def largest_corpus_thread() -> list[bytes]:
    """The ten oldest messages of the R-devel 2015 subject with the most messages (10 or more)."""
    by_subject: dict[str, list[bytes]] = defaultdict(list)
    for raw in mbox_messages():
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        subject = " ".join(str(parsed.get("Subject", "")).split())
        by_subject[_PREFIX.sub("", subject).strip().lower()].append(raw)
    _, messages = max(by_subject.items(), key=lambda item: len(item[1]))
    return messages[:10]


async def corpus_thread(client: AsyncAgentInbox) -> dict[str, int] | None:
    if not MBOX.exists():
        return None
    inbox = await client.inboxes.create(username="rdevel")
    delivered = []
    for raw in largest_corpus_thread():
        delivered += await client.deliver(raw, rcpt_to=[inbox.inbox_id])
    threads: dict[str, int] = defaultdict(int)
    for message in delivered:
        threads[message.thread_id] += 1
    thread_id, _ = max(threads.items(), key=lambda item: item[1])
    return await measure(client, inbox.inbox_id, thread_id)


def row(name: str, m: dict[str, int]) -> str:
    return (
        f"{name:<10} {m['messages']:>4} {m['rfc822']:>10,} {m['raw']:>10,} ~{m['raw'] // 4:>8,} "
        f"{m['tool']:>10,} ~{m['tool'] // 4:>7,} {m['tool'] / m['raw']:>8.1%}"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        async with AsyncAgentInbox(database_url=url, default_domain="agents.test") as client:
            support = await support_thread(client)
            corpus = await corpus_thread(client)
    print("get_thread output vs the raw thread (characters; tokens estimated as characters / 4)")
    print(
        f"{'thread':<10} {'msgs':>4} {'RFC 822':>10} {'text+html':>10} {'~tokens':>9} {'get_thread':>10} "
        f"{'~tokens':>8} {'ratio':>8}"
    )
    print(row("support", support))
    if corpus is None:
        print("r-devel    (the shared corpora are not beside the project; skipped)", file=sys.stderr)
    else:
        print(row("r-devel", corpus))


if __name__ == "__main__":
    asyncio.run(main())
