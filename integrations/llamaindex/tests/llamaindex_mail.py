"""Raw test mail for the LlamaIndex integration's tests (a module name no other test folder uses)."""

from __future__ import annotations

DOMAIN = "agents.test"


def mail(
    n: int,
    *,
    to: str = f"desk@{DOMAIN}",
    subject: str = "Invoice question",
    body: str = "Hello",
    reply_to: int | None = None,
    quoted: str = "",
    sender: str = "carol@example.com",
    day: int | None = 1,
) -> bytes:
    """A raw message ``<m{n}@example.com>``; ``reply_to`` threads it under an earlier one, ``quoted`` is the
    history a mail program appends below the reply; ``day=None`` leaves the Date out (the arrival time
    counts)."""
    headers = [
        f"From: Carol <{sender}>",
        f"To: {to}",
        f"Subject: {'Re: ' if reply_to is not None else ''}{subject}",
        f"Message-ID: <m{n}@example.com>",
    ]
    if day is not None:
        headers.append(f"Date: Mon, {day:02d} Jun 2026 10:{n % 60:02d}:00 +0000")
    if reply_to is not None:
        headers += [f"In-Reply-To: <m{reply_to}@example.com>", f"References: <m{reply_to}@example.com>"]
    text = body + "\r\n"
    if quoted:
        text += "\r\nOn Mon, 1 Jun 2026, Desk wrote:\r\n" + "".join(
            f"> {line}\r\n" for line in quoted.splitlines()
        )
    return ("\r\n".join(headers) + "\r\n\r\n" + text).encode()
