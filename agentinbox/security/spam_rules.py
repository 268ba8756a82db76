"""The built-in spam rules: GTUBE, authentication failures and a small scored set of well-known spam signals.

Pure functions over an ``Inspection``; no I/O. Each rule that matches adds its score, and a message scoring
at or above the threshold is spam. The rules follow signals SpamAssassin has long scored (shouting
subjects, lottery, advance-fee and pharmacy phrases, links whose text names another domain, hidden HTML
text, a From name holding another address...), each weak alone. Only the first few tens of kilobytes of
each body are read, so a rule pass stays well under a millisecond for ordinary mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .inspection import Inspection

__all__ = ["GTUBE", "RULES", "Match", "Rule", "match_rules"]

#: The Generic Test for Unsolicited Bulk Email: a message containing it is spam for every scanner.
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

_RAW_CAP = 512_000  # bytes of the raw message searched for GTUBE
_TEXT_CAP = 20_000  # characters of the text body the phrase rules read
_HTML_CAP = 60_000  # characters of the HTML body the HTML rules read
_MAX_LINKS = 100  # anchors and URLs looked at


@dataclass(frozen=True, slots=True)
class Rule:
    """One built-in rule: its name (as reported in ``rules``), its score and what it means."""

    name: str
    score: float
    description: str


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that matched one message, with the score it added."""

    name: str
    score: float


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.name: rule for rule in rules}


RULES = _rules(
    Rule("GTUBE", 1000.0, "the GTUBE test string"),
    Rule("DMARC_FAIL", 2.5, "DMARC failed for the From domain"),
    Rule("DMARC_FAIL_REJECT", 1.0, "DMARC failed and the From domain asks for rejection"),
    Rule("SPF_FAIL", 1.5, "SPF failed"),
    Rule("SPF_SOFTFAIL", 0.7, "SPF soft-failed"),
    Rule("DKIM_FAIL", 1.0, "every DKIM signature failed"),
    Rule("SUBJ_ALL_CAPS", 1.5, "the subject is shouted in capitals"),
    Rule("SUBJ_SPAM_PHRASE", 1.0, "the subject uses a typical spam phrase or many exclamation marks"),
    Rule("SUBJ_MONEY", 0.5, "the subject names a sum of money or a big discount"),
    Rule("LOTTERY", 2.0, "lottery or prize-winning phrases"),
    Rule("ADVANCE_FEE", 2.5, "advance-fee fraud phrases (next of kin, beneficiary, funds transfer)"),
    Rule("PHARMA", 2.5, "online pharmacy drug names and phrases"),
    Rule("PHISHING", 2.0, "account suspension, verification and credential phrases"),
    Rule("CRYPTO_INVEST", 1.5, "crypto investment and guaranteed-profit phrases"),
    Rule("SEO_OFFER", 1.5, "search-engine-optimisation and web-ranking sales phrases"),
    Rule("INVOICE_LURE", 1.5, "overdue invoice and payment lures"),
    Rule("SEXTORTION", 3.0, "claims of a hacked device and a recording, with a ransom"),
    Rule("GIFT_CARD_REQUEST", 2.0, "asks for gift card codes"),
    Rule("SPAM_PHRASES_MANY", 1.5, "five or more distinct spam phrases of the categories above"),
    Rule("URGENCY", 0.8, "several pressure phrases (act now, last chance, within 24 hours)"),
    Rule("MARKETING_HYPE", 1.0, "several hard-sell phrases (100% free, risk-free, lowest price)"),
    Rule("LARGE_MONEY", 1.0, "a large sum of money"),
    Rule("DEAR_GENERIC", 0.8, "a generic salutation (dear friend, dear customer)"),
    Rule("CLICK_HERE", 0.5, "asks to click a link"),
    Rule("LINK_TEXT_MISMATCH", 2.0, "a link's text shows one domain and it points to another"),
    Rule("URL_SHORTENER", 1.0, "a link through a URL shortener"),
    Rule("URL_IP_HOST", 2.0, "a link to a bare IP address"),
    Rule("HTML_ONLY", 0.3, "HTML body without a plain-text alternative"),
    Rule("HTML_HIDDEN_TEXT", 2.0, "HTML-only mail with text hidden by its style"),
    Rule("FROM_NAME_OTHER_ADDRESS", 2.5, "the From display name holds another address"),
    Rule(
        "BRAND_IMPERSONATION", 2.0, "the From name or a domain names a well-known brand the domains are not"
    ),
    Rule("FROM_IS_TO", 1.0, "the From address is the recipient's own"),
    Rule("FREEMAIL_REPLYTO", 1.5, "Reply-To on a free-mail domain differs from From"),
    Rule("MISSING_DATE", 0.3, "no Date header"),
    Rule("MISSING_MESSAGE_ID", 0.3, "no Message-ID header"),
    Rule("BULK_RECIPIENTS", 1.0, "twenty or more visible recipients"),
    Rule("UNDISCLOSED_RECIPIENTS", 0.5, "no visible recipient"),
    Rule("BASE64_TEXT", 1.0, "a plain ASCII text body sent base64-encoded"),
    Rule("ATTACH_HTML", 1.0, "an HTML or SVG file attached"),
    Rule("ATTACH_EXECUTABLE", 1.5, "an executable or disk image attached"),
    Rule("ATTACH_DOUBLE_EXT", 3.0, "an attachment name with a document extension before an executable one"),
)


