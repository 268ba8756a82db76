"""Allow/block lists in the mail flows: the inbound classifier and the outbound recipient check.

Inbound mail that answers one of the inbox's own sent messages (its In-Reply-To names one) is checked only
against the ``reply`` lists, all other mail only against the ``receive`` lists (reference §7). The sender is
the From address (the envelope sender when there is no From); an envelope sender that differs is blocked
too when an entry names it. Blocked mail is stored with ``blocked``, never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from ..errors import MessageRejectedError
from ..mail.addresses import address_key
from ..store import lists
from .classify import Arrival

__all__ = ["check_recipients", "list_classifier"]


def list_classifier(conn: Connection, arrival: Arrival) -> list[str]:
    """``["blocked"]`` when the lists that apply refuse the message's sender, else nothing."""
    direction = (
        "reply" if lists.is_reply_to_sent(conn, arrival.inbox_id, arrival.parsed.in_reply_to) else "receive"
    )
    where = {"inbox_id": arrival.inbox_id, "pod_id": arrival.pod_id}
    sender = address_key(arrival.parsed.from_) if arrival.parsed.from_ else None
    envelope = address_key(arrival.mail_from) if arrival.mail_from else None
    if sender is None:
        sender, envelope = envelope, None
    if sender is not None and lists.decide(conn, direction, address=sender, **where) == "block":
        return ["blocked"]
    if envelope is None or envelope == sender:
        return []
    return ["blocked"] if lists.match(conn, direction, address=envelope, **where) == "block" else []


def check_recipients(conn: Connection, *, inbox_id: str, pod_id: str, recipients: Sequence[str]) -> None:
    """Raise MessageRejectedError when the send lists block a recipient or an allow list leaves it out."""
    for recipient in recipients:
        address = address_key(recipient)
        verdict = lists.decide(conn, "send", inbox_id=inbox_id, pod_id=pod_id, address=address)
        if verdict == "block":
            raise MessageRejectedError(
                f"the send lists of {inbox_id} do not allow mail to {address}: it is on a send block list, "
                "or a send allow list applies and does not name it"
            )
