"""What the LlamaIndex reader indexes for the R-devel mbox: per thread versus per message, versus raw text.

The 1,833 messages of the mailing-list archive go through ``deliver()`` into one inbox; then
``AgentInboxReader`` loads them as one document per thread and as one document per message. For each way
it prints the documents, the characters of their text, the characters and tokens the embedder sees (text
plus the metadata not excluded from embeddings), and the chunks (nodes) LlamaIndex's default
``SentenceSplitter`` makes of them; beside it, the raw size of the messages and of their full text bodies
(quoted history included), which is what indexing the mail naively would embed.

    .venv/bin/python bench/reader_mbox.py     # needs: pip install -e integrations/llamaindex
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _corpus import mbox_messages, require_corpora

from agentinbox import AgentInbox


def main() -> None:
    require_corpora()
    try:
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.schema import Document, MetadataMode
        from llama_index.core.utils import get_tokenizer
        from llama_index.readers.agentinbox import AgentInboxReader
    except ImportError as exc:
        print(
            f"llama-index-readers-agentinbox is not installed ({exc}); pip install -e integrations/llamaindex"
        )
        sys.exit(0)

    raws = mbox_messages()
    tokenize = get_tokenizer()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        with AgentInbox(database_url=url, default_domain="agents.test") as client:
            inbox = client.inboxes.create(username="r-devel")
            start = time.perf_counter()
            for raw in raws:
                client.deliver(raw, rcpt_to=[inbox.inbox_id])
            ingest = time.perf_counter() - start

            def full_bodies(docs: list[Document]) -> tuple[int, int]:
                """Characters and tokens of the messages' whole text bodies (quoted history included)."""
                chars = tokens = 0
                for doc in docs:
                    message = client.inboxes.messages.get(
                        inbox_id=inbox.inbox_id, message_id=doc.metadata["message_id"]
                    )
                    chars += len(message.text or "")
                    tokens += len(tokenize(message.text or ""))
                return chars, tokens

            rows = []
            for per in ("thread", "message"):
                reader = AgentInboxReader(client, inbox_ids=[inbox.inbox_id], per=per)
                start = time.perf_counter()
                docs: list[Document] = reader.load_data()
                load = time.perf_counter() - start
                embed_texts = [d.get_content(metadata_mode=MetadataMode.EMBED) for d in docs]
                nodes = SentenceSplitter().get_nodes_from_documents(docs)
                rows.append(
                    (
                        f"per {per}",
                        len(docs),
                        sum(len(d.text) for d in docs),
                        sum(len(t) for t in embed_texts),
                        sum(len(tokenize(t)) for t in embed_texts),
                        len(nodes),
                        load,
                    )
                )
            body_chars, body_tokens = full_bodies(docs)  # docs: the per-message load

    raw_chars = sum(len(r) for r in raws)
    print(f"R-devel 2015 mbox: {len(raws)} messages delivered to one inbox")
    print(f"ingest through deliver(): {ingest:.1f} s\n")
    print(
        f"{'':14} {'documents':>9} {'text chars':>11} {'embed chars':>12} {'embed tokens':>13} {'nodes':>6} {'load s':>7}"
    )
    for name, count, chars, embed, tokens, nodes, load in rows:
        print(f"{name:14} {count:>9,} {chars:>11,} {embed:>12,} {tokens:>13,} {nodes:>6,} {load:>7.2f}")
    print(f"{'raw messages':14} {len(raws):>9,} {raw_chars:>11,}   (bytes of the RFC 5322 messages)")
    print(
        f"{'full bodies':14} {rows[1][1]:>9,} {body_chars:>11,} {'':>12} {body_tokens:>13,}   (text/plain with quoted history)"
    )
    for name, _count, chars, *_ in rows:
        print(
            f"{name}: text is {chars / raw_chars:.0%} of the raw size, {chars / body_chars:.0%} of the full bodies"
        )


if __name__ == "__main__":
    main()
