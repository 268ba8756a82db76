"""The ``agentinbox`` command: ``agentinbox serve`` runs the engine's network services until stopped.

Options override the ``AGENTINBOX_*`` environment variables, which override the defaults; every setting
without an option here (see ``agentinbox.Settings``) is still read from the environment.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated, Any

import pydantic
import typer

from .client import AsyncAgentInbox
from .errors import AgentInboxError
from .settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="agentinbox",
    help="Email for AI agents: real inboxes served from one SQLite file or PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)


def _option(help: str) -> Any:
    return typer.Option(help=help, show_default=False)


@app.callback()
def _root() -> None:
    """Email for AI agents: real inboxes served from one SQLite file or PostgreSQL."""


@app.command()
def serve(
    database_url: Annotated[
        str | None, _option("SQLAlchemy URL of the database (default ./agentinbox.db).")
    ] = None,
    default_domain: Annotated[str | None, _option("Domain of inboxes created without one.")] = None,
    hostname: Annotated[str | None, _option("Host name this mail server is reached at (MX target).")] = None,
    smtp_listen: Annotated[str | None, _option("host:port of the SMTP receiver, e.g. 0.0.0.0:25.")] = None,
    submission_listen: Annotated[str | None, _option("host:port of authenticated SMTP submission.")] = None,
    relay_url: Annotated[
        str | None, _option("smtp://user:pass@host:port or smtps://… to send through; empty = direct to MX.")
    ] = None,
    dns_resolver: Annotated[
        str | None, _option("host:port of the DNS server to ask (default: the system's).")
    ] = None,
    tls_cert_file: Annotated[str | None, _option("PEM certificate chain for STARTTLS.")] = None,
    tls_key_file: Annotated[str | None, _option("PEM private key for STARTTLS.")] = None,
    inbound_processes: Annotated[
        int | None,
        _option("Child processes that store received mail (0 = in this process; 1 uses a 2nd core)."),
    ] = None,
) -> None:
    """Serve SMTP (receiving and submission) and deliver outbound mail until interrupted (Ctrl-C or SIGTERM)."""
    given: dict[str, Any] = {
        "database_url": database_url,
        "default_domain": default_domain,
        "hostname": hostname,
        "smtp_listen": smtp_listen,
        "submission_listen": submission_listen,
        "relay_url": relay_url,
        "dns_resolver": dns_resolver,
        "tls_cert_file": tls_cert_file,
        "tls_key_file": tls_key_file,
        "inbound_processes": inbound_processes,
    }
    try:
        settings = Settings(**{name: value for name, value in given.items() if value is not None})
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: bad settings: {problems}", err=True)
        raise typer.Exit(2) from None
    try:
        asyncio.run(_serve(settings))
    except AgentInboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen: {exc}", err=True)
        raise typer.Exit(1) from None


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncAgentInbox(settings=settings) as client:
        await client.start()
        if client.smtp_address is not None:
            typer.echo("SMTP receiver on {}:{}".format(*client.smtp_address))
        if client.submission_address is not None:
            typer.echo("SMTP submission on {}:{}".format(*client.submission_address))
        typer.echo(
            f"outbound mail: {'relay ' + settings.relay_url.split('@')[-1] if settings.relay_url else 'direct to MX'}"
        )
        typer.echo("ready; Ctrl-C or SIGTERM stops")
        sys.stdout.flush()
        await stop.wait()
        typer.echo("stopping: finishing what is in hand")


def main() -> None:
    """Console-script entry point."""
    app()
