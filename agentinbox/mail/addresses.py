"""Email addresses: lenient parsing of what arrives in headers, strict validation of what callers pass in.

Also home of the header decoding that address parsing needs (:func:`decode_header_value`, re-exported by
:mod:`agentinbox.mail.parse`, and :func:`decode_legacy`). Pure functions over strings: no I/O.
"""

from __future__ import annotations

import encodings.idna
import functools
import ipaddress
import re
from dataclasses import dataclass
from email.header import decode_header
from email.utils import getaddresses
from typing import NoReturn, overload

from agentinbox.errors import ValidationError

__all__ = [
    "Address",
    "address_key",
    "decode_header_value",
    "decode_legacy",
    "normalize_recipients",
    "parse_address",
    "parse_address_list",
    "validate_address",
]

# RFC 5322 §3.2.3 "specials": a display name containing one of them must be written as a quoted-string.
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ESCAPES = re.compile(r'[\\"]')

# RFC 5322 §3.2.3 atext, widened to any non-ASCII character by RFC 6531 §3.3 (SMTPUTF8).
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff"
_DOT_ATOM = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_QUOTED_STRING = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])*"')
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ANGLE_FORM = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>")
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: a display name (possibly empty) and an addr-spec such as ``user@example.com``."""

    name: str
    address: str

    def __str__(self) -> str:
        if not self.name:
            return self.address
        # email.utils.formataddr's quoting, without its RFC 2047 step: names stay unicode here and the
        # composer encodes them for the wire.
        if _SPECIALS.search(self.name):
            return '"{}" <{}>'.format(_ESCAPES.sub(r"\\\g<0>", self.name), self.address)
        return f"{self.name} <{self.address}>"


# -- decoding received headers ------------------------------------------------------------------------


@overload
def decode_header_value(value: str) -> str: ...
@overload
def decode_header_value(value: None) -> None: ...
def decode_header_value(value: str | None) -> str | None:
    """Decode a raw header value to text: RFC 2047 encoded-words, raw UTF-8 (SMTPUTF8), folding.

    Takes the value as the compat32 parser stores it. Never raises: an encoded-word that cannot be decoded
    is left as written, an unknown charset falls back to UTF-8 with replacement characters.
    NUL characters become U+FFFD, since no store can hold them.
    """
    if value is None:
        return None
    if not value.isascii():
        value = _repair_8bit(value)
    if "\r" in value or "\n" in value:
        # RFC 5322 §2.2.3: unfolding removes the CRLF and keeps the whitespace that follows it.
        value = value.replace("\r", "").replace("\n", "")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if "=?" not in value:
        return value
    return _decode_words(value)


def _repair_8bit(value: str) -> str:
    """Turn the surrogate-escaped 8-bit bytes compat32 leaves in headers back into text.

    RFC 6532 says raw 8-bit header bytes are UTF-8. Older mail that is not valid UTF-8 is read as
    Windows-1252 (what mailers meant by "Latin-1"), else Latin-1, which keeps every byte visible.
    """
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from surrogateescape
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_legacy(data)


def decode_legacy(data: bytes) -> str:
    """Decode bytes of unknown charset: UTF-8 if valid, else Windows-1252, else Latin-1. Never raises."""
    for charset in ("utf-8", "cp1252"):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words, tolerating bad base64, unknown charsets and undecodable bytes.

    Not ``email.header.make_header``: it fails on unknown charsets and raw UTF-8, and puts a space
    between encoded-words of different charsets, which RFC 2047 §6.2 says to drop.
    """
    try:
        chunks = decode_header(value)
    except Exception:  # HeaderParseError and friends: keep what the sender wrote
        return value
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
        elif charset is None:
            # decode_header turns unencoded text into bytes with raw-unicode-escape; undo exactly that.
            parts.append(chunk.decode("raw-unicode-escape", "replace"))
        else:
            parts.append(_decode_bytes(chunk, charset.split("*", 1)[0]))  # RFC 2231 §5: "charset*lang"
    return "".join(parts)


