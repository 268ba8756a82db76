"""Threading keys and subject normalisation (the pure half of JWZ-style threading). No I/O.

A message belongs with every message that shares any key with it: its own Message-ID, its In-Reply-To and its
References. The store keeps a key → thread map per inbox and merges threads when a message links two of them,
so a reply that arrives before its parent still ends up in one thread with it.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["normalize_subject", "thread_keys"]

#: Longest subject key kept for subject threading; longer subjects compare by their first characters.
SUBJECT_KEY_LENGTH = 200
#: Message-IDs longer than this are keyed by their hash (an index cannot hold arbitrarily long keys).
_MAX_KEY = 500

# Reply and forward prefixes in common languages, optionally with a counter ("Re[2]:", "Re(3):"),
# and mailing-list tags such as "[R] " in front of them.
_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*"
    r"(?:re|aw|sv|vs|antw|odp|rif|r|ref|réf|tr|wg|fw|fwd|rv|enc|doorst|回复|答复|转发)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"^\s*\[[^\]]{1,40}\]\s*")
_SPACE = re.compile(r"\s+")


def normalize_subject(subject: str | None) -> str:
    """The subject with reply/forward prefixes and list tags removed, lower-cased, spaces collapsed."""
    if not subject:
        return ""
    value = subject
    while True:
        stripped = _PREFIX.sub("", value, count=1)
        if stripped == value:
            break
        value = stripped
    value = _LIST_TAG.sub("", value)
    return _SPACE.sub(" ", value).strip().lower()[:SUBJECT_KEY_LENGTH]


def thread_keys(message_id: str | None, in_reply_to: str | None, references: list[str]) -> list[str]:
    """Every Message-ID that ties a message to a thread: its own, its parent's and its references'."""
    keys: list[str] = []
    for key in (message_id, in_reply_to, *references):
        if key and len(key) > _MAX_KEY:
            key = "<sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest() + ">"
        if key and key not in keys:
            keys.append(key)
    return keys
