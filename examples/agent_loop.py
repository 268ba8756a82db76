"""A custom async agent loop: woken by arriving mail, it reads only what the sender just wrote (the extracted
reply, without the quoted history) and answers in the thread.

The loop is a durable consumer (``client.events.consume``): it acknowledges a message only after the agent
answered it, and a restarted agent resumes after the last one it acknowledged. So mail that arrives while the
agent is down is answered when it comes back, and nothing is missed. The "model" here is a few rules, to keep
the example self-contained; put your LLM call in ``think``.

Everything runs on loopback: the engine (one SQLite file) receives SMTP on a free port, and relays its answers
to a small capture server standing in for the customer's mail server. Run it with
``.venv/bin/python examples/agent_loop.py``.
"""

from __future__ import annotations

import asyncio
import email
import socket
import tempfile
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from agentinbox import AsyncAgentInbox
from agentinbox.models import MessageReceivedEvent

GROUP = "helpdesk-agent"


class CustomerMailServer:
    """The customer's mail server: keeps what the agent sends, so the customer can read and answer it."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[EmailMessage] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.original_content or b"", policy=default)
        self.loop.call_soon_threadsafe(self.inbox.put_nowait, message)  # type: ignore[arg-type]
        return "250 2.0.0 Ok"


def think(text: str) -> str:
    """The agent's decision: what to answer to what the customer just wrote."""
    lowered = text.lower()
    if "refund" in lowered:
        return "I have started your refund; it reaches your card within five working days."
    if "arrived" in lowered or "where" in lowered:
        return "Your parcel is at the local depot and will be delivered tomorrow morning."
    if "thank" in lowered:
        return "You're welcome! I'm closing this ticket; just reply if anything else comes up."
    return "Thanks for writing. A colleague will get back to you today."


def customer_mail(to: str, subject: str, text: str, *, answering: EmailMessage | None = None) -> EmailMessage:
    """A mail as the customer's mail program writes it; an answer quotes the agent's text below it."""
    mail = EmailMessage()
    mail["From"] = "Alice <alice@customer.test>"
    mail["To"] = to
    mail["Subject"] = subject
    if answering is not None:
        mail["In-Reply-To"] = answering["Message-ID"]
        mail["References"] = answering["Message-ID"]
        body = answering.get_body(preferencelist=("plain",))
        quoted = "\n".join("> " + line for line in (body.get_content() if body else "").splitlines())
        text = f"{text}\n\nOn Mon, support wrote:\n{quoted}\n"
    mail.set_content(text)
    return mail


async def run_agent(client: AsyncAgentInbox, inbox_id: str, answered: asyncio.Queue[str]) -> None:
    """Start the agent: a durable consumer of the inbox's received mail that answers each message."""

    async def on_mail(event: MessageReceivedEvent) -> None:
        woke = time.perf_counter()
        message = event.message
        new_text = (message.extracted_text or message.text or "").strip()
        answer = think(new_text)
        await client.inboxes.messages.reply(inbox_id=inbox_id, message_id=message.message_id, text=answer)
        await client.inboxes.messages.update(
            inbox_id=inbox_id, message_id=message.message_id, remove_labels=["unread"]
        )
        print(f"  agent woke for {message.subject!r} from {message.from_}")
        print(f"    customer wrote (extracted reply): {new_text!r}")
        print(f"    agent answered in thread {message.thread_id}: {answer!r}")
        print(f"    ({(time.perf_counter() - woke) * 1000:.1f} ms from waking to the answer being queued)")
        await answered.put(message.message_id)

    client.events.consume(
        group=GROUP, handler=on_mail, event_types=["message.received"], inbox_ids=[inbox_id]
    )


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="agentinbox-agent-loop-"))
    customer = CustomerMailServer()
    with socket.socket() as probe:  # a free loopback port for the customer's mail server
        probe.bind(("127.0.0.1", 0))
        capture_port = probe.getsockname()[1]
    capture = Controller(
        customer, hostname="127.0.0.1", port=capture_port, server_hostname="mail.customer.test"
    )
    capture.start()
    settings = {
        "database_url": f"sqlite+aiosqlite:///{folder / 'agentinbox.db'}",
        "smtp_listen": "127.0.0.1:0",
        "relay_url": f"smtp://127.0.0.1:{capture_port}",
    }
    try:
        # 1. The engine runs, but the agent does not yet: a customer writes anyway.
        async with AsyncAgentInbox(**settings) as client:
            await client.start()
            assert client.smtp_address is not None
            host, port = client.smtp_address
            inbox = await client.inboxes.create(username="helpdesk", client_id="helpdesk")
            print(f"engine receives SMTP on {host}:{port}; the agent's inbox is {inbox.inbox_id}")
            first = customer_mail(inbox.inbox_id, "My order has not arrived", "Where is my order #1234?")
            await aiosmtplib.send(first, hostname=host, port=port)
            print("customer's mail accepted (250) while no agent was running; the engine stops")

        # 2. The engine and the agent start: the agent is woken for the mail it missed.
        async with AsyncAgentInbox(**settings) as client:
            await client.start()
            assert client.smtp_address is not None
            host, port = client.smtp_address
            answered: asyncio.Queue[str] = asyncio.Queue()
            print("engine and agent start again:")
            await run_agent(client, inbox.inbox_id, answered)
            await asyncio.wait_for(answered.get(), 30)

            # 3. The answer reaches the customer, who answers it, quoting the agent's text.
            reply = await asyncio.wait_for(customer.inbox.get(), 30)
            print(f"customer's mail server received {reply['Subject']!r}")
            follow_up = customer_mail(
                inbox.inbox_id, f"Re: {first['Subject']}", "Thank you, that's great news!", answering=reply
            )
            await aiosmtplib.send(follow_up, hostname=host, port=port)
            print("customer answered in the thread; the agent is woken at once:")
            await asyncio.wait_for(answered.get(), 30)
            await asyncio.wait_for(customer.inbox.get(), 30)

            thread = (await client.inboxes.threads.list(inbox_id=inbox.inbox_id)).threads[0]
            full = await client.threads.get(thread_id=thread.thread_id)
            print(f"the thread {full.subject!r} now has {full.message_count} messages:")
            for message in full.messages:
                print(f"  {sorted(message.labels)!s:<34} {message.from_}")
    finally:
        capture.stop()


if __name__ == "__main__":
    asyncio.run(main())
