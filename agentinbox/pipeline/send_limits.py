"""Send safety: per-inbox send rate limits and the daily cap of a custom domain still warming up.

Both are checked in the sending transaction, before anything is stored, by counting the sent messages the
window already holds (an indexed read of at most N rows per limit); a send over a limit raises
RateLimitError with the seconds until one would pass. Mail to local inboxes counts like any other.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ..errors import RateLimitError
from ..settings import Settings, parse_rate_limit
from ..store import domains, inboxes, messages

__all__ = ["DEFAULT_WARMUP", "check_send_limits"]

#: A common warm-up: 50 messages on the first day, doubling daily to 25,600 on the tenth; no cap after.
DEFAULT_WARMUP = [50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600]

_SECOND = 1_000_000
_DAY = 86_400 * _SECOND


def check_send_limits(conn: Connection, settings: Settings, *, inbox_id: str, now: int) -> None:
    """Raise RateLimitError when one more message from ``inbox_id`` would pass a send rate limit or its
    domain's warm-up cap for today."""
    for limit in settings.send_rate_limits:
        count, seconds = parse_rate_limit(limit)
        window = seconds * _SECOND
        oldest = messages.nth_sent_since(conn, [inbox_id], since=now - window + 1, n=count)
        if oldest is not None:
            raise RateLimitError(
                f"{inbox_id} has sent {count} messages in the last {_span(seconds)}, its limit "
                f"(settings.send_rate_limits {limit!r}); try again later",
                retry_after=max((oldest + window - now) / _SECOND, 0.0),
            )
    if settings.domain_warmup:
        _check_warmup(conn, settings.domain_warmup, inbox_id=inbox_id, now=now)


def _check_warmup(conn: Connection, schedule: list[int], *, inbox_id: str, now: int) -> None:
    domain = inbox_id.rpartition("@")[2]
    start = domains.warmup_start(conn, domain)
    if start is None:  # not a custom domain: the default domain, or one used without registering it
        return
    day = max(now - start, 0) // _DAY
    if day >= len(schedule):
        return
    cap = schedule[day]
    senders = inboxes.inbox_ids_on_domain(conn, domain)
    oldest = messages.nth_sent_since(conn, senders, since=now - _DAY + 1, n=cap)
    if oldest is not None:
        raise RateLimitError(
            f"{domain} is warming up (day {day + 1} of {len(schedule)}): its inboxes may send {cap} messages "
            "in 24 hours and have (settings.domain_warmup); try again later",
            retry_after=max((oldest + _DAY - now) / _SECOND, 0.0),
        )


def _span(seconds: int) -> str:
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds == size:
            return name
    return f"{seconds} seconds" if seconds != 1 else "second"
