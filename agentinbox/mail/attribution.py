"""Where quoted history starts in a plain-text reply: attribution lines ("On … wrote:") in many languages,
possibly wrapped over two or three lines, Outlook/Exchange header blocks (``From: … Sent: … To: …``, localized)
and "Original Message" separators.

Pure functions over lists of lines, no I/O; every pattern is anchored and bounded so that a line costs
linear time (long lines are not tested at all).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .budget import check

__all__ = [
    "Boundary", "find_boundary", "header_key", "is_attribution", "is_original_message", "looks_like_lead",
]  # fmt: skip

_MAX_ATTRIBUTION = 400  # characters of an attribution, its wrapped lines joined
_MAX_LINE = 1000  # longer lines are never headers or attributions

# Words an attribution line starts with ("On <date>, <person> wrote:") …
_LEADS = r"on|am|le|el|il(?: giorno)?|em|op|den|d\.|på|w dniu|dne|vào|в|在|於|日時|el día|no dia"
# … and the verbs it ends with ("wrote", "schrieb", "a écrit", …), before an optional colon.
_VERBS = (
    r"wrote|writes|sent|schrieb|geschrieben|a écrit|a ecrit|écrit|escribió|escribio|ha scritto|scrisse|"
    r"escreveu|escreveu o seguinte|schreef|heeft (?:het volgende )?geschreven|het volgende geschreven|"
    r"skrev|skrev følgende|napisał\(a\)|napisał|napisała|napisal|napsal\(a\)|napsal|đã viết|kirjoitti|"
    r"írta|yazdı|написал\(а\)|написала|написал|пишет|wrote the following|"
    r"のメッセージ|のメール|さんは書きました|は書きました|書きました|写道|寫道|寫了|来信"
)
_ATTRIBUTION_LEAD = re.compile(rf"^\s*(?:-+\s*)?(?:{_LEADS})\b", re.IGNORECASE)
_ATTRIBUTION_LEAD_CJK = re.compile(r"^\s*(?:在|於)")
_VERB_ANYWHERE = re.compile(rf"\b(?:{_VERBS})(?:\s|$|:)", re.IGNORECASE)
_HAS_DIGIT = re.compile(r"\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\bmailto:")
_TIME = re.compile(r"\b\d{1,2}[:.h]\d\d\b|\d{1,2}時|\d{1,2}:\d\d")
_YEAR_OR_DAY = re.compile(r"\b(?:19|20)\d\d\b|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d+年|\d+月")
# "---- John Smith wrote ----" (Android), "-----On … wrote-----"
_DASHED = re.compile(r"^\s*-{2,}.*\b(?:wrote|schrieb|a écrit|skrev|escribió)\b.*-{2,}\s*$", re.IGNORECASE)

# Header fields of Outlook/Exchange/Apple quote headers and forwarded messages, localized.
_FROM_KEYS = (
    "from", "von", "de", "da", "van", "från", "fra", "od", "от", "差出人", "发件人", "發件人", "寄件者",
    "lähettäjä", "feladó", "afzender", "remitente", "mittente", "expéditeur", "absender",
)  # fmt: skip
_OTHER_KEYS = (
    "sent", "date", "to", "cc", "bcc", "subject", "reply-to",
    "gesendet", "datum", "an", "kopie", "betreff", "cc",
    "envoyé", "envoyé le", "date", "à", "objet", "a", "cc",
    "enviado", "enviado el", "fecha", "para", "asunto", "cc",
    "inviato", "data", "oggetto",
    "enviada", "assunto", "enviado em",
    "verzonden", "aan", "onderwerp", "verstuurd",
    "skickat", "till", "ämne", "kopia",
    "sendt", "til", "emne", "kopi",
    "wysłano", "wysłane", "do", "temat", "dw",
    "отправлено", "дата", "кому", "тема", "копия",
    "送信日時", "日付", "宛先", "件名", "送信",
    "发送时间", "日期", "收件人", "主题", "抄送", "時間",
    "寄件日期", "收件者", "主旨", "副本", "傳送時間",
    "lähetetty", "vastaanottaja", "aihe", "elküldve", "címzett", "tárgy",
)  # fmt: skip
_ALL_KEYS = frozenset(_FROM_KEYS) | frozenset(_OTHER_KEYS)
_MAX_KEY = 24  # "*Envoyé le :*" and the like: a field name is short
_SEPARATOR_LINE = re.compile(r"^(?:[-_=*] ?){10,}$")

_ORIGINAL = (
    r"original message|reply message|ursprüngliche nachricht|antwort nachricht|originalnachricht|"
    r"oprindelig meddelelse|message d'origine|message original|mensaje original|messaggio originale|"
    r"mensagem original|oorspronkelijk bericht|origineel bericht|originalmeddelande|ursprungligt meddelande|"
    r"opprinnelig melding|original melding|originalmelding|wiadomość oryginalna|oryginalna wiadomość|"
    r"исходное сообщение|оригинальное сообщение|元のメッセージ|オリジナル メッセージ|原始邮件|原始郵件|"
    r"原始信件|alkuperäinen viesti|eredeti üzenet"
)
_ORIGINAL_MESSAGE = re.compile(rf"^[-_=*]*\s?(?:{_ORIGINAL})\s?[-_=*]*$", re.IGNORECASE)


def header_key(line: str) -> str | None:
    """The lower-cased field name when ``line`` looks like a quote-header field ("*Von:* …"), else None."""
    if len(line) > _MAX_LINE:
        return None
    stripped = line.strip()
    colon = stripped.find(":")
    wide = stripped.find("：")
    if colon == -1 or (wide != -1 and wide < colon):
        colon = wide
    if colon <= 0 or colon > _MAX_KEY:
        return None
    key = " ".join(stripped[:colon].strip(" \t*_").lower().split())
    return key if key in _ALL_KEYS else None


_NAMED = re.compile(r"[^\W\d_]|@")


def _value(line: str) -> str:
    """What follows the field name of a header line."""
    return re.split(r"[:：]", line, maxsplit=1)[-1]


def is_original_message(line: str) -> bool:
    """A separator such as "-----Original Message-----" (localized)."""
    line = line.strip()
    return len(line) < 120 and _ORIGINAL_MESSAGE.match(line) is not None


@functools.lru_cache(maxsize=4096)
def is_attribution(text: str) -> bool:
    """Whether ``text`` (one line, or a wrapped attribution's lines joined by spaces) introduces a quote."""
    text = text.strip()
    if not text or len(text) > _MAX_ATTRIBUTION or text[0] == ">":
        return False
    if text[0] == "-" and _DASHED.match(text):
        return True
    # cheap string tests first: this runs on every line that ends with a colon
    ends_with_colon = text.endswith((":", "："))
    tail = text.rstrip(" \t:：-").lower()
    verb_end = tail.endswith(_VERB_WORDS)
    if not (ends_with_colon or verb_end):
        return False
    lead = _ATTRIBUTION_LEAD.match(text) or _ATTRIBUTION_LEAD_CJK.match(text)
    if lead and ends_with_colon and _HAS_DIGIT.search(text) and _VERB_ANYWHERE.search(text):
        return True  # "Am 03.03.25 um 17:02 schrieb Dr. Hoffmann vom Institut:", "Op … schreef Jan:"
    has_address = "@" in text or "mailto:" in text
    if verb_end:
        if lead:
            return True  # "On Mon, … wrote:", "Le … a écrit :", "在 … 写道："
        # No lead word ("Bob <bob@x> schrieb am …:", Gmail's "2015年1月27日 … 写道："): a date or an address
        if ends_with_colon or tail.endswith(_CJK_VERBS):
            return bool(has_address or _TIME.search(text) or _YEAR_OR_DAY.search(text))
        return False
    # Gmail in some locales has no verb: "пн, 27 янв. 2015 г. в 12:42, Иван <ivan@example.ru>:"
    if has_address and _TIME.search(text) and _EMAIL.search(text):
        return bool(_YEAR_OR_DAY.search(text)) and header_key(text) is None
    return False


_VERB_TAIL = 60  # an attribution's verb is among its last characters


_VERB_WORDS = tuple(
    word.replace("\\(", "(").replace("\\)", ")")
    for word in re.sub(r"\(\?:([^)]*)\)\?", "", _VERBS).replace("  ", " ").split("|")
)
_LAST_CHARS = frozenset(word[-1] for word in _VERB_WORDS)
_CJK_VERBS = ("写道", "寫道", "書きました", "のメッセージ", "のメール")


def _may_end_attribution(line: str) -> bool:
    """A cheap test: could ``line`` be the last line of an attribution (a colon, a dash or a verb at its end)?"""
    line = line.rstrip()
    if line.endswith((":", "：", "-")):
        return True
    return line[-1:].lower() in _LAST_CHARS and line.lower().endswith(_VERB_WORDS)


def looks_like_lead(line: str) -> bool:
    """Whether ``line`` starts like an attribution ("On Tue, Apr 11, 2017 at 10:07 PM John Smith"), its
    verb perhaps wrapped onto a later line."""
    return len(line) < _MAX_ATTRIBUTION and bool(
        (_ATTRIBUTION_LEAD.match(line) or _ATTRIBUTION_LEAD_CJK.match(line)) and _TIME.search(line)
    )


@dataclass(frozen=True, slots=True)
class Boundary:
    """Where quoted history starts: ``index`` of its first line, its ``kind`` (``attribution``, ``header``,
    ``separator``) and ``end``, the index after its introducing lines."""

    index: int
    kind: str
    end: int


def _attribution_at(lines: Sequence[str], index: int) -> int | None:
    """The index after an attribution starting at ``lines[index]`` (wrapped over up to 3 lines), or None."""
    first = lines[index]
    if len(first) > _MAX_LINE or not first.strip() or first.lstrip().startswith(">"):
        return None
    joined = first.strip()
    for extra in range(3):
        if extra:
            if index + extra >= len(lines):
                return None
            nxt = lines[index + extra].strip()
            if not nxt or nxt.startswith(">") or len(nxt) > _MAX_LINE:
                return None
            joined = f"{joined} {nxt}"
        if len(joined) > _MAX_ATTRIBUTION:
            return None
        if _may_end_attribution(lines[index + extra]) and is_attribution(joined):
            # a wrapped attribution must start like one (a lead word, a date or a dashed line)
            if extra and not (
                _ATTRIBUTION_LEAD.match(joined)
                or _ATTRIBUTION_LEAD_CJK.match(joined)
                or _HAS_DIGIT.search(first)
                or first.lstrip().startswith("-")
            ):
                return None
            return index + extra + 1
    return None


def _header_block_at(lines: Sequence[str], index: int) -> int | None:
    """The index after a header block starting at ``lines[index]``, or None.

    A block is a From-like field (or Date/Sent) followed, within a few lines, by at least one other field;
    wrapped values may take a line of their own ("[mailto:\\n bob@example.com]").
    """
    key = header_key(lines[index])
    if key is None or not (key in _FROM_KEYS or key in ("date", "sent", "datum", "gesendet", "envoyé")):
        return None
    if key in _FROM_KEYS and not _NAMED.search(_value(lines[index])):
        return None  # "From: 10:00" in meeting minutes: a sender has a name or an address
    keys = {key}
    end = index + 1
    pos = index + 1
    gap = 0
    while pos < len(lines) and pos < index + 12:
        line = lines[pos]
        if not line.strip():
            if len(keys) >= 2:
                break
            gap += 1
            if gap > 1:
                break
            pos += 1
            continue
        found = header_key(line)
        if found is None:
            if pos == end and len(line) < 120:  # a wrapped value
                pos += 1
                end = pos
                continue
            break
        keys.add(found)
        pos += 1
        end = pos
    if len(keys) < 2:
        return None
    return end


def find_boundary(lines: Sequence[str], start: int = 0) -> Boundary | None:
    """The first place at or after ``start`` where quoted history begins, among unquoted lines."""
    # The same lines are often searched twice in a row (before talon and after it, when it changed nothing):
    # the second search is answered from the cache.
    return _find_boundary(tuple(lines), start)


@functools.lru_cache(maxsize=8)
def _find_boundary(lines: tuple[str, ...], start: int) -> Boundary | None:
    count = len(lines)
    # Whether each line may end an attribution, computed once per line and only as far as needed: an
    # attribution at ``index`` ends on one of its three lines, so without such a line it is not looked for.
    may_end: list[bool] = [_may_end_attribution(line) for line in lines[start : start + 2]]
    for index in range(start, count):
        if not index & 63:
            check()
        if index + 2 < count:
            may_end.append(_may_end_attribution(lines[index + 2]))
        line = lines[index]
        stripped = line.strip()
        if not stripped or stripped[0] == ">" or len(line) > _MAX_LINE:
            continue
        if len(stripped) < 120 and _ORIGINAL_MESSAGE.match(stripped) is not None:  # is_original_message
            return Boundary(index, "separator", index + 1)
        if ":" in line or "：" in line:  # a header field has a colon
            end = _header_block_at(lines, index)
            if end is not None:
                return Boundary(_separator_before(lines, index), "header", end)
        offset = index - start
        if may_end[offset] or any(may_end[offset + 1 : offset + 3]):
            end = _attribution_at(lines, index)
            if end is not None:
                return Boundary(index, "attribution", end)
    return None


def _separator_before(lines: Sequence[str], index: int) -> int:
    """``index``, moved up to a rule line ("_____", "-----") that introduces the header block there."""
    pos = index - 1
    while pos >= 0 and not lines[pos].strip():
        pos -= 1
    if pos >= 0 and (_SEPARATOR_LINE.match(lines[pos].strip()) or is_original_message(lines[pos])):
        return pos
    return index
