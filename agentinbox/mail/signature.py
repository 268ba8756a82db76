"""Signatures at the end of a message's new content: the "-- " delimiter (RFC 3676 section 4.3), mobile
footers ("Sent from my iPhone", "Von meinem iPhone gesendet", …), and a closing sign-off ("Best regards,"
and a few short lines of name and title). They are split off, never deleted.

Pure functions, no I/O; only the last lines of a text are looked at.
"""

from __future__ import annotations

import bisect
import re

__all__ = ["is_mobile_footer", "split_signature"]

_MAX_SIGNATURE_LINES = 15  # a "-- " with more after it delimits something else
_MAX_SIGNOFF_TAIL = 5  # name, title, company, phone … after a sign-off

_DELIMITER = re.compile(r"^(?:-- ?|—|--\s*)$")
_MOBILE = re.compile(
    r"^\s*(?:"
    r"sent from (?:my )?[\w' .,&-]{1,40}|sent via [\w' .-]{1,40}|sent with [\w' .-]{1,40}|"
    r"sent using [\w' .-]{1,40}|get outlook for (?:ios|android|mac|windows)|"
    r"envoyé (?:de|depuis) (?:mon |l'application )?[\w' .-]{1,30}|"
    r"von meinem [\w' .-]{1,30} gesendet|gesendet von (?:meinem )?[\w' .-]{1,30}|"
    r"gesendet mit [\w' .-]{1,30}|"
    r"enviado (?:desde|de|do) (?:mi |meu |o meu |minha )?[\w' .-]{1,30}|"
    r"inviato da (?:il mio |mio )?[\w' .-]{1,30}|"
    r"verzonden (?:vanaf|met|van) (?:mijn )?[\w' .-]{1,30}|verstuurd vanaf (?:mijn )?[\w' .-]{1,30}|"
    r"skickat från (?:min |mitt )?[\w' .-]{1,30}|skickades från (?:min )?[\w' .-]{1,30}|"
    r"sendt fra (?:min |mit |mitt )?[\w' .-]{1,30}|"
    r"wysłane z (?:mojego |mojej )?[\w' .-]{1,30}|wysłano z (?:mojego |mojej )?[\w' .-]{1,30}|"
    r"отправлено (?:с|из) [\w' .-]{1,30}|"
    r"[\w' .-]{1,20}から送信|[\w' .-]{1,20}から送信しました|"
    r"发自我的[\w' .-]{1,20}|從我的 ?[\w' .-]{1,20} ?傳送|发自 ?[\w' .-]{1,20}|"
    r"lähetetty (?:iphonesta|ipadista|android-puhelimesta|[\w-]{1,20}sta)"
    r")\s*$",
    re.IGNORECASE,
)
# A sentence, not a footer: "Sent from my desk, is much easier than my mobile phone."
_SENTENCE = re.compile(r"[,;.!?]\s+\w")
_CARRIER = re.compile(r", an? [\w&' -]{0,30}(?:smartphone|phone|device|tablet)$", re.IGNORECASE)
_LINK = re.compile(r"\s*<https?://[^>\s]*>\s*$")  # "Get Outlook for iOS<https://aka.ms/o0ukef>"

_SIGNOFF = re.compile(
    r"^\s*(?:"
    r"(?:best|kind|warm|warmest|many|with kind|with best)?\s*(?:regards|wishes)|best|cheers|thanks|"
    r"thank you|many thanks|thanks again|thanks and regards|thanks & regards|sincerely|yours(?: truly| sincerely)?|"
    r"all the best|take care|talk soon|br|kr|rgds|"
    r"mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|freundliche grüsse|viele grüße|"
    r"viele grüsse|beste grüße|beste grüsse|liebe grüße|liebe grüsse|grüße|grüsse|lg|vg|mfg|gruß|gruss|"
    r"cordialement|bien cordialement|bien à vous|bien a vous|salutations|amitiés|bonne journée|merci|"
    r"saludos(?: cordiales)?|un saludo|atentamente|un abrazo|gracias|"
    r"cordiali saluti|distinti saluti|saluti|un saluto|grazie|"
    r"atenciosamente|abraços|abraço|cumprimentos|obrigad[oa]|"
    r"met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groeten|groet|mvg|"
    r"med vänliga hälsningar|vänliga hälsningar|hälsningar|mvh|vh|tack|"
    r"med venlig hilsen|venlig hilsen|mange hilsner|hilsen|kh|kærlig hilsen|"
    r"med vennlig hilsen|vennlig hilsen|"
    r"pozdrawiam(?: serdecznie)?|z poważaniem|z powazaniem|serdecznie pozdrawiam|pozdrowienia|"
    r"с уважением|всего доброго|спасибо|с наилучшими пожеланиями|"
    r"よろしくお願いいたします。?|よろしくお願いします。?|以上、?よろしくお願いいたします。?|"
    r"此致敬礼|此致|谢谢|祝好|顺祝商祺"
    r")\s*[,.!]?\s*$",
    re.IGNORECASE,
)
# "-Abhishek", "/John", "– Ann Smith": a name signed with a leading dash or slash
_DASH_NAME = re.compile(r"^\s*(?:[-/~]|[–—] ?)[^\W\d_][\w.'-]*(?: [^\W\d_][\w.'-]*){0,2}\s*$")


