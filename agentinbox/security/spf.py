"""SPF (RFC 7208): whether a host may send mail for a domain, by the domain's ``v=spf1`` TXT record.

``check_host`` evaluates every mechanism (all, include, a, mx, ptr, ip4, ip6, exists), the redirect
modifier, macros (§7), the limit of 10 DNS-querying terms and of 2 void lookups (§4.6.4). It never raises:
DNS failures give temperror, bad records permerror. It only looks things up, through ``Lookups``.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass

from .lookups import Lookups, TemporaryDNSError

__all__ = ["RESULTS", "SPFResult", "check_host", "valid_domain"]

#: The results check_host() gives (RFC 7208 §2.6).
RESULTS = ("none", "neutral", "pass", "fail", "softfail", "temperror", "permerror")

_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_LOOKUP_LIMIT = 10  # terms that query DNS, per check_host() and all it includes (§4.6.4)
_VOID_LIMIT = 2
_MX_LIMIT = 10  # MX names looked up per mx mechanism
_PTR_LIMIT = 10  # PTR names considered per ptr mechanism
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.-]*)=(.*)$", re.IGNORECASE)
_MECHANISM = re.compile(r"^([+~?-]?)([a-z][a-z0-9_.-]*)(.*)$", re.IGNORECASE)
_CIDR = re.compile(r"^(.*?)(?:/(\d+))?(?://(\d+))?$", re.DOTALL)
_MACRO = re.compile(r"%(?:\{([a-z])(\d*)(r?)([.+,/_=-]*)\}|(.)|$)", re.IGNORECASE)
_TOPLABEL = re.compile(r"^(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9-]*[a-z0-9])$", re.IGNORECASE)
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SPFResult:
    """The result for one identity: the result word, the domain checked, and why, for people."""

    result: str
    domain: str | None
    reason: str = ""


class _PermError(Exception):
    """The record or what it leads to is broken: check_host() gives permerror."""


class _TempError(Exception):
    """A DNS lookup failed: check_host() gives temperror."""


def valid_domain(domain: str) -> bool:
    """Whether ``domain`` is a fully qualified name SPF can check (§4.3): several labels of at most 63
    characters, none empty but the root, and at most 253 characters."""
    name = domain[:-1] if domain.endswith(".") else domain
    if not name or len(name) > 253 or not name.isascii():
        return False
    labels = name.split(".")
    return len(labels) > 1 and all(_LABEL.match(label) for label in labels)


@dataclass(slots=True)
class _State:
    """One evaluation: the identity being checked and what it has cost so far (shared by includes)."""

    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    receiver: str
    lookups: Lookups
    terms: int = 0
    voids: int = 0

    def count_term(self) -> None:
        self.terms += 1
        if self.terms > _LOOKUP_LIMIT:
            raise _PermError(f"more than {_LOOKUP_LIMIT} DNS-querying terms (RFC 7208 §4.6.4)")

    def count_void(self, void: bool) -> None:
        if void:
            self.voids += 1
            if self.voids > _VOID_LIMIT:
                raise _PermError(f"more than {_VOID_LIMIT} void DNS lookups (RFC 7208 §4.6.4)")


async def check_host(
    lookups: Lookups, *, ip: str, sender: str, helo: str | None = None, receiver: str = "unknown"
) -> SPFResult:
    """Whether ``ip`` may send mail from ``sender`` (``local@domain``, or ``postmaster@helo`` when the
    envelope sender was empty); ``helo`` and ``receiver`` serve the %{h} and %{r} macros."""
    local, _, domain = sender.rpartition("@")
    domain = domain.rstrip(".").lower()
    if not domain.isascii():
        try:  # an internationalized sender (RFC 6531): DNS knows its domain by A-labels
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    if not valid_domain(domain):
        return SPFResult("none", domain or None, "the sender's domain is not a domain name SPF can check")
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return SPFResult("permerror", domain, f"{ip!r} is not an IP address")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client on a dual-stack socket (RFC 7208 §5)
    state = _State(address, f"{local or 'postmaster'}@{domain}", helo or "unknown", receiver, lookups)
    try:
        result, reason = await _check(state, domain)
    except _PermError as exc:
        return SPFResult("permerror", domain, str(exc))
    except _TempError as exc:
        return SPFResult("temperror", domain, str(exc))
    return SPFResult(result, domain, reason)


async def _record(state: _State, domain: str) -> str | None:
    """The domain's one SPF record (§4.5), None when it publishes none; raises _TempError/_PermError."""
    try:
        answer = await state.lookups.txt(domain)
    except TemporaryDNSError as exc:
        raise _TempError(str(exc)) from exc
    found = [r for r in answer.records if r[:6].lower() == "v=spf1" and (len(r) == 6 or r[6] == " ")]
    if len(found) > 1:
        raise _PermError(f"{domain} publishes {len(found)} SPF records")
    return found[0] if found else None


