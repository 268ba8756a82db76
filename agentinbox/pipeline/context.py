"""What every flow needs: the database, the settings and the clock."""

from __future__ import annotations

from dataclasses import dataclass

from .._clock import Clock
from ..settings import Settings
from ..store.database import Database

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """The engine's shared state, handed to each flow; it holds no logic of its own."""

    db: Database
    settings: Settings
    clock: Clock
