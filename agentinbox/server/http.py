"""The AgentMail-compatible HTTP API (``/v0``) as an ASGI app over one engine, and the uvicorn server that
runs it. Routes live one resource per module in ``routes/``; each is a thin call into the public client,
made through the view of the caller's API key."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from . import downloads
from ._uvicorn import EmbeddedServer
from .auth import KeyViews
from .errors import ErrorResponse, ValidationErrorResponse, install_error_handlers
from .limits import BodyLimit, body_limit_for
from .routes import ROUTERS
from .routing import RouteIndex

if TYPE_CHECKING:
    from ..client import AsyncAgentInbox

__all__ = ["HttpServer", "create_app"]

#: Error bodies declared on every route of the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ValidationErrorResponse, "description": "Invalid request."},
    401: {"model": ErrorResponse, "description": "Missing or unknown API key."},
    403: {"model": ErrorResponse, "description": "Outside the key's scope, or refused by policy."},
    404: {"model": ErrorResponse, "description": "No such resource."},
    409: {"model": ErrorResponse, "description": "Conflicts with an earlier request."},
    422: {"model": ErrorResponse, "description": "Well-formed but cannot be carried out."},
    429: {"model": ErrorResponse, "description": "Over a send limit; see Retry-After."},
}


def create_app(client: AsyncAgentInbox, *, download_signing_key: str = "") -> FastAPI:
    """The ``/v0`` API over ``client`` (an engine opened with organization access)."""
    app = FastAPI(
        title="agentinbox",
        version="0",
        summary="Email inboxes for AI agents, AgentMail-compatible.",
        openapi_url="/v0/openapi.json",
        docs_url="/v0/docs",
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.add_middleware(BodyLimit, limit=body_limit_for(client.settings.max_message_size))
    app.state.client = client
    app.state.keys = KeyViews(client)
    app.state.downloads = downloads.DownloadSigner(download_signing_key)
    install_error_handlers(app)
    routes = [route for router in [*ROUTERS, downloads.router] for route in router.routes]
    for route in routes:
        if isinstance(route, APIRoute):  # what include_router would add: the error bodies every route has
            route.responses = {**ERROR_RESPONSES, **route.responses}
    app.router.routes.append(RouteIndex(routes))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=routes
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # the schema of the indexed routes
    return app


#: Seconds ``stop`` lets open connections finish before it drops the ones still sending.
STOP_GRACE = 3.0


class HttpServer:
    """The API served by uvicorn on ``host:port`` in the running loop (``start``/``stop``)."""

    def __init__(self, client: AsyncAgentInbox, host: str, port: int, **app_options: Any) -> None:
        self.app = create_app(client, **app_options)
        config = uvicorn.Config(
            self.app, host=host, port=port, log_level="warning", lifespan="off", ws_ping_interval=20
        )
        self._server = EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None
        self._where = f"{host}:{port}"

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port), port 0 resolved."""
        socket = self._server.servers[0].sockets[0]
        host, port = socket.getsockname()[:2]
        return host, port

    async def start(self) -> None:
        """Listen; an address that cannot be bound is an OSError."""
        self._task = asyncio.create_task(self._server.serve_or_raise(f"HTTP on {self._where}"))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop accepting, finish the requests in hand, close WebSockets."""
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE)
            except TimeoutError:
                # A client that does not read keeps its unsent bytes, and uvicorn waits for them for ever.
                for connection in list(self._server.server_state.connections):
                    connection.transport.abort()
                await self._task
        self._task = None
