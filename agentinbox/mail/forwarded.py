"""Forwarded messages inside a plain-text body: the forward note above the marker is the sender's new content,
the forwarded message below it is kept whole as a :class:`ForwardedMessage` (its header fields read out).

Pure functions over lines, no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .attribution import header_key
from .budget import check

__all__ = ["ForwardedMessage", "find_forward_marker", "parse_forwarded"]

_FORWARDED = (
    r"forwarded message|forwarded e-?mail|weitergeleitete nachricht|message transféré|message transfere|"
    r"message réexpédié|mensaje reenviado|correo reenviado|messaggio inoltrato|mensagem encaminhada|"
    r"mensagem reencaminhada|doorgestuurd bericht|doorgestuurde e-mail|vidarebefordrat meddelande|"
    r"vidarebefordrat mejl|videresendt meddelelse|videresendt besked|videresendt melding|"
    r"wiadomość przekazana|przekazana wiadomość|пересылаемое сообщение|пересланное сообщение|"
    r"転送されたメッセージ|転送メッセージ|转发的邮件|已转发邮件|轉寄的郵件|轉寄郵件"
)
_DASHED_MARKER = re.compile(rf"^[-_=*]{{2,}} ?(?:{_FORWARDED}) ?[-_=*]{{2,}}$", re.IGNORECASE)
_BEGIN_MARKER = re.compile(
    r"^(?:begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié|"
    r"debut du message reexpedie|inicio del mensaje reenviado|comienzo del mensaje reenviado|"
    r"inizio messaggio inoltrato|início da mensagem reencaminhada|inicio da mensagem reencaminhada|"
    r"mensagem encaminhada|begin doorgestuurd bericht|vidarebefordrat mejl|videresendt besked|"
    r"videresendt melding|początek przekazywanej wiadomości|начало переадресованного сообщения|"
    r"転送されたメッセージ|以下是转发的邮件|转发的邮件|轉寄的郵件|forwarded message) ?[:：]$",
    re.IGNORECASE,
)
_FIELD = {
    "from": "from", "von": "from", "de": "from", "da": "from", "van": "from", "från": "from", "fra": "from",
    "od": "from", "от": "from", "差出人": "from", "发件人": "from", "寄件者": "from", "absender": "from",
    "to": "to", "an": "to", "à": "to", "a": "to", "para": "to", "aan": "to", "till": "to", "til": "to",
    "do": "to", "кому": "to", "宛先": "to", "收件人": "to", "收件者": "to",
    "cc": "cc", "kopie": "cc", "kopia": "cc", "kopi": "cc", "копия": "cc", "抄送": "cc", "dw": "cc",
    "subject": "subject", "betreff": "subject", "objet": "subject", "asunto": "subject", "oggetto": "subject",
    "assunto": "subject", "onderwerp": "subject", "ämne": "subject", "emne": "subject", "temat": "subject",
    "тема": "subject", "件名": "subject", "主题": "subject", "主旨": "subject",
    "date": "date", "sent": "date", "datum": "date", "gesendet": "date", "envoyé": "date", "fecha": "date",
    "enviado": "date", "data": "date", "inviato": "date", "verzonden": "date", "skickat": "date",
    "sendt": "date", "wysłano": "date", "дата": "date", "отправлено": "date", "日付": "date",
    "送信日時": "date", "日期": "date", "发送时间": "date", "寄件日期": "date",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ForwardedMessage:
    """A message forwarded inside another: ``text`` is the whole block as it appeared (marker included);
    the header fields found in it and its ``body`` are read out of it."""

    text: str
    body: str
    from_: str | None = None
    to: str | None = None
    cc: str | None = None
    date: str | None = None
    subject: str | None = None


def find_forward_marker(lines: Sequence[str], start: int = 0) -> int | None:
    """The index of the first forward marker ("---------- Forwarded message ---------", "Begin forwarded
    message:", localized) at or after ``start``, among unquoted lines."""
    # The same lines are often searched twice in a row (before talon and after it, when it changed nothing):
    # the second search is answered from the cache.
    return _find_forward_marker(tuple(lines), start)


@functools.lru_cache(maxsize=8)
def _find_forward_marker(lines: tuple[str, ...], start: int) -> int | None:
    for index in range(start, len(lines)):
        if not index & 63:
            check()
        line = lines[index]
        stripped = line.strip()
        if len(stripped) > 200 or not stripped:
            continue
        if stripped[0] in "-_=*" and stripped[-1] in "-_=*" and _DASHED_MARKER.match(stripped):
            return index
        if stripped[-1] in ":：" and _BEGIN_MARKER.match(stripped):
            return index
    return None


def parse_forwarded(lines: list[str]) -> ForwardedMessage:
    """Read the forwarded block ``lines`` (its marker first): header fields up to the first blank line after
    them, the rest is the body."""
    fields: dict[str, str] = {}
    pos = 1
    while pos < len(lines) and not lines[pos].strip():
        pos += 1
    last: str | None = None
    while pos < len(lines) and lines[pos].strip():
        line = lines[pos]
        key = header_key(line)
        if key is not None and key in _FIELD:
            last = _FIELD[key]
            value = re.split(r"[:：]", line, maxsplit=1)[1]
            fields.setdefault(last, value.strip(" *_\t"))
        elif key is None and last is not None and len(line) < 200:
            fields[last] = f"{fields[last]} {line.strip()}".strip()  # a wrapped value
        else:
            break
        pos += 1
    body = "\n".join(lines[pos:]).strip()
    return ForwardedMessage(
        text="\n".join(lines).strip(),
        body=body,
        from_=fields.get("from"),
        to=fields.get("to"),
        cc=fields.get("cc"),
        date=fields.get("date"),
        subject=fields.get("subject"),
    )