def match_rules(inspection: Inspection) -> list[Match]:
    """The rules ``inspection`` matches, in the order of ``RULES``."""
    found: set[str] = set()
    parsed = inspection.parsed
    if GTUBE in inspection.raw[:_RAW_CAP]:
        found.add("GTUBE")
    found.update(_authentication(inspection.authentication))
    subject = (parsed.subject or "")[:500]
    found.update(_subject(subject))
    text = (parsed.text or "")[:_TEXT_CAP]
    html = (parsed.html or "")[:_HTML_CAP]
    body = text if text.strip() else _html_text(html)
    found.update(_phrases(f"{subject}\n{body}".lower()))
    links, hosts = _links(text, html)
    found.update(links)
    if html.strip() and not text.strip():
        found.add("HTML_ONLY")
        if _HIDDEN.search(html.lower()):
            found.add("HTML_HIDDEN_TEXT")
    found.update(_addresses(inspection, hosts))
    if _base64_text(inspection.raw[:65_536]) and (text or html).isascii():
        found.add("BASE64_TEXT")
    found.update(_attachments([a.filename or "" for a in parsed.attachments[:50]]))
    return [Match(rule.name, rule.score) for rule in RULES.values() if rule.name in found]


# -- authentication -------------------------------------------------------------------------------------


def _authentication(verdict: dict[str, Any] | None) -> set[str]:
    """Failures the authentication check found: each scored, none enough alone."""
    if not verdict or verdict.get("error"):
        return set()
    found = set()
    if verdict.get("dmarc") == "fail":
        found.add("DMARC_FAIL")
        if verdict.get("dmarc_policy") == "reject":
            found.add("DMARC_FAIL_REJECT")
    spf = verdict.get("spf")
    if spf == "fail":
        found.add("SPF_FAIL")
    elif spf == "softfail":
        found.add("SPF_SOFTFAIL")
    if verdict.get("dkim") == "fail":
        found.add("DKIM_FAIL")
    return found


# -- subject and phrases --------------------------------------------------------------------------------

_SUBJECT_PHRASES = re.compile(
    r"\b(?:winner|you(?:'ve| have)? won|congratulations|urgent|act now|limited offer|free gift|cash prize|"
    r"claim now|guaranteed|risk[- ]free|don'?t miss)\b|100 ?%|!!+|\$\$",
    re.IGNORECASE,
)


