"""A time budget for reply extraction: the rules check it as they scan, and when it runs out they stop
with :class:`BudgetExceeded`, so that the caller keeps the whole body rather than spend more time on it.

The budget is per context (a ContextVar), so threads and tasks extracting at once do not share one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["BudgetExceeded", "budget", "check"]

_deadline: ContextVar[float] = ContextVar("agentinbox_extraction_deadline", default=math.inf)


class BudgetExceeded(Exception):
    """The extraction took longer than its budget; its partial result must not be used."""


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Run the block with ``seconds`` to spend (an inner budget never extends an outer one)."""
    deadline = min(_deadline.get(), time.perf_counter() + seconds)
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def check() -> None:
    """Raise :class:`BudgetExceeded` when the current budget has run out."""
    if time.perf_counter() > _deadline.get():
        raise BudgetExceeded
