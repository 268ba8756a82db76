"""The ``agentinbox`` Typer app, the options its commands share, and the helpers they print and run with."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import click
import pydantic
import typer

from ..client import AsyncAgentInbox
from ..errors import AgentInboxError, ValidationError
from ..settings import Settings

__all__ = [
    "DatabaseUrl",
    "DefaultDomain",
    "DnsResolver",
    "Hostname",
    "JsonFlag",
    "Limit",
    "RelayUrl",
    "app",
    "client_settings",
    "collect",
    "confirm_or_refuse",
    "fail",
    "fields",
    "format_time",
    "option",
    "print_json",
    "run",
    "settings_from",
    "table",
]

app = typer.Typer(
    name="agentinbox",
    help="Email for AI agents: real inboxes served from one SQLite file or PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)


def option(help: str) -> Any:
    return typer.Option(help=help, show_default=False)


# Options several commands take (each names the setting it sets).
DatabaseUrl = Annotated[str | None, option("SQLAlchemy URL of the database (default ./agentinbox.db).")]
DefaultDomain = Annotated[str | None, option("Domain of inboxes created without one.")]
Hostname = Annotated[str | None, option("Host name this mail server is reached at (MX target).")]
RelayUrl = Annotated[
    str | None, option("smtp://user:pass@host:port or smtps://… to send through; empty = direct to MX.")
]
DnsResolver = Annotated[str | None, option("host:port of the DNS server to ask (default: the system's).")]


@app.callback()
def _root() -> None:
    """Email for AI agents: real inboxes served from one SQLite file or PostgreSQL."""


def settings_from(given: dict[str, Any]) -> Settings:
    """Settings from the options given (the environment fills the rest); bad values exit with status 2."""
    try:
        return Settings(**{name: value for name, value in given.items() if value is not None})
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: bad settings: {problems}", err=True)
        raise typer.Exit(2) from None


JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (the model's fields), for scripts.")
]
Limit = Annotated[
    int | None, typer.Option(min=1, help="Show at most this many (default: all).", show_default=False)
]
T = TypeVar("T")


def fail(message: str, status: int = 1) -> NoReturn:
    """Say what went wrong on one line of stderr and exit with ``status`` (2 for bad arguments)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def client_settings(database_url: str | None, default_domain: str | None = None, **more: Any) -> Settings:
    """The settings of a management command: its options over the environment."""
    return settings_from({"database_url": database_url, "default_domain": default_domain, **more})


def run(settings: Settings, work: Callable[[AsyncAgentInbox], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` with an open client; a library error exits 1 (2 for a ValidationError: bad arguments)."""

    async def with_client() -> T:
        async with AsyncAgentInbox(settings=settings) as client:
            return await work(client)

    try:
        return asyncio.run(with_client())
    except ValidationError as exc:
        fail(exc.message, 2)
    except AgentInboxError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(str(exc))
    except (typer.Exit, typer.Abort, click.ClickException):
        raise
    except Exception as exc:
        # An error the library did not map (a fault of its own): one line for the person, not a traceback.
        first_line = next(iter(str(exc).splitlines()), "")
        fail(f"unexpected {type(exc).__name__}: {first_line}")


def print_json(model: pydantic.BaseModel) -> None:
    """``--json`` output: the model's fields by their wire names."""
    typer.echo(model.model_dump_json(indent=2))


def format_time(value: datetime | None) -> str:
    """A time as UTC for a table cell, or "-"."""
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Rows under their headers in aligned columns (the last column is not padded)."""
    if not rows:
        typer.echo("(none)")
        return
    cells = [list(headers), *([("-" if cell is None else str(cell)) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    for row in cells:
        typer.echo(
            "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        )


def fields(pairs: Sequence[tuple[str, object]]) -> None:
    """One ``name: value`` line per pair, values aligned."""
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        shown = format_time(value) if isinstance(value, datetime) else ("-" if value is None else value)
        typer.echo(f"{name + ':':<{width + 1}} {shown}")


async def collect(
    fetch: Callable[[str | None, int | None], Awaitable[Any]], field: str, limit: int | None
) -> list[Any]:
    """Every item of a paginated list (or the first ``limit``), following ``next_page_token``."""
    items: list[Any] = []
    token: str | None = None
    while limit is None or len(items) < limit:
        page = await fetch(token, None if limit is None else limit - len(items))
        items.extend(getattr(page, field))
        token = page.next_page_token
        if not token:
            break
    return items if limit is None else items[:limit]


def confirm_or_refuse(yes: bool, question: str) -> None:
    """Ask before destroying something; without a terminal to ask on, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail("not run interactively: pass --yes to confirm", 2)
    if not typer.confirm(question):
        fail("not confirmed; nothing was deleted")