_SUBJECT_MONEY = re.compile(r"[$€£]\s?\d|\b\d{2,3}\s?% off\b", re.IGNORECASE)


def _subject(subject: str) -> set[str]:
    found = set()
    letters = [c for c in subject if c.isalpha()]
    shouted = len(letters) >= 12 and sum(c.isupper() for c in letters) >= 0.9 * len(letters)
    if shouted and len(subject.split()) >= 3:
        found.add("SUBJ_ALL_CAPS")
    if _SUBJECT_PHRASES.search(subject):
        found.add("SUBJ_SPAM_PHRASE")
    if _SUBJECT_MONEY.search(subject):
        found.add("SUBJ_MONEY")
    return found


# Phrase rules: (rule, phrases, distinct phrases needed). Each phrase is a lower-case regular expression
# that starts with a literal word (so it can be found from its first letters) and ends on a word boundary.
_PHRASES: list[tuple[str, tuple[str, ...], int]] = [
    (
        "LOTTERY",
        (
            "lottery", "lotto", "lucky winner", "winning (?:number|notification|email)",
            "claim your (?:prize|winnings)", "prize money", "sweepstakes?", "jackpot", "you have won",
            "you have been selected", "cash prize",
        ),
        1,
    ),
    (
        "ADVANCE_FEE",
        (
            "next of kin", "beneficiary", "barrister", "consignment", "diplomatic courier", "late client",
            "transfer (?:the|this) (?:sum|funds?)", "million (?:united states|us|u\\.s\\.) dollars",
            "confidential (?:business )?(?:proposal|transaction)", "inheritance", "foreign partner",
            "compensation fund", "atm (?:master )?card", "western union", "moneygram", "unclaimed (?:funds?|deposit)",
        ),
        2,
    ),
    (
        "PHARMA",
        (
            "viagra", "cialis", "levitra", "online pharmacy", "no prescription", "without (?:a )?prescription",
            "xanax", "valium", "tramadol", "erectile", "phentermine", "diet pills", "weight loss pills",
            "generic meds", "oxycodone", "male enhancement",
        ),
        1,
    ),
    (
        "PHISHING",
        (
            "verify your (?:account|identity|email|mailbox)", "confirm your (?:account|identity|details)",
            "account (?:has been|will be|is) (?:suspended|locked|closed|disabled|limited|deactivated)",
            "mailbox (?:has been|will be|is) (?:suspended|locked|closed|disabled|limited|deactivated)",
            "unusual (?:sign-in|sign in|login|activity)", "update your (?:payment|billing|account)",
            "password (?:will )?expires?", "mailbox (?:is full|quota|storage)", "security alert",
            "validate your", "failure to (?:verify|comply|do so)", "restore (?:your )?(?:account|access)",
            "reactivate your", "re-activate your", "suspicious activity", "tax refund", "customs fee",
            "delivery fee", "shipping fee", "parcel (?:is )?on hold", "package (?:is )?on hold",
            "shipment (?:is )?on hold", "could not deliver", "unable to deliver",
        ),
        2,
    ),
    (
        "CRYPTO_INVEST",
        (
            "bitcoin", "cryptocurrency", "crypto (?:investment|trading|wallet|profit)", "usdt", "btc",
            "wallet address", "guaranteed (?:returns?|profits?)", "daily (?:profit|returns?)",
            "investment (?:opportunity|plan)", "double your", "passive income", "trading platform",
        ),
        2,
    ),
    (
        "SEO_OFFER",
        (
            "seo", "search engine optimi[sz]ation", "first page of google", "page (?:1|one) of google",
            "backlinks?", "website ranking", "google ranking", "rank (?:higher|your website)", "organic traffic",
            "domain authority", "guest posts?", "web design services", "increase (?:your )?(?:website )?traffic",
        ),
        2,
    ),
    (
        "INVOICE_LURE",
        (
            "overdue invoice", "payment (?:is )?(?:overdue|past due)", "invoice (?:is )?(?:overdue|past due)",
            "outstanding (?:invoice|balance)", "see attached invoice", "attached invoice", "invoice attached",
            "remittance advice", "payment confirmation", "wire transfer", "unpaid invoice", "final notice",
        ),
        2,
    ),
    (
        "URGENCY",
        (
            "act now", "limited time", "expires? today", "last chance", "within (?:24|48|72) hours",
            "immediately", "don'?t miss", "hurry", "offer ends", "final (?:notice|warning|reminder)",
        ),
        2,
    ),
    (
        "MARKETING_HYPE",
        (
            "100% (?:free|guaranteed|satisfaction)", "risk[- ]free", "no credit check", "lowest price",
            "best price", "money[- ]back guarantee", "special promotion", "order now", "buy now",
            "extra income", "work from home", "earn \\$?\\d+", "no cost", "free trial",
        ),
        2,
    ),
    (
        "DEAR_GENERIC",
        (
            "dear (?:friend|customer|valued customer|user|sir/madam|beneficiary|winner|account holder|member|"
            "client|email user|webmail user|applicant|recipient)",
            "attention:? (?:beneficiary|winner)",
        ),
        1,
    ),
    ("CLICK_HERE", ("click (?:here|below|the link|the button)",), 1),
    (
        "SEXTORTION",
        (
            "i am a hacker", "hacked your", "access to your (?:device|computer|operating system|account)",
            "recorded (?:a |the )?video", "adult (?:web)?sites?", "delete the video",
            "infected (?:you )?with malware", "installed (?:a )?malware", "trojan (?:on|to) your",
            "spyware (?:on|to) your",
        ),
        2,
    ),
    (
        "GIFT_CARD_REQUEST",
        ("gift ?cards?", "scratch (?:the|off)", "card codes", "the codes", "pictures? of the (?:codes|cards?)"),
        2,
    ),
]  # fmt: skip
# The categories whose phrases together count towards SPAM_PHRASES_MANY.
_MONEY_CATEGORIES = frozenset(
    {"LOTTERY", "ADVANCE_FEE", "PHARMA", "PHISHING", "CRYPTO_INVEST", "SEO_OFFER", "INVOICE_LURE", "URGENCY",
     "MARKETING_HYPE", "SEXTORTION"}
)  # fmt: skip
_LARGE_MONEY = re.compile(
    r"(?:us\$|usd|\$|€|£|eur|gbp)\s?\d{1,3}(?:[,.]\d{3}){2,}|\b\d+(?:[.,]\d+)?\s?(?:million|m)\s"
    r"(?:united states |us |u\.s\. )?(?:dollars|usd|euros?|pounds)"
)
_MONEY_HINTS = ("$", "€", "£", "usd", "eur", "gbp", "million")
_LITERAL = re.compile(r"[a-z0-9%:'-]*")
_LEADING = "\"'([{<*_-"  # punctuation a word may carry before its first letter
_WINDOW = 8  # words a phrase may span


