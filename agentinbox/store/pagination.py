"""Keyset pagination: opaque page tokens that carry the last row's sort key, never an OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, or_

from ..errors import ValidationError

__all__ = ["after_key", "clamp_limit", "decode_token", "encode_token", "fetch_page"]


def encode_token(kind: str, ascending: bool, key: tuple[Any, ...]) -> str:
    """An opaque token for the page after the row whose sort key is ``key``."""
    raw = json.dumps([kind, ascending, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, kind: str, ascending: bool) -> tuple[Any, ...] | None:
    """The sort key inside ``token``; a token from another list or ordering is a ValidationError."""
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise _bad_token()
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise _bad_token() from exc
    if not isinstance(value, list) or len(value) < 3 or value[0] != kind or value[1] is not ascending:
        raise _bad_token()
    return tuple(value[2:])


def after_key(columns: tuple[Any, ...], key: tuple[Any, ...] | None, ascending: bool) -> ColumnElement[bool]:
    """The condition 'comes after ``key``' in the list's order, over the sort columns."""
    if key is None:
        return and_(True)
    if len(key) != len(columns) or any(
        isinstance(part, bool) or not isinstance(part, column.type.python_type)
        for part, column in zip(key, columns, strict=False)
    ):
        raise _bad_token()
    conditions = []
    for index, column in enumerate(columns):
        equal_before = [columns[i] == key[i] for i in range(index)]
        beyond = column > key[index] if ascending else column < key[index]
        conditions.append(and_(*equal_before, beyond))
    return or_(*conditions)


def clamp_limit(limit: int | None, *, default: int = 100, maximum: int = 100) -> int:
    """The page size to use: the caller's, within 1..maximum."""
    if limit is None:
        return default
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError(f"limit must be a positive integer, got {limit!r}", path=["limit"])
    return min(limit, maximum)


def _bad_token() -> ValidationError:
    return ValidationError(
        "page_token is not valid for this list: pass the next_page_token of the previous page unchanged",
        path=["page_token"],
    )


def fetch_page(
    conn: Connection,
    query: Select[Any],
    order: tuple[Any, ...],
    *,
    kind: str,
    ascending: bool,
    limit: int,
    page_token: str | None,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` in ``order`` after ``page_token``, and the token of the next page (or None).

    ``kind`` names the list, so a token from another list or ordering is refused; the order's columns are
    the page key and must end in a unique column.
    """
    key = decode_token(page_token, kind, ascending)
    query = query.where(after_key(order, key, ascending))
    query = query.order_by(*(c.asc() if ascending else c.desc() for c in order)).limit(limit + 1)
    rows = list(conn.execute(query).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_token(kind, ascending, tuple(getattr(last, column.name) for column in order))
