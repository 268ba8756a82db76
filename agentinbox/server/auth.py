"""Who is calling: the bearer key of each request (or ``?api_key=`` on the WebSocket) as a client view
narrowed to that key's scope (``AsyncAgentInbox.with_api_key``), so every route is authorized by the engine's
own scope guard and the HTTP layer holds no access rules of its own."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Request

from ..client import AsyncAgentInbox
from ..errors import AuthenticationError

__all__ = ["Client", "KeyViews", "bearer_key", "caller"]


def bearer_key(authorization: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header (401 ``missing_authorization`` without one)."""
    if not authorization:
        raise AuthenticationError(
            "no API key: send the header 'Authorization: Bearer <api key>'", code="missing_authorization"
        )
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError(
            "the Authorization header must be 'Bearer <api key>'", code="missing_authorization"
        )
    return key.strip()


class KeyViews:
    """Client views by API key, each kept for ``ttl`` seconds so a busy caller costs one key lookup per
    ``ttl`` rather than one per request. A key revoked through this server is forgotten at once
    (``forget``); one revoked elsewhere (the CLI, another process) stops working within ``ttl``."""

    def __init__(self, client: AsyncAgentInbox, *, ttl: float = 2.0, size: int = 1024) -> None:
        self._client = client
        self._ttl = ttl
        self._size = size
        self._views: OrderedDict[str, tuple[float, AsyncAgentInbox]] = OrderedDict()

    async def view(self, key: str) -> AsyncAgentInbox:
        now = time.monotonic()
        held = self._views.get(key)
        if held is not None and held[0] > now:
            return held[1]
        view = await self._client.with_api_key(key)
        self._views[key] = (now + self._ttl, view)
        self._views.move_to_end(key)
        while len(self._views) > self._size:
            self._views.popitem(last=False)
        return view

    def forget(self) -> None:
        """Drop every cached view (after a key was revoked or changed through the API)."""
        self._views.clear()


async def caller(request: Request) -> AsyncAgentInbox:
    """FastAPI dependency: the client view of the request's bearer key (401 when missing or unknown)."""
    keys: KeyViews = request.app.state.keys
    return await keys.view(bearer_key(request.headers.get("authorization")))


#: A route's ``client`` parameter: the caller's client view.
Client = Annotated[AsyncAgentInbox, Depends(caller)]