def _trigger(phrase: str) -> str:
    """The first (up to) three letters of the first word every match of ``phrase`` starts with."""
    literal = _LITERAL.match(phrase)
    text = literal.group() if literal else ""
    if len(text) < len(phrase) and phrase[len(text)] in "?*{":
        text = text[:-1]  # the last letter is optional
    if not text:
        raise ValueError(f"spam phrase {phrase!r} must start with a literal letter")
    return text[:3]


def _index() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """Phrases by their trigger letters, so a phrase is tried only at the words that could start it."""
    index: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for name, phrases, _ in _PHRASES:
        for phrase in phrases:
            index.setdefault(_trigger(phrase), []).append((name, re.compile(phrase + r"\b")))
    return index


_INDEX = _index()
_NEEDED = {name: needed for name, _, needed in _PHRASES}


def _phrases(text: str) -> set[str]:
    """The phrase rules ``text`` (lower-cased) matches. Words are split once (so phrases match across line
    breaks) and a phrase is tried only where a word starts with its trigger letters."""
    seen: dict[str, set[str]] = {}
    words = text.split()
    for at, word in enumerate(words):
        candidates = _INDEX.get(word.lstrip(_LEADING)[:3])
        if candidates is None:
            continue
        window = " ".join(words[at : at + _WINDOW]).lstrip(_LEADING)
        for name, pattern in candidates:
            match = pattern.match(window)
            if match is not None:
                seen.setdefault(name, set()).add(match.group())
    found = {name for name, phrases in seen.items() if len(phrases) >= _NEEDED[name]}
    distinct = sum(len(phrases) for name, phrases in seen.items() if name in _MONEY_CATEGORIES)
    if distinct >= 5:
        found.add("SPAM_PHRASES_MANY")
    if any(hint in text for hint in _MONEY_HINTS) and _LARGE_MONEY.search(text):
        found.add("LARGE_MONEY")
    return found


