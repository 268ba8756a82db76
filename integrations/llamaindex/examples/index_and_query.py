"""Index an agent's mail threads in a VectorStoreIndex and query it, fully offline.

A temporary engine receives a few support conversations; ``AgentInboxReader`` turns each thread into one
document (the conversation without quoted history), a ``VectorStoreIndex`` embeds them with a small
hashed bag-of-words embedding (no model download, no network), and a retriever answers questions with the
matching threads. Then a new reply arrives, and the reader's cursor brings only that thread back into the
index. To use a real embedding model, pass it as ``embed_model`` instead of ``HashBagEmbedding()``.

    .venv/bin/python integrations/llamaindex/examples/index_and_query.py
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
from pathlib import Path

from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import BaseEmbedding
from llama_index.readers.agentinbox import AgentInboxReader

from agentinbox import AgentInbox

DESK = "support@agents.example"

CONVERSATIONS = [
    (
        "refund",
        "Charged twice for my subscription",
        "alice@example.com",
        [
            "I was charged twice for the annual subscription this month. Please refund one payment.",
            "It was card ending 4242, both charges on the 3rd.",
        ],
    ),
    (
        "login",
        "Cannot log in after password reset",
        "bob@example.com",
        [
            "After resetting my password the login page says my account is locked.",
            "Still locked this morning, I tried from two browsers.",
        ],
    ),
    (
        "shipping",
        "Where is my parcel?",
        "carol@example.com",
        ["My parcel with the new keyboard has not arrived; tracking has not moved for a week."],
    ),
]


class HashBagEmbedding(BaseEmbedding):
    """Words hashed into a fixed-size, normalised count vector: crude, but offline and deterministic."""

    dim: int = 512

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            if len(word) > 2:
                vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest()) % self.dim] += 1
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)


def raw(key: str, n: int, subject: str, sender: str, body: str) -> bytes:
    reply = f"In-Reply-To: <{key}{n - 1}@example.com>\r\n" if n else ""
    return (
        f"From: {sender}\r\nTo: {DESK}\r\nSubject: {'Re: ' if n else ''}{subject}\r\n"
        f"Message-ID: <{key}{n}@example.com>\r\n{reply}\r\n{body}\r\n"
    ).encode()


def ask(index: VectorStoreIndex, question: str) -> None:
    print(f"\nQ: {question}")
    for hit in index.as_retriever(similarity_top_k=2).retrieve(question):
        md = hit.node.metadata
        print(f"  {hit.score:.3f}  {md['subject']!r} from {md['senders']} (thread {md['thread_id'][:8]})")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'mail.db'}"
        with AgentInbox(database_url=url, default_domain="agents.example") as client:
            client.inboxes.create(username="support")
            for key, subject, sender, bodies in CONVERSATIONS:
                for n, body in enumerate(bodies):
                    client.deliver(raw(key, n, subject, sender, body))

            reader = AgentInboxReader(client, inbox_ids=[DESK])
            documents = reader.load_data()
            print(f"loaded {len(documents)} thread documents from {DESK}")
            index = VectorStoreIndex.from_documents(documents, embed_model=HashBagEmbedding())
            ask(index, "customer charged twice wants a refund")
            ask(index, "account locked after password reset")

            # Incremental: only threads changed since the last load come back, and replace their old version.
            client.deliver(
                raw(
                    "shipping",
                    1,
                    "Where is my parcel?",
                    "carol@example.com",
                    "Update: the courier says the parcel was returned to your warehouse.",
                )
            )
            changed = reader.load_data(cursor=reader.cursor)
            refreshed = index.refresh_ref_docs(changed)
            print(f"\n{len(changed)} changed thread(s) since the cursor; refreshed in the index: {refreshed}")
            ask(index, "parcel returned to the warehouse by the courier")


if __name__ == "__main__":
    main()
