"""Inbound spam check (being built: returns no check yet)."""

from __future__ import annotations

from ..settings import Settings
from .inspection import Check

__all__ = ["spam_check"]


def spam_check(settings: Settings) -> Check | None:
    """The spam scanner ``settings.spam_scanner`` names, or None for ``none``."""
    return None