def _decode_bytes(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except Exception:  # LookupError, or a codec (idna, punycode) that ignores errors="replace"
        return data.decode("utf-8", "replace")


# -- lenient parsing ----------------------------------------------------------------------------------


def parse_address_list(value: str | None) -> list[Address]:
    """Parse an address header as received (To, Cc, From, Reply-To), leniently.

    Entries without a usable ``local@domain`` (empty ``<>``, group names, garbage) are skipped; display
    names are RFC 2047 decoded.
    """
    if not value:
        return []
    if not value.isascii():
        value = _repair_8bit(value)
    if "\r" in value or "\n" in value:
        value = value.replace("\r", "").replace("\n", "")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        pairs = getaddresses([value])
    except Exception:  # RecursionError on thousands of ":" (group syntax) in one header, and the like
        return []
    addresses: list[Address] = []
    for name, addr in pairs:
        local, at, domain = addr.rpartition("@")
        if not (at and local and domain):
            continue
        if "=?" in name:
            name = _decode_words(name)
        addresses.append(Address(name.strip(), addr))
    return addresses


def parse_address(value: str) -> Address | None:
    """Parse one address leniently (the first one, if the value holds several); None if none is usable."""
    addresses = parse_address_list(value)
    return addresses[0] if addresses else None


@functools.lru_cache(maxsize=4096)
def address_key(value: str) -> str:
    """The lower-cased bare address of a formatted address string, for comparisons and lookups.

    Cached: the same correspondents recur in every message of a thread, and parsing costs ~50 µs.
    """
    if not any(c in value for c in '<(",'):
        return value.strip().lower()
    parsed = parse_address(value)
    return parsed.address.lower() if parsed else value.strip().lower()


# -- strict validation of caller input ----------------------------------------------------------------


def validate_address(value: str, *, field: str = "to") -> Address:
    """Validate one caller-supplied address, ``user@domain`` or ``Display Name <user@domain>``.

    The domain is lower-cased, the local part kept as given; unicode is accepted in both (RFC 6531).
    Raises :class:`ValidationError` with ``path=[field]`` and a message saying what is wrong.
    """
    return _validate(value, [field])


def normalize_recipients(value: str | list[str] | None, *, field: str) -> list[str]:
    """Validate a recipient field given as one string or a list (AgentMail's ``Addresses`` union).

    Returns formatted addresses, dropping later duplicates of the same address (case-insensitive).
    """
    if value is None:
        return []
    if isinstance(value, str):
        checked = [_validate(value, [field])]
    elif isinstance(value, list | tuple):
        checked = [_validate(item, [field, i]) for i, item in enumerate(value)]
    else:
        raise ValidationError(f"{field} must be an address string or a list of them", path=[field])
    seen: set[str] = set()
    result: list[str] = []
    for address in checked:
        key = address.address.lower()
        if key not in seen:
            seen.add(key)
            result.append(str(address))
    return result


def _validate(value: object, path: list[str | int]) -> Address:
    if not isinstance(value, str):
        kind = type(value).__name__
        raise ValidationError(f"{_where(path)} must be an address string, not {kind}", path=path)
    if "\r" in value or "\n" in value or "\x00" in value:
        _fail(path, value, "it contains a line break or NUL character")
    text = value.strip()
    if not text:
        raise ValidationError(f"{_where(path)} is empty; give an address such as user@example.com", path=path)

    name = ""
    match = _ANGLE_FORM.fullmatch(text)
    if match:
        name, addr = _display_name(match.group("name"), path, value), match.group("addr").strip()
    elif "<" in text or ">" in text:
        _fail(path, value, "its angle brackets are unbalanced or misplaced")
    else:
        addr = text
        if "," in addr or ";" in addr or (addr.count("@") > 1 and " " in addr):
            _fail(path, value, "it holds more than one address; pass a list of strings instead")

    local, at, domain = addr.rpartition("@")
    if not addr:
        _fail(path, value, "there is no address between < and >")
    if not at:
        _fail(path, value, "it has no '@'")
    if not local:
        _fail(path, value, "the local part (before '@') is empty")
    if not domain:
        _fail(path, value, "the domain (after '@') is empty")
    if not (_DOT_ATOM.fullmatch(local) or _QUOTED_STRING.fullmatch(local)):
        _fail(path, value, f"the local part {local!r} is not valid (a space, '..', an outer dot?)")
    if len(local.encode("utf-8")) > 64:
        _fail(path, value, "the local part is longer than 64 octets (RFC 5321 §4.5.3.1.1)")
    domain = _check_domain(domain.lower(), path, value)
    address = f"{local}@{domain}"
    if len(address.encode("utf-8")) > 254:
        _fail(path, value, "it is longer than 254 octets (RFC 5321 §4.5.3.1.3)")
    return Address(name, address)


def _display_name(raw: str, path: list[str | int], value: str) -> str:
    name = raw.strip()
    if name.startswith('"'):
        inner = name[1:-1] if len(name) > 1 and name.endswith('"') else None
        if inner is None or not re.fullmatch(r'(?:[^"\\]|\\.)*', inner):
            _fail(path, value, "the quotes around the display name are unbalanced")
        return _UNESCAPE.sub(r"\1", inner).strip()
    if "," in name or ";" in name:
        _fail(
            path,
            value,
            'the display name contains "," or ";": quote it (\'"Doe, Jane" <jane@example.com>\') '
            "or pass several addresses as a list",
        )
    if '"' in name:
        _fail(path, value, "the display name has a stray quote")
    return name


def _check_domain(domain: str, path: list[str | int], value: str) -> str:
    if domain.startswith("[") and domain.endswith("]"):  # RFC 5321 §4.1.3 address literal
        literal = domain[1:-1]
        try:
            if literal.startswith("ipv6:"):
                return f"[IPv6:{ipaddress.IPv6Address(literal[5:])}]"
            return f"[{ipaddress.IPv4Address(literal)}]"
        except ValueError:
            _fail(path, value, f"the address literal {domain!r} is not an IP address")
    labels = domain.split(".")
    ascii_length = len(labels) - 1
    for label in labels:
        if not label:
            _fail(path, value, f"the domain {domain!r} has an empty label (an outer or double dot)")
        if label.isascii():
            ascii_label = label
        else:
            try:
                ascii_label = encodings.idna.ToASCII(label).decode("ascii")
            except UnicodeError:
                ascii_label = ""
        if not _LDH_LABEL.fullmatch(ascii_label):
            _fail(path, value, f"the domain label {label!r} is not valid (letters, digits and inner hyphens)")
        ascii_length += len(ascii_label)
    if labels[-1].isdigit():
        _fail(path, value, "the domain is numeric; write an IP address as [192.0.2.1]")
    if ascii_length > 253:
        _fail(path, value, "the domain is longer than 253 characters")
    return domain


def _where(path: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def _fail(path: list[str | int], value: str, reason: str) -> NoReturn:
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise ValidationError(
        f"{_where(path)}: {shown!r} is not a valid email address: {reason}. "
        "Use user@example.com or Name <user@example.com>.",
        path=path,
    )
