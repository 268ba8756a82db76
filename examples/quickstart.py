"""The in-process round trip: a customer writes to a support agent, the agent replies, the thread grows.

Everything runs in this process on one SQLite file; mail between the engine's own inboxes is delivered
locally. Run it with ``./dev demo``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from agentinbox import AgentInbox


def main() -> None:
    started = time.perf_counter()
    database = Path(tempfile.mkdtemp(prefix="agentinbox-demo-")) / "agentinbox.db"
    with AgentInbox(database_url=f"sqlite+aiosqlite:///{database}") as client:
        support = client.inboxes.create(
            username="support", display_name="Support Agent", client_id="support-v1"
        )
        customer = client.inboxes.create(username="alice", display_name="Alice", client_id="customer-alice")
        print(f"inboxes: {support.inbox_id} and {customer.inbox_id}  (database {database})")

        client.inboxes.messages.send(
            inbox_id=customer.inbox_id,
            to=[support.inbox_id],
            subject="Order #1234 has not arrived",
            text="Hello, my order #1234 was due on Monday and has not arrived. Can you check?\n\nAlice",
            labels=["customer"],
        )

        # The agent's turn: find unread threads, read the newest message's new content, answer in the thread.
        threads = client.inboxes.threads.list(inbox_id=support.inbox_id, labels=["unread"])
        print(f"support has {threads.count} unread thread(s): {threads.threads[0].subject!r}")
        thread = client.threads.get(thread_id=threads.threads[0].thread_id)
        incoming = thread.messages[-1]
        print(f"agent reads from {incoming.from_}: {incoming.extracted_text!r}")
        client.inboxes.messages.reply(
            inbox_id=support.inbox_id,
            message_id=incoming.message_id,
            text="Hi Alice, your parcel is at the depot and will be delivered tomorrow.\n\nSupport Agent",
        )
        client.inboxes.messages.update(
            inbox_id=support.inbox_id, message_id=incoming.message_id, remove_labels=["unread"]
        )

        # The customer sees the answer threaded under her question and writes back.
        own = client.inboxes.threads.list(inbox_id=customer.inbox_id, labels=["unread"])
        answer = client.threads.get(thread_id=own.threads[0].thread_id).messages[-1]
        print(f"customer gets {answer.subject!r}: {answer.extracted_text!r}")
        client.inboxes.messages.reply(
            inbox_id=customer.inbox_id, message_id=answer.message_id, text="Thank you!"
        )

        final = client.threads.get(thread_id=thread.thread_id)
        print(f"support's thread now has {final.message_count} messages:")
        for message in final.messages:
            print(f"  {sorted(message.labels)!s:<32} {message.from_:<40} {message.extracted_text!r}")
        hits = client.inboxes.messages.search(inbox_id=support.inbox_id, q="parcel depot")
        print(f"search 'parcel depot' finds {hits.count} message(s): {hits.messages[0].highlights}")
    print(f"round trip done in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
