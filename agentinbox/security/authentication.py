"""Inbound authentication check (being built: returns no check yet)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..settings import Settings
from .inspection import Check

__all__ = ["authentication_check"]


def authentication_check(settings: Settings, own_domains: Callable[[], Awaitable[set[str]]]) -> Check | None:
    """The SPF/DKIM/DMARC check ``settings`` ask for, or None when ``inbound_authentication`` is off."""
    return None
