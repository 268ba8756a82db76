"""Where a webhook may point: URL and custom-header checks, and the address check against internal targets.

A webhook makes the engine send requests on a caller's behalf, so by default it refuses targets on private,
loopback, link-local, multicast and reserved addresses (``settings.webhook_allow_private`` permits them):
once when the webhook is created or changed, and again before each call, since a name can be re-pointed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import ValidationError

__all__ = ["MAX_URL_LENGTH", "check_headers", "check_url", "refused_address", "resolve_target"]

MAX_URL_LENGTH = 2048
_MAX_HEADERS = 32
_MAX_HEADER_LENGTH = 4096
# Headers the dispatcher owns (framing, signature) or that belong to one hop only (RFC 9110 §7.6.1).
_RESERVED = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_url(value: object) -> str:
    """An absolute http(s) URL with a host and no user info; returns it stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("url must be a non-empty string", path=["url"])
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"url must be at most {MAX_URL_LENGTH} characters", path=["url"])
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValidationError("url must not contain spaces or control characters", path=["url"])
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ValidationError(f"url is not a valid URL: {exc}", path=["url"]) from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("url must start with http:// or https://", path=["url"])
    if not parts.hostname:
        raise ValidationError("url must name a host", path=["url"])
    if parts.username is not None or parts.password is not None:
        raise ValidationError("url must not carry a user name or password", path=["url"])
    return url


def check_headers(value: object) -> dict[str, str] | None:
    """Custom delivery headers: names are HTTP tokens, values single-line; none the dispatcher sets."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError("headers must be a mapping of header name to value", path=["headers"])
    if len(value) > _MAX_HEADERS:
        raise ValidationError(f"a webhook takes at most {_MAX_HEADERS} headers", path=["headers"])
    checked: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN:
            raise ValidationError(f"header name {name!r} is not a valid HTTP header name", path=["headers"])
        lower = name.lower()
        if lower in _RESERVED or lower.startswith(("svix-", "webhook-")):
            raise ValidationError(f"header {name!r} is set by the dispatcher itself", path=["headers", name])
        if lower in {n.lower() for n in checked}:
            raise ValidationError(f"header {name!r} is given twice", path=["headers", name])
        if not isinstance(text, str) or len(text) > _MAX_HEADER_LENGTH:
            raise ValidationError(
                f"header {name!r} must be a string of at most {_MAX_HEADER_LENGTH} characters",
                path=["headers", name],
            )
        if any(ch in text for ch in "\r\n\x00"):
            raise ValidationError(
                f"header {name!r} must not contain line breaks or NUL", path=["headers", name]
            )
        checked[name] = text.strip()
    return checked or None


def refused_address(address: str) -> bool:
    """Whether ``address`` is internal: private, loopback, link-local, multicast, reserved or unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def resolve_target(url: str) -> str | None:
    """Why ``url``'s host may not be called (it resolves to an internal address, or not at all), or None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        addresses = [host]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"host {host!r} does not resolve: {exc}"
        addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if refused_address(address):
            return (
                f"host {host!r} is the internal address {address} (private, loopback, link-local, multicast "
                "or reserved); set webhook_allow_private to allow it"
            )
    return None