async def _check(state: _State, domain: str, record: str | None = None) -> tuple[str, str]:
    """check_host() for ``domain`` (whose ``record`` the caller may have fetched already): the result
    word and why; raises _TempError/_PermError."""
    if record is None:
        record = await _record(state, domain)
    if record is None:
        return "none", f"{domain} publishes no SPF record"
    directives, redirect = _parse(record)
    for qualifier, name, argument in directives:
        if await _matches(state, domain, name, argument):
            shown = name + (argument or "")
            return _QUALIFIERS[qualifier], f"{domain}: matched {qualifier if qualifier != '+' else ''}{shown}"
    if redirect is not None:
        state.count_term()
        target = _domain_spec(state, redirect, domain)
        if not valid_domain(target):
            raise _PermError(f"redirect to {target!r}, which is not a domain name")
        record = await _record(state, target)
        if record is None:
            state.count_void(True)
            raise _PermError(f"redirect to {target}, which publishes no SPF record")
        return await _check(state, target, record)
    return "neutral", f"{domain}: no mechanism matched"


def _parse(record: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """The record's directives as (qualifier, mechanism, argument) and its redirect target (§4.6.1)."""
    directives: list[tuple[str, str, str]] = []
    modifiers: dict[str, str] = {}
    for term in record[6:].split(" "):
        if not term:
            continue
        modifier = _MODIFIER.match(term)
        if modifier is not None:
            name = modifier.group(1).lower()
            if name in modifiers and name in ("redirect", "exp"):
                raise _PermError(f"the {name} modifier appears twice")
            if name == "redirect":
                _check_domain_spec(modifier.group(2))
            else:
                _check_macros(modifier.group(2), exp=name == "exp")
            modifiers[name] = modifier.group(2)
            continue  # unknown modifiers are ignored (§6)
        mechanism = _MECHANISM.match(term)
        if mechanism is None or mechanism.group(2).lower() not in _MECHANISMS:
            raise _PermError(f"unknown term {term!r}")
        qualifier, name, argument = mechanism.group(1) or "+", mechanism.group(2).lower(), mechanism.group(3)
        _check_argument(name, argument)
        directives.append((qualifier, name, argument))
    return directives, modifiers.get("redirect")


def _check_argument(name: str, argument: str) -> None:
    """Raise _PermError when a mechanism's argument breaks the grammar of §5."""
    if name == "all":
        if argument:
            raise _PermError(f"all takes no argument: {name}{argument!r}")
        return
    if name in ("include", "exists"):
        if not argument.startswith(":") or len(argument) < 2:
            raise _PermError(f"{name} needs a domain: {name}{argument}")
        _check_domain_spec(argument[1:])
        return
    if name in ("ip4", "ip6"):
        if not argument.startswith(":"):
            raise _PermError(f"{name} needs a network: {name}{argument}")
        _network(name, argument[1:])
        return
    if argument and argument[0] not in ":/":
        raise _PermError(f"unknown term {name}{argument}")
    spec, cidr4, cidr6 = _split_cidr(argument)
    if name == "ptr" and (cidr4 is not None or cidr6 is not None):
        raise _PermError("ptr takes no prefix length")
    if argument.startswith(":"):
        _check_domain_spec(spec)


def _split_cidr(argument: str) -> tuple[str, int | None, int | None]:
    """``:domain/24//64`` → (``domain``, 24, 64), prefix lengths checked (§5.6)."""
    match = _CIDR.match(argument)
    assert match is not None  # the pattern matches any string
    spec = match.group(1)[1:] if match.group(1).startswith(":") else match.group(1)
    if match.group(1) and not match.group(1).startswith(":"):
        raise _PermError(f"bad argument {argument!r}")
    cidr4 = int(match.group(2)) if match.group(2) is not None else None
    cidr6 = int(match.group(3)) if match.group(3) is not None else None
    if (cidr4 is not None and cidr4 > 32) or (cidr6 is not None and cidr6 > 128):
        raise _PermError(f"prefix length out of range in {argument!r}")
    for text in (match.group(2), match.group(3)):
        if text is not None and len(text) > 1 and text.startswith("0"):
            raise _PermError(f"bad prefix length in {argument!r}")
    return spec, cidr4, cidr6


def _network(name: str, text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address, _, prefix = text.partition("/")
    if prefix and (not prefix.isdigit() or (len(prefix) > 1 and prefix.startswith("0"))):
        raise _PermError(f"bad prefix length in {name}:{text}")
    try:
        network = ipaddress.ip_network(text if prefix else address, strict=False)
        parsed = ipaddress.ip_address(address)
    except ValueError as exc:
        raise _PermError(f"bad network in {name}:{text}") from exc
    if (name == "ip4") != (parsed.version == 4):
        raise _PermError(f"{name}:{text} is not an IPv{name[-1]} network")
    return network


def _check_domain_spec(spec: str) -> None:
    """Raise _PermError unless ``spec`` is a macro-string ending in a domain (§7.1 domain-end)."""
    _check_macros(spec, exp=False)
    if spec.endswith("}"):
        return
    name = spec[:-1] if spec.endswith(".") else spec
    top = name.rpartition(".")
    if not top[1] or not _TOPLABEL.match(top[2]):
        raise _PermError(f"{spec!r} is not a domain")


def _check_macros(text: str, *, exp: bool) -> None:
    """Raise _PermError for a malformed macro-string (§7.1); c, r and t are for exp only."""
    for match in _MACRO.finditer(text):
        letter, digits, escape = match.group(1), match.group(2), match.group(5)
        if letter is None:
            if escape is None or escape not in "%_-":
                raise _PermError(f"bad macro in {text!r}")
            continue
        allowed = "slodipvhcrt" if exp else "slodipvh"
        if letter.lower() not in allowed or (digits and int(digits) == 0):
            raise _PermError(f"bad macro %{{{letter}{digits}}} in {text!r}")
    if any(not (33 <= ord(ch) <= 126) for ch in text):
        raise _PermError(f"{text!r} has characters a macro-string cannot hold")


def _domain_spec(state: _State, spec: str, domain: str) -> str:
    """A domain-spec with its macros expanded, cut to 253 characters from the left (§7.3)."""
    name = _expand(state, spec, domain).rstrip(".")
    while len(name) > 253 and "." in name:
        name = name.partition(".")[2]
    return name.lower()


def _expand(state: _State, text: str, domain: str) -> str:
    """Expand the macros of ``text`` (§7.3) for ``domain``."""

    def replace(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter is None:
            return {"%": "%", "_": " ", "-": "%20"}.get(match.group(5) or "", "")
        value = _macro_value(state, letter.lower(), domain)
        parts = re.split("[" + re.escape(match.group(4) or ".") + "]", value)
        if match.group(3):
            parts.reverse()
        if match.group(2):
            parts = parts[-int(match.group(2)) :]
        value = ".".join(parts)
        return urllib.parse.quote(value, safe="") if letter.isupper() else value

    return _MACRO.sub(replace, text)


def _macro_value(state: _State, letter: str, domain: str) -> str:
    local, _, sender_domain = state.sender.rpartition("@")
    if letter == "s":
        return state.sender
    if letter == "l":
        return local
    if letter == "o":
        return sender_domain
    if letter == "d":
        return domain
    if letter == "i":
        if isinstance(state.ip, ipaddress.IPv4Address):
            return str(state.ip)
        return ".".join(state.ip.exploded.replace(":", ""))
    if letter == "v":
        return "in-addr" if state.ip.version == 4 else "ip6"
    if letter == "h":
        return state.helo
    if letter == "c":
        return str(state.ip)
    if letter == "r":
        return state.receiver
    if letter == "t":
        return str(int(time.time()))
    # %{p}: the validated host name needs PTR lookups RFC 7208 §5.5 advises against; "unknown" is
    # what §7.3 says to use when it cannot be found.
    return "unknown"


async def _matches(state: _State, domain: str, name: str, argument: str) -> bool:
    """Whether one mechanism matches the client (§5); raises _TempError/_PermError."""
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        network = _network(name, argument[1:])
        return network.version == state.ip.version and state.ip in network
    state.count_term()
    if name == "include":
        target = _domain_spec(state, argument[1:], domain)
        if not valid_domain(target):
            state.count_void(True)
            raise _PermError(f"include of {target!r}, which is not a domain name")
        record = await _record(state, target)
        if record is None:
            state.count_void(True)
            raise _PermError(f"include of {target}, which publishes no SPF record")
        result, _ = await _check(state, target, record)
        # §5.2: pass matches; fail, softfail and neutral do not; none is a permerror.
        return result == "pass"
    if name == "exists":
        target = _domain_spec(state, argument[1:], domain)
        found = await _lookup(state, target, ipv6=False)
        state.count_void(not found)
        return bool(found)
    spec, cidr4, cidr6 = _split_cidr(argument)
    target = _domain_spec(state, spec, domain) if spec else domain
    if name == "a":
        found = await _lookup(state, target, ipv6=state.ip.version == 6)
        state.count_void(not found)
        return _in_any(state.ip, found, cidr4, cidr6)
    if name == "mx":
        try:
            exchanges = (await state.lookups.mx(target)).records
        except TemporaryDNSError as exc:
            raise _TempError(str(exc)) from exc
        state.count_void(not exchanges)
        if len(exchanges) > _MX_LIMIT:
            raise _PermError(f"{target} has more than {_MX_LIMIT} MX records (RFC 7208 §4.6.4)")
        for exchange in exchanges:
            if _in_any(state.ip, await _lookup(state, exchange, ipv6=state.ip.version == 6), cidr4, cidr6):
                return True
        return False
    return await _ptr_matches(state, target)


async def _ptr_matches(state: _State, target: str) -> bool:
    """ptr (§5.5): a validated reverse name of the client ends in ``target``. DNS errors do not match."""
    try:
        names = (await state.lookups.ptr(str(state.ip))).records
    except TemporaryDNSError:
        return False
    state.count_void(not names)
    for host in names[:_PTR_LIMIT]:
        host = host.lower()
        if host != target and not host.endswith("." + target):
            continue
        try:
            found = await _lookup(state, host, ipv6=state.ip.version == 6)
        except _TempError:
            continue
        if str(state.ip) in {str(ipaddress.ip_address(a)) for a in found}:
            return True
    return False


async def _lookup(state: _State, name: str, *, ipv6: bool) -> tuple[str, ...]:
    """The addresses of ``name``; a name DNS cannot hold has none."""
    try:
        return (await state.lookups.addresses(name, ipv6=ipv6)).records
    except TemporaryDNSError as exc:
        raise _TempError(str(exc)) from exc


def _in_any(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    addresses: tuple[str, ...],
    cidr4: int | None,
    cidr6: int | None,
) -> bool:
    prefix = (
        (cidr4 if cidr4 is not None else 32) if ip.version == 4 else (cidr6 if cidr6 is not None else 128)
    )
    for text in addresses:
        try:
            network = ipaddress.ip_network(f"{text}/{prefix}", strict=False)
        except ValueError:
            continue
        if network.version == ip.version and ip in network:
            return True
    return False
