"""Label rules (AgentMail §2.5): normalisation, the system labels only the engine may set. No I/O."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ValidationError

__all__ = [
    "HIDDEN_LABELS",
    "SYSTEM_LABELS",
    "normalize_labels",
    "user_labels",
]

#: Labels set only by the engine; a caller adding or removing one gets a ValidationError.
SYSTEM_LABELS = frozenset(
    {"received", "sent", "delivered", "bounced", "complained", "delayed", "rejected", "opened"}
)
#: Labels that keep a message or thread out of lists unless the matching ``include_*`` flag is true.
HIDDEN_LABELS = ("spam", "blocked", "unauthenticated", "trash")

_MAX_LABEL_LENGTH = 256


def normalize_labels(labels: str | Iterable[str] | None, *, field: str = "labels") -> list[str]:
    """Lower-case, strip and de-duplicate labels, keeping their order; a bare string is one label."""
    if labels is None:
        return []
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, Iterable) or isinstance(labels, bytes | dict):
        raise ValidationError("labels must be a string or a list of strings", path=[field])
    result: list[str] = []
    for index, label in enumerate(labels):
        if not isinstance(label, str):
            raise ValidationError(f"label must be a string, got {type(label).__name__}", path=[field, index])
        normalized = label.strip().lower()
        if not normalized:
            raise ValidationError("labels cannot be empty", path=[field, index])
        if len(normalized) > _MAX_LABEL_LENGTH or any(ch in normalized for ch in "\r\n\x00"):
            raise ValidationError(
                f"label {label[:40]!r} is longer than {_MAX_LABEL_LENGTH} characters or has control characters",
                path=[field, index],
            )
        if normalized not in result:
            result.append(normalized)
    return result


def user_labels(labels: str | Iterable[str] | None, *, field: str = "labels") -> list[str]:
    """Normalise labels a caller wants to set, refusing the system labels only the engine may set."""
    normalized = normalize_labels(labels, field=field)
    for index, label in enumerate(normalized):
        if label in SYSTEM_LABELS:
            raise ValidationError(
                f"{label!r} is a system label set only by the engine; it cannot be added or removed",
                path=[field, index],
            )
    return normalized
