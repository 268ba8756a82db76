"""A support mailbox on a real engine (one SQLite file) for the tests, and an example call of every tool.

``seed`` fills it through the public client the way mail really arrives (raw RFC 5322 through ``deliver``)
and leaves: two customer threads in the support inbox (one with an attachment and a quoted follow-up) and
one in the sales inbox. ``example_args`` gives each tool arguments that succeed against it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from agentinbox import AgentInbox
from agentinbox._clock import ManualClock

START = 1_800_000_000_000_000  # 2027-01-15 08:00 UTC


def customer_mail(
    sender: str,
    to: str,
    subject: str,
    text: str,
    *,
    in_reply_to: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    """A mail as a customer's mail program writes it."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    if in_reply_to is not None:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail.set_content(text)
    if attachment is not None:
        name, content = attachment
        mail.add_attachment(content, maintype="text", subtype="plain", filename=name)
    return mail.as_bytes()


@dataclass
class Mailbox:
    """The seeded engine and the ids of what is in it."""

    client: AgentInbox
    clock: ManualClock
    support: str
    sales: str
    order_thread: str
    order_question: str  # Alice's first message
    order_answer: str  # the support reply
    order_follow_up: str  # Alice's answer, quoting the support reply
    attachment_id: str
    refund_thread: str
    refund_question: str
    pricing_thread: str

    def new_draft(self) -> str:
        """A fresh draft in the support inbox (send_draft deletes the one it sends)."""
        draft = self.client.inboxes.drafts.create(
            inbox_id=self.support, to=["dave@customer.test"], subject="Your ticket", text="We are on it."
        )
        return str(draft.draft_id)


def seed(client: AgentInbox, clock: ManualClock) -> Mailbox:
    support = client.inboxes.create(username="support", display_name="Support").inbox_id
    sales = client.inboxes.create(username="sales", display_name="Sales").inbox_id

    def arrive(raw: bytes, inbox_id: str) -> Any:
        clock.advance(60)
        (message,) = client.deliver(raw, rcpt_to=[inbox_id])
        return message

    question = arrive(
        customer_mail(
            "Alice Example <alice@customer.test>",
            support,
            "Order #1234 has not arrived",
            "Hello, my order #1234 has not arrived yet. Where is it?",
            attachment=("receipt.txt", b"Order #1234: one teapot, 39.00 EUR"),
        ),
        support,
    )
    clock.advance(60)
    answer = client.inboxes.messages.reply(
        inbox_id=support,
        message_id=question.message_id,
        text="Your parcel is at the local depot and will be delivered tomorrow.",
    )
    follow_up = arrive(
        customer_mail(
            "Alice Example <alice@customer.test>",
            support,
            "Re: Order #1234 has not arrived",
            "Thank you, that is great news!\n\nOn Friday, Support wrote:\n"
            "> Your parcel is at the local depot and will be delivered tomorrow.\n",
            in_reply_to=answer.message_id,
        ),
        support,
    )
    refund = arrive(
        customer_mail("Bob <bob@customer.test>", support, "Refund for order #99", "Please refund my order."),
        support,
    )
    client.inboxes.messages.update(inbox_id=support, message_id=refund.message_id, add_labels=["billing"])
    pricing = arrive(
        customer_mail(
            "Carol <carol@customer.test>", sales, "Pricing question", "What does the team plan cost?"
        ),
        sales,
    )
    (attachment,) = question.attachments
    return Mailbox(
        client=client,
        clock=clock,
        support=support,
        sales=sales,
        order_thread=question.thread_id,
        order_question=question.message_id,
        order_answer=answer.message_id,
        order_follow_up=follow_up.message_id,
        attachment_id=attachment.attachment_id,
        refund_thread=refund.thread_id,
        refund_question=refund.message_id,
        pricing_thread=pricing.thread_id,
    )


def placeholder(client: AgentInbox) -> Mailbox:
    """Ids of the right shape without an engine behind them (for tests that only validate arguments)."""
    box = Mailbox(
        client=client,
        clock=ManualClock(START),
        support="support@agents.test",
        sales="sales@agents.test",
        order_thread="thread-1",
        order_question="<q1@customer.test>",
        order_answer="<a1@agents.test>",
        order_follow_up="<f1@customer.test>",
        attachment_id="attachment-1",
        refund_thread="thread-2",
        refund_question="<q2@customer.test>",
        pricing_thread="thread-3",
    )
    box.new_draft = lambda: "draft-1"  # type: ignore[method-assign]
    return box


ATTACHMENT = base64.b64encode(b"name,qty\nteapot,1\n").decode()

EXAMPLES: dict[str, Callable[[Mailbox], dict[str, Any]]] = {
    "list_inboxes": lambda box: {"limit": 5},
    "get_inbox": lambda box: {"inbox_id": box.support},
    "create_inbox": lambda box: {"display_name": "Billing"},
    "list_threads": lambda box: {"inbox_id": box.support, "limit": 5},
    "get_thread": lambda box: {"inbox_id": box.support, "thread_id": box.order_thread},
    "get_attachment": lambda box: {
        "inbox_id": box.support,
        "thread_id": box.order_thread,
        "attachment_id": box.attachment_id,
    },
    "send_message": lambda box: {
        "inbox_id": box.support,
        "to": ["dave@customer.test"],
        "subject": "Your order",
        "text": "It ships today.",
        "attachments": [{"filename": "order.csv", "content": ATTACHMENT, "content_type": "text/csv"}],
    },
    "reply_to_message": lambda box: {
        "inbox_id": box.support,
        "message_id": box.refund_question,
        "text": "Your refund is on its way.",
    },
    "forward_message": lambda box: {
        "inbox_id": box.support,
        "message_id": box.refund_question,
        "to": ["finance@company.test"],
        "text": "Please refund this order.",
    },
    "update_message": lambda box: {
        "inbox_id": box.support,
        "message_id": box.order_follow_up,
        "add_labels": ["handled"],
        "remove_labels": ["unread"],
    },
    "search_messages": lambda box: {"inbox_id": box.support, "query": "order"},
    "list_drafts": lambda box: {"inbox_id": box.support},
    "create_draft": lambda box: {
        "inbox_id": box.support,
        "in_reply_to": box.order_follow_up,
        "text": "Glad it worked out!",
    },
    "send_draft": lambda box: {"inbox_id": box.support, "draft_id": box.new_draft()},
    # Nothing arrives while the standard tests wait: the tool answers with its timeout text.
    "wait_for_reply": lambda box: {"inbox_id": box.support, "thread_id": box.order_thread, "timeout": 0.05},
}