# -- links and HTML -------------------------------------------------------------------------------------

# Every HTML pattern here is linear in its input: no pattern can rescan the text after a failed match
# (a tag ends at the next "<" or ">"), since hostile mail is full of unclosed tags.
_TAG = re.compile(r"<[^<>]*>")
_OPEN_ANCHOR = re.compile(r"<a\s[^<>]*>", re.IGNORECASE)
_HREF = re.compile(r"\shref\s*=\s*[\"']?([^\"'\s<>]+)", re.IGNORECASE)
_ANCHOR_TEXT = 500  # characters after an anchor's opening tag searched for its closing tag
_URL = re.compile(r"https?://([^/\s\"'<>?#]+)", re.IGNORECASE)
_SHOWN_DOMAIN = re.compile(
    r"^(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?$", re.IGNORECASE
)
# Matched on the lower-cased HTML (a case-sensitive pattern lets the regex engine skip ahead quickly).
_HIDDEN = re.compile(
    r"(?:display|visibility|font-size|opacity|max-height)\s*:\s*"
    r"(?:none|hidden|0(?:\.0+)?(?:px|pt|em)?\s*[;\"'])"
)
_IP_HOST = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?$")
_SHORTENERS = frozenset(
    {
        "bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "cutt.ly", "rebrand.ly",
        "shorturl.at", "tiny.cc", "t.ly", "rb.gy", "bitly.com", "s.id", "v.gd", "shorte.st", "adf.ly",
    }
)  # fmt: skip
# Second-level labels under which names are registered (example.co.uk), so the base domain is three labels.
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or"})


def _html_text(html: str) -> str:
    """The words of an HTML body, tags, style sheets and scripts removed (for the phrase rules)."""
    lowered = html.lower()
    kept: list[str] = []
    at = 0
    while True:
        style, script = lowered.find("<style", at), lowered.find("<script", at)
        start = min(style if style >= 0 else len(html), script if script >= 0 else len(html))
        kept.append(html[at:start])
        if start >= len(html):
            break
        close = "</style" if start == style else "</script"
        end = lowered.find(close, start)
        if end < 0:
            break
        at = end + len(close)
    return _TAG.sub(" ", " ".join(kept)).replace("&nbsp;", " ")


def _base_domain(host: str) -> str:
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _host(url: str) -> str | None:
    match = _URL.match(url.strip())
    if match is None:
        return None
    return match.group(1).rpartition("@")[2].lower()


