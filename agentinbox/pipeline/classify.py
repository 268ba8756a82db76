"""Classification of inbound mail: the verdict step before storing, and the event type its labels give.

A classifier looks at one arriving message for one inbox and returns the classification labels it earns —
``spam`` (a content verdict), ``blocked`` (the sender matched a block list), ``unauthenticated`` (SPF, DKIM
or DMARC did not vouch for the sender). Classifiers are listed on ``Context.classifiers`` (the allow/block
lists by default) and run in the storing transaction, in order, so they may read the database (block lists);
they must be quick, and one that raises fails the store (queued mail is then retried). Labelled mail is still
stored, hidden from lists unless ``include_spam`` etc. ask for it, and is announced only by its
``message.received.*`` variant (reference §9.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from ..mail.parse import ParsedMessage

__all__ = ["CLASSIFICATION_LABELS", "Arrival", "Classifier", "classify", "received_event_type"]

#: The labels a classifier may give, in the precedence ``received_event_type`` applies: a block list is
#: the owner's explicit decision, spam a verdict on the content, unauthenticated the weakest signal.
CLASSIFICATION_LABELS = ("blocked", "spam", "unauthenticated")


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message arriving in one inbox, as a classifier sees it: the raw bytes, the parsed message, the
    receiving inbox and pod, and the envelope sender when the path that delivered it knows it."""

    raw: bytes
    parsed: ParsedMessage
    inbox_id: str
    pod_id: str
    mail_from: str | None = None


#: ``classifier(conn, arrival)`` → the classification labels the message earns (an empty iterable: none).
Classifier = Callable[[Connection, Arrival], Iterable[str]]


def classify(conn: Connection, arrival: Arrival, classifiers: Sequence[Classifier]) -> list[str]:
    """The classification labels ``classifiers`` give ``arrival``, lower-cased, without repeats.

    Raises ValueError for a label that is not a classification label (a classifier's bug, not the mail's).
    """
    labels: list[str] = []
    for classifier in classifiers:
        for label in classifier(conn, arrival):
            normalized = label.strip().lower() if isinstance(label, str) else label
            if normalized not in CLASSIFICATION_LABELS:
                raise ValueError(
                    f"classifier {classifier!r} gave {label!r}; only {', '.join(CLASSIFICATION_LABELS)} may be"
                    " given"
                )
            if normalized not in labels:
                labels.append(normalized)
    return labels


def received_event_type(labels: Iterable[str]) -> str:
    """The event announcing a received message with ``labels``: ``message.received.blocked``, else
    ``.spam``, else ``.unauthenticated``, else plain ``message.received`` — exactly one of them."""
    present = set(labels)
    for label in CLASSIFICATION_LABELS:
        if label in present:
            return f"message.received.{label}"
    return "message.received"
