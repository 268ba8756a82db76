"""A SpamAssassin ``spamd`` client: the SPAMC/1.5 protocol's SYMBOLS request over asyncio streams.

One connection per message, as ``spamc`` does: send ``SYMBOLS SPAMC/1.5`` with a ``Content-length`` and the
message, read ``SPAMD/1.x 0 EX_OK``, the ``Spam: True ; 1000.0 / 5.0`` header and the comma-separated rule
names until spamd closes. Never blocks the loop; every wait is bounded by the caller's ``seconds``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_SIZE", "SpamdError", "SpamdResult", "parse_answer", "spamd_symbols"]

#: The most message bytes sent to spamd, as ``spamc``'s default ``--max-size`` (500 KiB).
DEFAULT_MAX_SIZE = 512_000
_MAX_ANSWER = 256_000  # a rule list longer than this is not an answer spamd gives
_STATUS = re.compile(r"^SPAMD/1\.\d+ (\d+) (.*)$")
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_SPAM = re.compile(rf"^(True|False|Yes|No)\s*;\s*{_NUMBER}\s*/\s*{_NUMBER}\s*$", re.IGNORECASE)


class SpamdError(Exception):
    """spamd could not be reached, refused the request or answered something other than SPAMD/1.x."""


@dataclass(frozen=True, slots=True)
class SpamdResult:
    """What spamd said: spam or not, its score and threshold, and the names of the rules that matched."""

    spam: bool
    score: float
    threshold: float
    rules: list[str]


async def spamd_symbols(
    host: str, port: int, message: bytes, *, seconds: float, max_size: int = DEFAULT_MAX_SIZE
) -> SpamdResult:
    """Ask spamd at ``host``:``port`` for its verdict on ``message`` (its first ``max_size`` bytes, cut at a
    line end, as a large message is judged on its headers and first parts)."""
    where = f"spamd at {host}:{port}"
    if len(message) > max_size:
        cut = message.rfind(b"\n", 0, max_size)
        message = message[: cut + 1 if cut > 0 else max_size]
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(message))
                writer.write(message)
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                answer = await reader.read(_MAX_ANSWER)
                while chunk := await reader.read(_MAX_ANSWER):
                    answer += chunk
                    if len(answer) > _MAX_ANSWER:
                        raise SpamdError(f"{where} sent more than {_MAX_ANSWER} bytes in answer")
            finally:
                writer.close()
    except TimeoutError:
        raise SpamdError(f"{where} did not answer within {seconds:g} s") from None
    except OSError as exc:
        raise SpamdError(f"{where} is unreachable: {exc.strerror or exc}") from exc
    return parse_answer(answer, where)


def parse_answer(answer: bytes, where: str = "spamd") -> SpamdResult:
    """Parse spamd's answer to SYMBOLS (status line, headers, blank line, rule names)."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = _STATUS.match(lines[0])
    if status is None:
        shown = answer[:60].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise SpamdError(f"{where} answered {shown!r}, not a SPAMD/1.x status line")
    if status.group(1) != "0":
        raise SpamdError(f"{where} refused the message: {status.group(1)} {status.group(2)}")
    spam: re.Match[str] | None = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "spam":
            spam = _SPAM.match(value.strip())
    if spam is None or not separator:
        raise SpamdError(f"{where} answered without a valid Spam header")
    rules = [name.strip() for name in body.decode("latin-1").split(",") if name.strip()]
    return SpamdResult(
        spam=spam.group(1).lower() in ("true", "yes"),
        score=float(spam.group(2)),
        threshold=float(spam.group(3)),
        rules=rules,
    )
