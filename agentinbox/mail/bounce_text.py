"""Delivery status notifications written as plain text (qmail, Exim, Postfix, sendmail, Exchange, Gmail):
their human-readable part is the new content; the returned copy of the original message below the
marker is not.

Pure functions over lines, no I/O.
"""

from __future__ import annotations

import re

__all__ = ["find_returned_message", "human_readable"]

_RETURNED = re.compile(
    r"^\s*(?:"
    r"-+ ?below this line is a copy of the message\.?|"  # qmail
    r"-+ this is a copy of the message, including all the headers\. ?-+|"  # Exim
    r"-+ ?original message follows ?-+|-+ ?unsent message follows ?-+|"  # sendmail
    r"-+ ?returned mail follows ?-+|-+ ?the original message was ?-+|"
    r"-+ ?original message ?-+ ?follows\.?|"
    r"-+ ?message (?:header|headers) follows ?-+|"
    r"original message headers:?|"  # Exchange, Office 365
    r"-+ ?original message headers ?-+|"
    r"-+ ?original message ?-+|"  # Gmail
    r"----- ?message truncated ?-----|"
    r"-+ ?forwarded message ?-+\s*(?=$)"
    r")\s*$",
    re.IGNORECASE,
)
# Words a bounce's report uses near its top (lower case; looked for as substrings, which is fast).
_DSN_HINTS = (
    "mail delivery failed", "mail delivery subsystem", "mail delivery system", "delivery status notification",
    "undeliverable", "undelivered", "could not be delivered", "returned mail", "delivery has failed",
    "failure notice", "mailer-daemon", "this is the mail system", "permanent error", "permanent fatal error",
    "delivery to the following recipient", "message not delivered", "wasn't delivered", "couldn't be delivered",
    "address not found", "unable to deliver", "could not deliver", "couldn't deliver", "failed permanently",
    "delivery failed", "delivery to the following", "not be delivered", "zustellung", "unzustellbar",
    "non remis", "no se pudo entregar", "qmail-send program", "able to deliver", "delivery failure",
    "delivery status notification", "mail system error", "returned to sender",
)  # fmt: skip


def _is_bounce_text(head: str) -> bool:
    folded = head.lower()
    return any(hint in folded for hint in _DSN_HINTS)


def find_returned_message(lines: list[str]) -> int | None:
    """The index of the marker before the returned original in a bounce's text, or None when ``lines``
    read like no bounce (the bounce wording must come before the marker)."""
    for index, line in enumerate(lines):
        if len(line) < 160 and _RETURNED.match(line):
            head = "\n".join(lines[:index])
            if _is_bounce_text(head):
                return index
    return None


_HEAD_LINES = 15  # a bounce says what it is at its top


# Words only a mail server writes, and SMTP status codes ("550 5.1.1", "#5.1.1"): with them, a message whose
# top reads like a bounce is one even without a returned copy ("the parcel was not delivered" is not).
_SERVER_WORDS = ("this is the mail system", "mailer-daemon", "qmail-send program", "mail delivery subsystem",
                 "delivery status notification", "mail delivery software", "diagnostic-code")  # fmt: skip
_STATUS_CODE = re.compile(
    r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])|\b[45]\d\d[ -][^\n]*\b(?:user|mailbox|recipient|address)"
)


def human_readable(lines: list[str]) -> list[str] | None:
    """The human-readable report of a bounce (``lines`` up to the returned copy of the message), or None
    when ``lines`` are not a bounce's."""
    head = "\n".join(lines[:_HEAD_LINES])
    if not _is_bounce_text(head):
        return None
    returned = find_returned_message(lines)
    if returned is not None:
        return lines[:returned]
    folded = head.lower()
    if any(words in folded for words in _SERVER_WORDS) or _STATUS_CODE.search("\n".join(lines[:60])):
        return lines
    return None
