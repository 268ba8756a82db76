"""A time budget for reply extraction: the rules check it as they scan, and when it runs out they stop
with :class:`BudgetExceeded`, so that the caller keeps the whole body rather than spend more time on it.

The budget is per context (a ContextVar), so threads and tasks extracting at once do not share one. Time
spent in :func:`not_counted` blocks (one-time imports) is not charged to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["BudgetExceeded", "budget", "check", "not_counted"]


class _Budget:
    """A deadline on a clock that stops during :func:`not_counted` blocks; nested budgets share the clock."""

    __slots__ = ("deadline", "paused")

    def __init__(self, deadline: float, paused: list[float]) -> None:
        self.deadline = deadline
        self.paused = paused  # seconds not counted, shared with the enclosing budgets

    def now(self) -> float:
        return time.perf_counter() - self.paused[0]


_current: ContextVar[_Budget | None] = ContextVar("agentinbox_extraction_budget", default=None)


def _get() -> _Budget:
    """The current budget; outside any, an unbounded one (with a clock of its own)."""
    return _current.get() or _Budget(math.inf, [0.0])


class BudgetExceeded(Exception):
    """The extraction took longer than its budget; its partial result must not be used."""


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Run the block with ``seconds`` to spend (an inner budget never extends an outer one)."""
    outer = _get()
    paused = outer.paused if outer.deadline != math.inf else [0.0]
    inner = _Budget(0.0, paused)
    inner.deadline = min(outer.deadline, inner.now() + seconds)
    token = _current.set(inner)
    try:
        yield
    finally:
        _current.reset(token)


def check() -> None:
    """Raise :class:`BudgetExceeded` when the current budget has run out."""
    current = _get()
    if current.now() > current.deadline:
        raise BudgetExceeded


@contextmanager
def not_counted() -> Iterator[None]:
    """Run the block without charging it to the budget (one-time work such as importing talon or lxml)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _get().paused[0] += time.perf_counter() - start
