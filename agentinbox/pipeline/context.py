"""What every flow needs: the database, the settings and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .._clock import Clock
from ..security.inspection import Check
from ..settings import Settings
from ..store.database import Database
from .classify import Classifier
from .lists import list_classifier

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """The engine's shared state, handed to each flow; it holds no logic of its own."""

    db: Database
    settings: Settings
    clock: Clock
    #: Called after a transaction queued remote deliveries; the delivery worker, when running, sets it.
    wake_delivery: Callable[[], None] = field(default=lambda: None)
    #: Called after a draft was scheduled or rescheduled; the scheduler, when running, sets it.
    wake_scheduler: Callable[[], None] = field(default=lambda: None)
    #: Called when another process queued received mail (a PostgreSQL notification); the receiving side,
    #: when started, sets it.
    wake_inbound: Callable[[], None] = field(default=lambda: None)
    #: The verdict step of inbound mail: each may label a message spam, blocked or unauthenticated before
    #: it is stored (see :mod:`agentinbox.pipeline.classify`). By default the allow/block lists only.
    classifiers: list[Classifier] = field(default_factory=lambda: [list_classifier])
    #: The inbound checks run before classification: authentication, spam and virus scanning (see
    #: :mod:`agentinbox.pipeline.checks`); the client builds them from the settings.
    checks: list[Check] = field(default_factory=list)