def _links(text: str, html: str) -> tuple[set[str], list[str]]:
    """The link rules that match, and the hosts linked to."""
    found = set()
    hosts = [match.group(1).rpartition("@")[2].lower() for match in _URL.finditer(text, 0)][:_MAX_LINKS]
    for count, anchor in enumerate(_OPEN_ANCHOR.finditer(html)):
        if count >= _MAX_LINKS:
            break
        href = _HREF.search(anchor.group())
        host = _host(href.group(1)) if href else None
        if host is None:
            continue
        hosts.append(host)
        close = html.find("</", anchor.end(), anchor.end() + _ANCHOR_TEXT)
        if close < 0:
            continue
        shown = _SHOWN_DOMAIN.match(_TAG.sub("", html[anchor.end() : close]).strip())
        if shown and _base_domain(shown.group(1)) != _base_domain(host.partition(":")[0]):
            found.add("LINK_TEXT_MISMATCH")
    for host in hosts:
        name = host.partition(":")[0] if not host.startswith("[") else host
        if name.removeprefix("www.") in _SHORTENERS:
            found.add("URL_SHORTENER")
        if _IP_HOST.match(host):
            found.add("URL_IP_HOST")
    return found, hosts


# -- addresses ------------------------------------------------------------------------------------------

_EMAIL_IN_NAME = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_FREEMAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "hotmail.com", "outlook.com", "live.com",
        "msn.com", "aol.com", "mail.ru", "yandex.ru", "yandex.com", "protonmail.com", "proton.me", "gmx.com",
        "gmx.net", "gmx.de", "icloud.com", "mail.com", "zoho.com", "qq.com", "163.com", "rediffmail.com",
    }
)  # fmt: skip


def _header(inspection: Inspection, name: str) -> str | None:
    for key, value in inspection.parsed.headers.items():
        if key.lower() == name:
            return value
    return None


# Brands phishing mail most often claims to be (as a word in the From name, or inside a domain name), and
# the registered domains that really are theirs.
_BRANDS: dict[str, tuple[str, ...]] = {
    "paypal": ("paypal.com", "paypal.me"), "apple": ("apple.com", "icloud.com"), "icloud": ("apple.com", "icloud.com"),
    "netflix": ("netflix.com",), "amazon": ("amazon.com", "amazon.co.uk", "amazon.de", "amazonses.com"),
    "microsoft": ("microsoft.com", "office.com", "office365.com", "outlook.com", "live.com", "sharepoint.com"),
    "office365": ("microsoft.com", "office.com", "office365.com"), "outlook": ("outlook.com", "microsoft.com", "office365.com"), "docusign": ("docusign.com", "docusign.net"),
    "dhl": ("dhl.com", "dhl.de"), "fedex": ("fedex.com",), "ups": ("ups.com",), "usps": ("usps.com",),
    "chase": ("chase.com", "jpmorgan.com"), "wellsfargo": ("wellsfargo.com",), "hmrc": ("hmrc.gov.uk", "gov.uk"),
    "irs": ("irs.gov",), "westpac": ("westpac.com.au",), "dropbox": ("dropbox.com",), "adobe": ("adobe.com",),
    "linkedin": ("linkedin.com",), "facebook": ("facebook.com", "facebookmail.com"), "instagram": ("instagram.com",),
    "coinbase": ("coinbase.com",), "binance": ("binance.com",), "wetransfer": ("wetransfer.com",),
}  # fmt: skip
# Brand words that are also people's names or common words, so a From name holding them means nothing.
_NOT_IN_NAMES = frozenset({"chase", "ups", "irs", "apple", "outlook"})
_NAME_WORDS = re.compile(r"[a-z0-9]+")
_HOST_BRANDS = re.compile(r"(?<![a-z])(" + "|".join(sorted(_BRANDS, key=len, reverse=True)) + r")(?![a-z])")


def _brand_impersonation(name: str, from_domain: str, hosts: list[str]) -> bool:
    """Whether the From name names a brand the From domain is not, or a domain spells a brand it is not."""
    own = _base_domain(from_domain) if from_domain else ""
    for word in _NAME_WORDS.findall(name.lower()):
        if word in _BRANDS and word not in _NOT_IN_NAMES and not _is_brand(own, word):
            return True
    for host in [from_domain, *hosts[:_MAX_LINKS]]:
        base = _base_domain(host.partition(":")[0])
        for brand in _HOST_BRANDS.findall(host.lower()):
            if not _is_brand(base, brand):
                return True
    return False


