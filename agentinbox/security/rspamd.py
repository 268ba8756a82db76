"""An rspamd client: ``POST /checkv2`` on its normal worker, with httpx.

The envelope goes in the request headers rspamd reads (``From``, ``IP``, ``Helo``, ``Rcpt``); the answer is
JSON with an ``action`` (spam when ``reject``, ``add header`` or ``rewrite subject``), a ``score``, its
``required_score`` and the matched ``symbols``. rspamd 3.x reports only the reject score as
``required_score``, not the lower scores of its other actions, so a message can be spam (``add header``)
below the threshold reported here. Every wait is bounded by the caller's ``seconds``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["SPAM_ACTIONS", "RspamdError", "RspamdResult", "parse_answer", "rspamd_check"]

#: The actions that mean rspamd considers the message spam (``greylist``, ``soft reject`` and
#: ``no action`` do not).
SPAM_ACTIONS = ("reject", "add header", "rewrite subject")


class RspamdError(Exception):
    """rspamd could not be reached, refused the request or answered something other than its JSON."""


@dataclass(frozen=True, slots=True)
class RspamdResult:
    """What rspamd said: its action, whether that means spam, its score, threshold and symbol names."""

    action: str
    spam: bool
    score: float
    threshold: float
    symbols: list[str]


async def rspamd_check(
    host: str,
    port: int,
    message: bytes,
    *,
    seconds: float,
    mail_from: str | None = None,
    client_ip: str | None = None,
    helo: str | None = None,
    rcpt_to: Sequence[str] = (),
) -> RspamdResult:
    """Ask rspamd's normal worker at ``host``:``port`` for its verdict on ``message``."""
    where = f"rspamd at {host}:{port}"
    headers: list[tuple[str, str]] = []
    if mail_from is not None:
        headers.append(("From", mail_from or "<>"))
    if client_ip:
        headers.append(("IP", client_ip))
    if helo:
        headers.append(("Helo", helo))
    headers.extend(("Rcpt", rcpt) for rcpt in rcpt_to)
    # Header values must be one printable line: a CR or LF here would inject request headers.
    headers = [(name, " ".join(value.split())) for name, value in headers if value.isprintable()]
    url = f"http://[{host}]:{port}/checkv2" if ":" in host else f"http://{host}:{port}/checkv2"
    try:
        # httpx's timeout bounds each read; the whole exchange is bounded too, against a trickling server.
        async with asyncio.timeout(seconds), httpx.AsyncClient(timeout=seconds, trust_env=False) as http:
            response = await http.post(url, content=message, headers=headers)
    except (TimeoutError, httpx.TimeoutException):
        raise RspamdError(f"{where} did not answer within {seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise RspamdError(f"{where} is unreachable: {exc or type(exc).__name__}") from exc
    if response.status_code != 200:
        raise RspamdError(f"{where} answered HTTP {response.status_code}: {response.text[:200]!r}")
    return parse_answer(response.content, where)


def parse_answer(content: bytes, where: str = "rspamd") -> RspamdResult:
    """Parse rspamd's ``/checkv2`` JSON answer."""
    try:
        answer: Any = json.loads(content)
    except ValueError:
        raise RspamdError(f"{where} answered {content[:60]!r}, not JSON") from None
    if not isinstance(answer, dict) or "error" in answer:
        error = answer.get("error") if isinstance(answer, dict) else None
        raise RspamdError(f"{where} could not check the message: {error or 'not a JSON object'}")
    action = answer.get("action")
    score = answer.get("score")
    if not isinstance(action, str) or not isinstance(score, int | float) or isinstance(score, bool):
        raise RspamdError(f"{where} answered without an action and a score")
    symbols = answer.get("symbols")
    names = sorted(symbols) if isinstance(symbols, dict) else []
    return RspamdResult(
        action=action,
        spam=action in SPAM_ACTIONS,
        score=float(score),
        threshold=_threshold(answer),
        symbols=names,
    )


def _threshold(answer: dict[str, Any]) -> float:
    """rspamd's ``required_score`` (its reject score), or 0 when it sent none."""
    required = answer.get("required_score")
    return float(required) if isinstance(required, int | float) and not isinstance(required, bool) else 0.0
