"""What the SMTP listeners started from settings share (the receiver and submission): the address a
``*_listen`` setting names, and the size limit, ``smtp_*`` limits and STARTTLS context they all use.

A setting that cannot be used is a ValidationError naming it, raised before anything listens.
"""

from __future__ import annotations

from ..errors import ValidationError
from ..settings import Settings
from ..smtp.protocol import ListenerOptions, ReceiverLimits
from ..smtp.receiver import parse_listen
from ..smtp.tls import server_context

__all__ = ["listen_address", "listener_options"]


def listen_address(value: str, *, setting: str) -> tuple[str, int]:
    """The (host, port) of a ``host:port`` setting; a ValidationError naming ``setting`` when malformed."""
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise ValidationError(f"{setting}: {exc}", path=[setting]) from exc


def listener_options(settings: Settings, *, hostname: str) -> ListenerOptions:
    """A listener greeting as ``hostname``, with the size limit, the ``smtp_*`` limits, and STARTTLS when
    ``tls_cert_file`` is set (a certificate or key that cannot be loaded is a ValidationError)."""
    tls_context = None
    if settings.tls_cert_file:
        try:
            tls_context = server_context(settings.tls_cert_file, settings.tls_key_file)
        except ValueError as exc:
            raise ValidationError(str(exc), path=["tls_cert_file"]) from exc
    return ListenerOptions(
        hostname=hostname,
        data_size_limit=settings.max_message_size,
        limits=ReceiverLimits(
            max_connections=settings.smtp_max_connections,
            max_recipients=settings.smtp_max_recipients,
            idle_timeout=settings.smtp_idle_timeout,
            data_timeout=settings.smtp_data_timeout,
        ),
        tls_context=tls_context,
    )
