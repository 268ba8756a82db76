"""The uvicorn server both network services run in the engine's own event loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("serving over HTTP needs uvicorn: pip install 'agentinbox[server]'") from exc

__all__ = ["EmbeddedServer"]


class EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers (whoever runs it decides when it stops), whose failure to
    start is an ordinary error rather than the exit of the whole process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve_or_raise(self, what: str) -> None:
        """``serve()``; an address that cannot be bound is an OSError naming ``what``."""
        try:
            await self.serve()
        except SystemExit:  # uvicorn exits when it cannot start; its own message is already logged
            raise OSError(f"cannot serve {what} (see the message above)") from None
