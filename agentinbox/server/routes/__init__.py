"""The routers of the ``/v0`` API, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from . import drafts, inboxes, messages, pods, threads

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [inboxes.router, messages.router, threads.router, drafts.router, pods.router]
