"""A real SMTP round trip: a customer's mail arrives over SMTP, the support agent answers, and the answer
leaves over SMTP to the customer's mail server.

Everything runs on loopback: the engine (one SQLite file) listens for SMTP on a free port, the customer's
mail server is a small capture server, and the engine relays outbound mail to it. Run it with ``./dev demo``.
"""

from __future__ import annotations

import email
import smtplib
import socket
import tempfile
import threading
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from agentinbox import AgentInbox


class CustomerMailServer:
    """The customer's side: an SMTP server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[float, Envelope]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append((time.perf_counter(), envelope))
        self.arrived.set()
        return "250 2.0.0 Ok: delivered to the customer"


def main() -> None:
    started = time.perf_counter()

    def at() -> str:
        return f"{(time.perf_counter() - started) * 1000:8.1f} ms"

    customer_server = CustomerMailServer()
    with socket.socket() as probe:  # a free loopback port for the customer's server
        probe.bind(("127.0.0.1", 0))
        capture_port = probe.getsockname()[1]
    capture = Controller(
        customer_server, hostname="127.0.0.1", port=capture_port, server_hostname="mail.customer.test"
    )
    capture.start()
    database = Path(tempfile.mkdtemp(prefix="agentinbox-demo-")) / "agentinbox.db"

    with AgentInbox(
        database_url=f"sqlite+aiosqlite:///{database}",
        smtp_listen="127.0.0.1:0",
        relay_url=f"smtp://127.0.0.1:{capture_port}",
    ) as client:
        client.start()
        assert client.smtp_address is not None
        host, port = client.smtp_address
        support = client.inboxes.create(username="support", display_name="Support Agent", client_id="support")
        print(f"{at()}  engine listening for SMTP on {host}:{port}; inbox {support.inbox_id} (db {database})")
        print(f"{at()}  outbound mail is relayed to the customer's mail server on 127.0.0.1:{capture_port}")

        # The agent listens before anything arrives: events committed from now on, for its inbox.
        events = client.events.subscribe(
            event_types=["message.received", "message.delivered"], inbox_ids=[support.inbox_id], timeout=30
        )

        # The customer writes from her own mail program, over SMTP.
        question = EmailMessage()
        question["From"] = "Alice <alice@customer.test>"
        question["To"] = support.inbox_id
        question["Subject"] = "Order #1234 has not arrived"
        question["Message-ID"] = "<order-1234.q1@customer.test>"
        question.set_content(
            "Hello, my order #1234 was due on Monday and has not arrived. Can you check?\n\nAlice\n"
        )
        sent_at = time.perf_counter()
        with smtplib.SMTP(host, port) as smtp:
            smtp.send_message(question)
        print(f"{at()}  customer's SMTP client got 250 ({(time.perf_counter() - sent_at) * 1000:.1f} ms)")

        # The agent's loop: woken by the message.received event (no polling), it reads the new content
        # (the event carries the full message and its thread) and answers in the thread.
        arrival = next(events)
        incoming, thread = arrival.message, arrival.thread
        print(f"{at()}  agent woken by {arrival.event_type}: thread {thread.subject!r}")
        print(f"{at()}  agent reads from {incoming.from_}: {incoming.extracted_text!r}")
        reply = client.inboxes.messages.reply(
            inbox_id=support.inbox_id,
            message_id=incoming.message_id,
            text="Hi Alice, your parcel is at the depot and will be delivered tomorrow.\n\nSupport Agent",
        )
        client.inboxes.messages.update(
            inbox_id=support.inbox_id, message_id=incoming.message_id, remove_labels=["unread"]
        )
        print(f"{at()}  agent replied in thread {reply.thread_id}")

        # The answer travels over SMTP to the customer's mail server.
        if not customer_server.arrived.wait(timeout=30):
            raise SystemExit("the reply did not reach the customer's mail server within 30 s")
        arrived_at, envelope = customer_server.received[0]
        answer = email.message_from_bytes(envelope.original_content or b"", policy=default)
        print(
            f"{(arrived_at - started) * 1000:8.1f} ms  customer's server received the reply "
            f"from {envelope.mail_from} to {envelope.rcpt_tos}:"
        )
        print(f"             Subject: {answer['Subject']}   In-Reply-To: {answer['In-Reply-To']}")
        body = answer.get_body(preferencelist=("plain",))
        first_line = body.get_content().splitlines()[0] if body is not None else ""
        print(f"             {first_line}")

        delivered = next(events)  # the delivery worker records the 250 right after it
        print(f"{at()}  {delivered.event_type} to {delivered.delivery.recipients}")
        events.close()
        final = client.threads.get(thread_id=thread.thread_id)
        print(f"{at()}  the support thread has {final.message_count} messages:")
        for message in final.messages:
            print(f"             {sorted(message.labels)!s:<32} {message.from_}")
    capture.stop()
    print(f"{at()}  round trip done")


if __name__ == "__main__":
    main()
