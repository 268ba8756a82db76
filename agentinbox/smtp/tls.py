"""TLS contexts for the SMTP listeners (STARTTLS and implicit TLS) and for outbound connections."""

from __future__ import annotations

import functools
import ssl

__all__ = ["client_context", "server_context"]


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context from a PEM certificate chain and key; raises ValueError naming what is wrong."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cannot load the TLS certificate {cert_file!r} and key {key_file!r}: {exc}"
        ) from exc
    return context


@functools.lru_cache(maxsize=8)
def client_context(*, verify: bool = True, cafile: str | None = None) -> ssl.SSLContext:
    """A client context; ``verify=False`` is for opportunistic STARTTLS to MX hosts, as mail servers do.

    Contexts are cached: building one loads the system's CA certificates, which takes milliseconds.
    """
    context = ssl.create_default_context(cafile=cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