def _is_brand(base: str, brand: str) -> bool:
    """Whether the registered domain ``base`` is ``brand``'s (one it is known by, or brand.<country>)."""
    return base in _BRANDS[brand] or base.partition(".")[0] == brand


def _split(formatted: str) -> tuple[str, str]:
    """``(display name, lower-cased address)`` of an address as the parser formats it (``Name <a@b>``)."""
    if formatted.endswith(">") and "<" in formatted:
        name, _, address = formatted[:-1].rpartition("<")
        return name.strip().strip('"'), address.strip().lower()
    return "", formatted.strip().lower()


def _addresses(inspection: Inspection, hosts: list[str]) -> set[str]:
    found = set()
    parsed = inspection.parsed
    name, address = _split(parsed.from_ or "")
    if _brand_impersonation(name, address.rpartition("@")[2], hosts):
        found.add("BRAND_IMPERSONATION")
    recipients = {_split(formatted)[1] for formatted in parsed.to[:50]}
    if address and address in recipients:
        found.add("FROM_IS_TO")
    if " via " not in name.lower():  # "'ann@example.com' via List" is how list servers rewrite senders
        for shown in _EMAIL_IN_NAME.findall(name[:300]):
            if shown.lower() != address:
                found.add("FROM_NAME_OTHER_ADDRESS")
    from_domain = address.rpartition("@")[2]
    for formatted in parsed.reply_to[:10]:
        reply = _split(formatted)[1]
        domain = reply.rpartition("@")[2]
        if domain in _FREEMAIL and reply != address and domain != from_domain:
            found.add("FREEMAIL_REPLYTO")
    if _header(inspection, "date") is None:
        found.add("MISSING_DATE")
    if _header(inspection, "message-id") is None:
        found.add("MISSING_MESSAGE_ID")
    visible = len(parsed.to) + len(parsed.cc)
    if visible >= 20:
        found.add("BULK_RECIPIENTS")
    elif visible == 0:
        found.add("UNDISCLOSED_RECIPIENTS")
    return found


# -- encodings and attachments --------------------------------------------------------------------------

_BASE64_CTE = re.compile(rb"^content-transfer-encoding:[ \t]*base64[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_TEXT_TYPE = re.compile(rb"^content-type:[ \t]*text/(?:plain|html)", re.IGNORECASE | re.MULTILINE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _base64_text(raw: bytes) -> bool:
    """Whether a text part's header block (the one holding a base64 encoding) declares a text type."""
    for count, match in enumerate(_BASE64_CTE.finditer(raw)):
        if count >= 20:  # enough parts looked at; more would make this quadratic in a hostile message
            break
        start = max(raw.rfind(b"\n\n", 0, match.start()), raw.rfind(b"\n\r\n", 0, match.start()), 0)
        end_match = _BLANK_LINE.search(raw, match.end())
        end = end_match.start() if end_match else len(raw)
        if _TEXT_TYPE.search(raw, start, end):
            return True
    return False


_EXECUTABLE = frozenset(
    {"exe", "scr", "js", "jse", "vbs", "vbe", "bat", "cmd", "com", "pif", "iso", "img", "jar", "lnk", "hta",
     "msi", "ps1", "wsf", "cpl"}
)  # fmt: skip
_DOCUMENT = frozenset({"pdf", "doc", "docx", "xls", "xlsx", "txt", "jpg", "png", "zip", "rtf"})


def _attachments(names: list[str]) -> set[str]:
    found = set()
    for filename in names:
        parts = filename.lower().strip().split(".")
        extension = parts[-1] if len(parts) > 1 else ""
        if extension in ("html", "htm", "shtml", "svg", "xhtml"):
            found.add("ATTACH_HTML")
        if extension in _EXECUTABLE:
            found.add("ATTACH_EXECUTABLE")
            if len(parts) > 2 and parts[-2] in _DOCUMENT:
                found.add("ATTACH_DOUBLE_EXT")
    return found