_RULE = re.compile(r"^(?:[-_=*] ?){10,}$")
_LIST_WORDS = ("mailing list", "listinfo", "unsubscribe", "list-unsubscribe", "mailman", "google groups",
               "you received this message because you are subscribed")  # fmt: skip
_MAX_FOOTER_LINES = 8


def _list_footer(lines: list[str], content: list[int]) -> int | None:
    """The index of the rule line that starts a mailing list's footer at the end of ``lines``, or None."""
    for index in reversed(content[-_MAX_FOOTER_LINES:]):
        if _RULE.match(lines[index].strip()):
            after = "\n".join(lines[index + 1 :]).lower()
            if index != content[0] and any(words in after for words in _LIST_WORDS):
                return index
            return None
    return None


def is_mobile_footer(line: str) -> bool:
    """Whether ``line`` is a mobile or mail-app footer such as "Sent from my iPhone"."""
    stripped = _LINK.sub("", line).strip()
    stripped = _CARRIER.sub("", stripped)  # "…, an AT&T 5G smartphone" is a carrier's footer, not a sentence
    if len(stripped) > 60 or not _MOBILE.match(stripped):
        return False
    return not _SENTENCE.search(stripped.removeprefix("Sent from my").removeprefix("sent from my"))


def _is_short(line: str) -> bool:
    return len(line.strip()) <= 60


def split_signature(text: str) -> tuple[str, str | None]:
    """``(body, signature)``: ``text`` split before its signature, or ``(text, None)`` when it has none.

    The body is never emptied: a text that is all signature stays body.
    """
    lines = text.rstrip().split("\n")
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return text.strip(), None
    start: int | None = None
    # 1. the "-- " delimiter: the first one whose tail is short enough (only the last lines can have one)
    for index in content[max(1, bisect.bisect_left(content, len(lines) - 1 - _MAX_SIGNATURE_LINES)) :]:
        delimiter = _DELIMITER.match(lines[index].rstrip(" ")) or lines[index] == "-- "
        if delimiter and len(lines) - index - 1 <= _MAX_SIGNATURE_LINES:
            start = index
            break
    # 2. a mailing list's footer ("_____", "riak-users mailing list", its listinfo address)
    footer = _list_footer(lines, content)
    if footer is not None:
        start = footer if start is None else min(start, footer)
    # 3. a mobile footer among the last three lines
    for index in content[-3:]:
        if index != content[0] and is_mobile_footer(lines[index]):
            start = index if start is None else min(start, index)
            break
    # 4. a sign-off line followed by a few short lines (name, title, phone)
    limit = start if start is not None else len(lines)
    tail = [i for i in content if i < limit]
    for position in range(max(0, len(tail) - _MAX_SIGNOFF_TAIL - 1), len(tail)):
        index = tail[position]
        if index == tail[0]:
            continue
        after = tail[position + 1 :]
        # a sign-off with the sender's name under it
        if (
            _SIGNOFF.match(lines[index].strip())
            and all(_is_short(lines[i]) for i in after)
            and (after or start is not None)
        ):
            start = index if start is None else min(start, index)
            break
    # 5. a name signed with a dash or slash ("-Abhishek Kona", "/John") as the last line
    if len(tail) >= 2 and _DASH_NAME.match(lines[tail[-1]]):
        previous = lines[tail[-2]].lstrip()
        if not previous.startswith(lines[tail[-1]].lstrip()[0]):  # not the last item of a list
            start = tail[-1] if start is None else min(start, tail[-1])
    if start is None:
        return text.strip(), None
    body = "\n".join(lines[:start]).strip()
    signature = "\n".join(lines[start:]).strip()
    if not body:
        return text.strip(), None
    return body, signature or None
