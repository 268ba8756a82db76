"""Time: a replaceable clock and the integer-microsecond timestamps the store keeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Clock", "ManualClock", "from_datetime", "to_datetime"]


class Clock:
    """Wall-clock time in microseconds since the epoch; tests swap in a ManualClock."""

    def now(self) -> int:
        return time.time_ns() // 1000


class ManualClock(Clock):
    """A clock that moves only when told to, so time-dependent behaviour is testable without sleeping."""

    def __init__(self, start: datetime | int | None = None) -> None:
        if start is None:
            self._now = Clock().now()
        elif isinstance(start, datetime):
            self._now = from_datetime(start)
        else:
            self._now = start

    def now(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1_000_000)


def to_datetime(value: int) -> datetime:
    """A stored timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def from_datetime(value: datetime) -> int:
    """An aware datetime (naive ones are taken as UTC) as a stored timestamp."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)
