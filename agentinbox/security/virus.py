"""Inbound virus check (being built: returns no check yet)."""

from __future__ import annotations

from ..settings import Settings
from .inspection import Check

__all__ = ["virus_check"]


def virus_check(settings: Settings) -> Check | None:
    """The virus scanner ``settings.virus_scanner`` names, or None for ``none``."""
    return None
