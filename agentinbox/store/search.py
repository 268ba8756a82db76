"""Full-text search behind one interface: FTS5 on SQLite, tsvector with a GIN index on PostgreSQL.

Results come newest first with keyset pages, and carry highlights: fragments with the matched words in ``**``.
Every word of the query must match (in subject, sender, recipients or body).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, column, exists, select, text

from ..errors import ValidationError
from ..models import MessageSearchItem, SearchHighlights, SearchMessagesResponse, SearchThreadsResponse
from ..models import ThreadSearchItem as _ThreadSearchItem
from .pagination import fetch_page
from .scopes import Scope
from .tables import message_labels, messages, thread_labels, threads

__all__ = ["index_message", "search_messages", "search_threads"]

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_BODY = 200_000
_MAX_WORDS = 16
_HIDDEN = ("spam", "blocked", "unauthenticated", "trash")
_INDEX_SQLITE = text(
    "INSERT INTO message_fts(rowid, subject, sender, recipients, body) VALUES (:pk, :s, :f, :r, :b)"
)
_INDEX_POSTGRES = text(
    "INSERT INTO message_search (message_pk, document) VALUES (:pk, "
    "setweight(to_tsvector('simple', :s), 'A') || to_tsvector('simple', :p) || to_tsvector('simple', :b))"
)


def index_message(
    conn: Connection, pk: int, *, subject: str, sender: str, recipients: str, body: str
) -> None:
    """Add one message to the search index."""
    body = body[:_MAX_BODY]
    if conn.dialect.name == "sqlite":
        conn.execute(_INDEX_SQLITE, {"pk": pk, "s": subject, "f": sender, "r": recipients, "b": body})
    else:
        people = f"{sender} {recipients}"
        conn.execute(
            _INDEX_POSTGRES, {"pk": pk, "s": subject, "p": f"{people} {_split_addresses(people)}", "b": body}
        )


def _split_addresses(value: str) -> str:
    # to_tsvector keeps "bob@example.com" as one token; index its parts too so "bob" or "example" match.
    return re.sub(r"[@.<>\"]", " ", value)


def _words(q: str | None) -> list[str]:
    if q is None or not isinstance(q, str) or not q.strip():
        raise ValidationError("q must be a non-empty search text", path=["q"])
    if len(q) > 1000:
        raise ValidationError("q must be at most 1000 characters", path=["q"])
    words = [w.lower() for w in _WORD.findall(q)][:_MAX_WORDS]
    if not words:
        raise ValidationError(f"q {q!r} has no words to search for", path=["q"])
    return list(dict.fromkeys(words))


def _matching_ids(conn: Connection, words: Sequence[str]) -> Any:
    """A subquery of the message row ids that contain every word."""
    if conn.dialect.name == "sqlite":
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        clause = text("SELECT rowid AS id FROM message_fts WHERE message_fts MATCH :match").bindparams(
            match=match
        )
    else:
        clause = text(
            "SELECT message_pk AS id FROM message_search WHERE document @@ to_tsquery('simple', :tsq)"
        ).bindparams(tsq=" & ".join(_pg_lexeme(w) for w in words))
    return clause.columns(column("id", Integer))


def _pg_lexeme(word: str) -> str:
    return "'" + word.replace("'", "''").replace("\\", "") + "'"


def search_messages(
    conn: Connection,
    scope: Scope,
    q: str,
    *,
    limit: int,
    page_token: str | None,
    before: int | None,
    after: int | None,
) -> SearchMessagesResponse:
    from .messages import message_fields

    words = _words(q)
    kind = f"msearch-{scope.name}"
    order = (messages.c.timestamp, messages.c.id)
    matching = _matching_ids(conn, words)
    query = (
        select(messages)
        .where(scope.where(messages))
        .where(messages.c.id.in_(matching))
        .where(
            ~exists().where(message_labels.c.message_pk == messages.c.id, message_labels.c.label.in_(_HIDDEN))
        )
    )
    if before is not None:
        query = query.where(messages.c.timestamp < before)
    if after is not None:
        query = query.where(messages.c.timestamp >= after)
    rows, token = fetch_page(
        conn, query, order, kind=kind, ascending=False, limit=limit, page_token=page_token
    )
    highlights = _highlights(conn, [row.id for row in rows], words)
    return SearchMessagesResponse(
        count=len(rows),
        limit=limit,
        next_page_token=token,
        messages=[
            MessageSearchItem(**message_fields(row), highlights=highlights.get(row.id)) for row in rows
        ],
    )


def search_threads(
    conn: Connection,
    scope: Scope,
    q: str,
    *,
    limit: int,
    page_token: str | None,
    before: int | None,
    after: int | None,
) -> SearchThreadsResponse:
    from .threads import thread_item, thread_labels_of

    words = _words(q)
    kind = f"tsearch-{scope.name}"
    order = (threads.c.timestamp, threads.c.thread_id)
    matching = _matching_ids(conn, words)
    matching_threads = select(messages.c.thread_id).where(
        messages.c.id.in_(matching),
        ~exists().where(message_labels.c.message_pk == messages.c.id, message_labels.c.label.in_(_HIDDEN)),
    )
    query = (
        select(threads)
        .where(scope.where(threads))
        .where(threads.c.thread_id.in_(matching_threads))
        .where(
            ~exists().where(
                thread_labels.c.thread_id == threads.c.thread_id, thread_labels.c.label.in_(_HIDDEN)
            )
        )
    )
    if before is not None:
        query = query.where(threads.c.timestamp < before)
    if after is not None:
        query = query.where(threads.c.timestamp >= after)
    rows, token = fetch_page(
        conn, query, order, kind=kind, ascending=False, limit=limit, page_token=page_token
    )
    labels = thread_labels_of(conn, [row.thread_id for row in rows])
    return SearchThreadsResponse(
        count=len(rows),
        limit=limit,
        next_page_token=token,
        threads=[thread_item(row, labels[row.thread_id], cls=_ThreadSearchItem) for row in rows],
    )


def _highlights(conn: Connection, pks: Sequence[int], words: Sequence[str]) -> dict[int, SearchHighlights]:
    """Fragments of the matched fields of each message, with matches wrapped in ``**``."""
    if not pks:
        return {}
    if conn.dialect.name == "sqlite":
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = conn.execute(
            text(
                "SELECT rowid, highlight(message_fts, 0, '**', '**') AS subject, "
                "highlight(message_fts, 1, '**', '**') AS sender, "
                "snippet(message_fts, 2, '**', '**', '…', 16) AS recipients, "
                "snippet(message_fts, 3, '**', '**', '…', 24) AS body "
                "FROM message_fts WHERE message_fts MATCH :match AND rowid IN :pks"
            ).bindparams(bindparam("pks", expanding=True)),
            {"match": match, "pks": list(pks)},
        )
    else:
        tsq = " | ".join(_pg_lexeme(w) for w in words)
        options = "StartSel=**, StopSel=**, MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=…"
        rows = conn.execute(
            text(
                "SELECT m.id AS rowid, "
                "ts_headline('simple', coalesce(m.subject, ''), to_tsquery('simple', :tsq), :opts) AS subject, "
                "ts_headline('simple', m.from_, to_tsquery('simple', :tsq), :opts) AS sender, "
                "ts_headline('simple', CAST(m.\"to\" AS TEXT), to_tsquery('simple', :tsq), :opts) AS recipients, "
                "ts_headline('simple', left(coalesce(b.text, ''), 20000), to_tsquery('simple', :tsq), :opts) "
                "AS body FROM messages m LEFT JOIN message_bodies b ON b.message_pk = m.id WHERE m.id IN :pks"
            ).bindparams(bindparam("pks", expanding=True)),
            {"tsq": tsq, "opts": options, "pks": list(pks)},
        )
    result = {}
    for row in rows:
        fields = {
            "subject": row.subject,
            "from_": row.sender,
            "recipients": row.recipients,
            "text": row.body,
        }
        result[row.rowid] = SearchHighlights(
            **{name: [value] for name, value in fields.items() if value and "**" in value}
        )
    return result
