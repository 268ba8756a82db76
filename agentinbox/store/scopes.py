"""Where a query looks: one inbox, one pod, or the whole organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_

__all__ = ["Scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    """A filter by inbox and/or pod; both None means organization-wide."""

    inbox_id: str | None = None
    pod_id: str | None = None

    def where(self, table: Any) -> ColumnElement[bool]:
        """The condition restricting ``table`` (with inbox_id and pod_id columns) to this scope."""
        conditions = []
        if self.inbox_id is not None:
            conditions.append(table.c.inbox_id == self.inbox_id)
        if self.pod_id is not None:
            conditions.append(table.c.pod_id == self.pod_id)
        return and_(True, *conditions)

    @property
    def name(self) -> str:
        if self.inbox_id is not None:
            return "inbox"
        return "pod" if self.pod_id is not None else "org"
