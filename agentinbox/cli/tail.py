"""``agentinbox tail``: follow events as they are committed, by this process or any other on the database."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime
from typing import Annotated, Any, get_args

import typer

from ..client import AsyncAgentInbox
from ..models import (
    Domain,
    Event,
)
from ._app import (
    DatabaseUrl,
    app,
    client_settings,
    format_time,
    run,
)


def _modelled_event_types() -> list[str]:
    """The event types that have a model (``agentinbox.models.Event``), in a stable order."""
    names: list[str] = []
    for model in get_args(get_args(Event)[0]):
        names.extend(get_args(model.model_fields["event_type"].annotation))
    return sorted(names)


def _event_line(event: Any) -> str:
    """One line: time, event type, inbox, then what the event is about."""
    detail: Any = next(
        (
            getattr(event, name)
            for name in ("message", "send", "delivery", "bounce", "complaint", "reject", "domain")
            if hasattr(event, name)
        ),
        None,
    )
    if isinstance(detail, Domain):
        return f"{format_time(detail.updated_at)}  {event.event_type}  {detail.domain}  {detail.status}"
    if detail is None:
        return f"{format_time(datetime.now(UTC))}  {event.event_type}"
    when = getattr(detail, "timestamp", None)
    parts = [format_time(when), event.event_type, detail.inbox_id]
    subject = getattr(detail, "subject", None)
    if subject is not None:
        parts.append(repr(subject))
    parts.append(detail.message_id)
    return "  ".join(parts)


async def _tail(
    client: AsyncAgentInbox,
    *,
    event_types: list[str],
    inbox_ids: list[str],
    pod_ids: list[str],
    as_json: bool,
) -> None:
    """Print each matching event until SIGINT or SIGTERM (then return, for exit status 0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    subscription = client.events.subscribe(
        event_types or None, inbox_ids=inbox_ids or None, pod_ids=pod_ids or None
    )

    async def follow() -> None:
        async for event in subscription:
            typer.echo(event.model_dump_json() if as_json else _event_line(event))

    following = asyncio.create_task(follow())
    # The subscription is registered (and the engine open) by now: what commits from here on is shown.
    typer.echo("following events; Ctrl-C or SIGTERM stops", err=True)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    subscription.close()
    if following.done():
        following.result()  # the stream ended by itself: its error, if any
        return
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following


@app.command()
def tail(
    event_type: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Only events of this type (repeat for more): {', '.join(_modelled_event_types())}.",
            show_default=False,
        ),
    ] = None,
    inbox_id: Annotated[
        list[str] | None,
        typer.Option(help="Only events of this inbox (repeat for more).", show_default=False),
    ] = None,
    pod_id: Annotated[
        list[str] | None, typer.Option(help="Only events of this pod (repeat for more).", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each event as one line of JSON.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Follow events as they happen, one line each, until Ctrl-C or SIGTERM.

    It sees the events of every process using the same database: `agentinbox serve` receiving mail, another
    `agentinbox send`, your agent. Each line shows time, event type, inbox, subject and message_id; with
    --json each line is the event's JSON.
    """
    known = _modelled_event_types()
    unknown = [name for name in event_type or [] if name not in known]
    if unknown:
        raise typer.BadParameter(
            f"unknown event type {', '.join(unknown)}; known: {', '.join(known)}", param_hint="--event-type"
        )
    settings = client_settings(database_url)
    with contextlib.suppress(KeyboardInterrupt):
        run(
            settings,
            lambda client: _tail(
                client,
                event_types=event_type or [],
                inbox_ids=inbox_id or [],
                pod_ids=pod_id or [],
                as_json=as_json,
            ),
        )
