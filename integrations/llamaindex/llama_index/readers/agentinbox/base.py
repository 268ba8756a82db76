"""``AgentInboxReader``: an agentinbox engine's threads as LlamaIndex documents.

One document per thread by default: the conversation in order, each message as its ``extracted_text`` (what
the sender wrote, without the quoted history every reply repeats; the tool set's ``message_body``), so
nothing is indexed twice. With ``per="message"`` each message is its own document. The traversal is written
once, as a generator of client calls, and driven either by the blocking ``AgentInbox`` (``load_data``,
``lazy_load_data``) or by an ``AsyncAgentInbox`` (``aload_data``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document

from agentinbox import AgentInbox, AsyncAgentInbox, Message, Thread, ThreadItem
from agentinbox.mail.labels import HIDDEN_LABELS
from agentinbox.tools import message_body

__all__ = ["AgentInboxReader", "message_document", "thread_document"]

Per = Literal["thread", "message"]

# What the embedder should not see: opaque ids, times, counts, labels and recipient lists only add noise to
# a vector. The model keeps the ids, so it can act on what it retrieved (get_thread, reply_to_message).
THREAD_EMBED_EXCLUDED = (
    "thread_id",
    "inbox_id",
    "last_message_id",
    "labels",
    "recipients",
    "started_at",
    "timestamp",
    "message_count",
)
THREAD_LLM_EXCLUDED = ("message_count",)
MESSAGE_EMBED_EXCLUDED = (
    "message_id",
    "thread_id",
    "inbox_id",
    "labels",
    "to",
    "cc",
    "timestamp",
    "in_reply_to",
)
MESSAGE_LLM_EXCLUDED = ("in_reply_to",)

_PAGE = 100  # the engine's largest page


@dataclass(frozen=True, slots=True)
class _Call:
    """One client call the traversal needs: ``client.<path>(**kwargs)``."""

    path: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def bind(self, client: Any) -> Any:
        target = client
        for name in self.path:
            target = getattr(target, name)
        return target(**self.kwargs)


@dataclass(frozen=True, slots=True)
class _Query:
    """What one load reads (the reader's settings, with the call's overrides applied)."""

    inbox_ids: tuple[str, ...] | None = None
    thread_ids: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    since: datetime | None = None
    before: datetime | None = None
    include: tuple[str, ...] = ()
    cursor: datetime | None = None
    per: Per = "thread"


_Walk = Generator[_Call | Document, Any, datetime | None]


class AgentInboxReader(BaseReader):
    """Load the threads of an agentinbox engine as documents.

    ``client`` is an ``AgentInbox`` (``load_data``, ``lazy_load_data``; ``aload_data`` runs them in a worker
    thread) or an ``AsyncAgentInbox`` (``aload_data`` only). Filters: ``inbox_ids`` (default: every inbox),
    ``thread_ids`` (those threads only), ``labels`` (threads carrying all of them), ``since``/``before``
    (the thread's latest message at or after / before these times), ``include`` (hidden threads to load
    too: any of ``"spam"``, ``"blocked"``, ``"unauthenticated"``, ``"trash"``). ``per`` is ``"thread"`` (one
    document per conversation) or ``"message"``. Every filter can also be given to the load call itself.

    Incremental loading: after a load runs to its end, ``reader.cursor`` is the newest change time seen.
    Pass it back as ``cursor=`` to get only the threads changed since (a new message, or labels changed
    on the thread or on one of its messages); with ``per="message"``, only the messages changed since. The cursor is
    inclusive and documents keep their ids (the thread id; ``"<thread_id>:<message_id>"`` per message), so
    seeing a document again replaces it in an index (``index.refresh_ref_docs``). Deciding which threads
    changed lists every thread matching the filters (without bodies); bodies are read only for those.
    Change times are the engine's clock when a change is made, and a change committed while a load runs can
    carry a time just before that load's cursor: when mail arrives during loads, load from a little earlier
    (``cursor - timedelta(seconds=5)``); the overlap only repeats documents.
    """

    def __init__(
        self,
        client: AgentInbox | AsyncAgentInbox,
        *,
        inbox_ids: Sequence[str] | None = None,
        thread_ids: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
        since: datetime | None = None,
        before: datetime | None = None,
        include: Sequence[str] = (),
        per: Per = "thread",
    ) -> None:
        if not isinstance(client, AgentInbox | AsyncAgentInbox):
            raise TypeError(f"client must be an AgentInbox or AsyncAgentInbox, not {type(client).__name__}")
        self.client = client
        self.cursor: datetime | None = None
        self._query = _query(
            _Query(),
            inbox_ids=inbox_ids,
            thread_ids=thread_ids,
            labels=labels,
            since=since,
            before=before,
            include=include,
            per=per,
        )

    def lazy_load_data(self, *args: Any, **load_kwargs: Any) -> Iterable[Document]:
        """Documents one thread at a time (keyword filters as in the constructor, plus ``cursor``)."""
        if isinstance(self.client, AsyncAgentInbox):
            raise TypeError(
                "an AgentInboxReader over an AsyncAgentInbox loads with `await reader.aload_data()`"
            )
        query = self._load_query(args, load_kwargs)
        return self._drive(self.client, query)

    def _drive(self, client: AgentInbox, query: _Query) -> Iterable[Document]:
        walk = _walk(query)
        value: Any = None
        while True:
            try:
                step = walk.send(value)
            except StopIteration as done:
                self.cursor = done.value
                return
            if isinstance(step, _Call):
                value = step.bind(client)
            else:
                value = None
                yield step

    async def aload_data(self, *args: Any, **load_kwargs: Any) -> list[Document]:
        """All documents, awaited on an ``AsyncAgentInbox`` (with an ``AgentInbox``, in a worker thread)."""
        if isinstance(self.client, AgentInbox):
            return await asyncio.to_thread(self.load_data, *args, **load_kwargs)
        walk = _walk(self._load_query(args, load_kwargs))
        documents: list[Document] = []
        value: Any = None
        while True:
            try:
                step = walk.send(value)
            except StopIteration as done:
                self.cursor = done.value
                return documents
            if isinstance(step, _Call):
                value = await step.bind(self.client)
            else:
                value = None
                documents.append(step)

    def _load_query(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Query:
        if args:
            raise TypeError("AgentInboxReader loads take keyword arguments only")
        unknown = set(kwargs) - {
            "inbox_ids",
            "thread_ids",
            "labels",
            "since",
            "before",
            "include",
            "cursor",
            "per",
        }
        if unknown:
            raise TypeError(f"unknown argument(s) {', '.join(sorted(unknown))}")
        return _query(self._query, **kwargs)


def _query(base: _Query, **changes: Any) -> _Query:
    """``base`` with the given settings checked and applied."""
    for name in ("inbox_ids", "thread_ids", "labels"):
        if name in changes and changes[name] is not None:
            value = changes[name]
            if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
                raise TypeError(f"{name} must be a list of non-empty strings")
            changes[name] = tuple(value)
    if "include" in changes:
        include = changes["include"]
        if isinstance(include, str) or not all(label in HIDDEN_LABELS for label in include):
            raise ValueError(f"include must be a list of {', '.join(HIDDEN_LABELS)}")
        changes["include"] = tuple(include)
    for name in ("since", "before", "cursor"):
        value = changes.get(name)
        if value is not None:
            if not isinstance(value, datetime):
                raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")
    if changes.get("per", base.per) not in ("thread", "message"):
        raise ValueError(f"per must be 'thread' or 'message', not {changes['per']!r}")
    query = replace(base, **changes)
    listing = query.inbox_ids or query.labels or query.since or query.before or query.include
    if query.thread_ids is not None and listing:
        raise ValueError("thread_ids names the threads to load; it does not combine with the list filters")
    return query


def _walk(query: _Query) -> _Walk:
    """Yield the client calls to make (receiving their results) and the documents; return the new cursor."""
    newest = query.cursor
    for thread_id in query.thread_ids or ():
        thread = yield from _whole_thread(thread_id)
        if query.cursor is None or thread.updated_at >= query.cursor:
            yield from _documents(thread, query)
            newest = _later(newest, thread.updated_at)
    if query.thread_ids is not None:
        return newest
    for inbox_id in query.inbox_ids or (None,):
        path = ("threads", "list") if inbox_id is None else ("inboxes", "threads", "list")
        scope = {} if inbox_id is None else {"inbox_id": inbox_id}
        token: str | None = None
        while True:
            page = yield _Call(
                path,
                {
                    **scope,
                    "labels": list(query.labels) if query.labels else None,
                    "after": query.since,
                    "before": query.before,
                    "ascending": True,
                    "limit": _PAGE,
                    "page_token": token,
                    **{f"include_{label}": True for label in query.include},
                },
            )
            item: ThreadItem
            for item in page.threads:
                if query.cursor is not None and item.updated_at < query.cursor:
                    continue
                thread = yield from _whole_thread(item.thread_id)
                yield from _documents(thread, query)
                newest = _later(newest, thread.updated_at)
            token = page.next_page_token
            if not token:
                break
    return newest


def _whole_thread(thread_id: str) -> Generator[_Call, Any, Thread]:
    """The thread with all its messages, oldest first (``threads.get`` pages from the newest backwards)."""
    pages: list[list[Message]] = []
    token: str | None = None
    while True:
        thread: Thread = yield _Call(
            ("threads", "get"), {"thread_id": thread_id, "limit": _PAGE, "page_token": token}
        )
        pages.append(thread.messages)
        token = thread.next_page_token
        if not token:
            break
    messages = [message for page in reversed(pages) for message in page]
    return thread.model_copy(update={"messages": messages, "count": len(messages)})


def _documents(thread: Thread, query: _Query) -> Generator[Document, Any, None]:
    if query.per == "thread":
        yield thread_document(thread)
        return
    for message in thread.messages:
        if query.cursor is None or message.updated_at >= query.cursor:
            yield message_document(message)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _names(message: Message) -> list[str]:
    return [a.filename or a.attachment_id for a in message.attachments or []]


def thread_document(thread: Thread) -> Document:
    """The conversation as one document: each message's sender, time and body, oldest first."""
    parts = []
    for message in thread.messages:
        body = message_body(message)
        names = _names(message)
        if names:
            body = f"{body}\n[attachments: {', '.join(names)}]".strip()
        stamp = message.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(f"[{stamp}] {message.from_}:\n{body or '(no text)'}")
    attachments = [name for message in thread.messages for name in _names(message)]
    started = min((m.timestamp for m in thread.messages), default=thread.timestamp)
    metadata: dict[str, Any] = {
        "thread_id": thread.thread_id,
        "inbox_id": thread.inbox_id,
        "subject": thread.subject or "",
        "senders": ", ".join(thread.senders),
        "recipients": ", ".join(thread.recipients),
        "labels": ", ".join(thread.labels),
        "started_at": _when(started),
        "timestamp": _when(thread.timestamp),
        "message_count": len(thread.messages),
        "last_message_id": thread.last_message_id,
        "attachments": ", ".join(attachments),
    }
    return Document(
        id_=thread.thread_id,
        text="\n\n".join(parts),
        metadata=metadata,
        excluded_embed_metadata_keys=list(THREAD_EMBED_EXCLUDED),
        excluded_llm_metadata_keys=list(THREAD_LLM_EXCLUDED),
    )


def message_document(message: Message) -> Document:
    """One message as a document: its own words (no quoted history) and its envelope as metadata."""
    metadata: dict[str, Any] = {
        "message_id": message.message_id,
        "thread_id": message.thread_id,
        "inbox_id": message.inbox_id,
        "subject": message.subject or "",
        "from": message.from_,
        "to": ", ".join(message.to),
        "cc": ", ".join(message.cc or []),
        "labels": ", ".join(message.labels),
        "timestamp": _when(message.timestamp),
        "in_reply_to": message.in_reply_to or "",
        "attachments": ", ".join(_names(message)),
    }
    return Document(
        id_=f"{message.thread_id}:{message.message_id}",
        text=message_body(message),
        metadata=metadata,
        excluded_embed_metadata_keys=list(MESSAGE_EMBED_EXCLUDED),
        excluded_llm_metadata_keys=list(MESSAGE_LLM_EXCLUDED),
    )
