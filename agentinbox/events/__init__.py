"""Events: the in-process bus that hands committed events from the log (store/events.py) to the agent."""

from .bus import EVENT_TYPES, EventBus, Events, Subscription, SyncSubscription

__all__ = ["EVENT_TYPES", "EventBus", "Events", "Subscription", "SyncSubscription"]
