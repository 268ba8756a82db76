"""Substring and membership filters over JSON list columns, the same on SQLite and PostgreSQL.

A JSON list is stored as its text (non-ASCII kept as is), so a substring of one element is found by
searching the text for the JSON-escaped, lower-cased needle.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func

__all__ = ["json_dumps", "list_has", "text_contains"]


def json_dumps(value: Any) -> str:
    """How JSON columns are written: non-ASCII characters kept, so filters can match them."""
    return json.dumps(value, ensure_ascii=False)


def _escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def text_contains(column: Any, needle: str) -> ColumnElement[bool]:
    """Some element of the JSON list (or the plain text) in ``column`` contains ``needle``, ignoring case."""
    return func.lower(cast(column, Text)).contains(_escaped(needle.lower()), autoescape=True)


def list_has(column: Any, value: str) -> ColumnElement[bool]:
    """The JSON list of strings in ``column`` has ``value`` as an element."""
    return cast(column, Text).contains(json.dumps(value, ensure_ascii=False), autoescape=True)
