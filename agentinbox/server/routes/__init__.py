"""The routers of the ``/v0`` API, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from .. import websocket
from . import api_keys, domains, drafts, inboxes, lists, messages, pods, threads, webhooks

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    inboxes.router,
    messages.router,
    threads.router,
    drafts.router,
    pods.router,
    lists.router,
    domains.router,
    webhooks.router,
    api_keys.router,
    websocket.router,
]
