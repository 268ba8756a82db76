"""The ``agentinbox`` command: ``agentinbox serve`` runs the engine's network services until stopped;
``agentinbox mcp`` serves the agent tools to MCP clients over stdio or streamable HTTP.

Options override the ``AGENTINBOX_*`` environment variables, which override the defaults; every setting
without an option here (see ``agentinbox.Settings``) is still read from the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Annotated, Any

import pydantic
import typer

from .client import AsyncAgentInbox
from .errors import AgentInboxError
from .settings import Settings
from .smtp.receiver import parse_listen

__all__ = ["app", "main"]

app = typer.Typer(
    name="agentinbox",
    help="Email for AI agents: real inboxes served from one SQLite file or PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)


def _option(help: str) -> Any:
    return typer.Option(help=help, show_default=False)


# The options both commands take (the settings they name).
DatabaseUrl = Annotated[str | None, _option("SQLAlchemy URL of the database (default ./agentinbox.db).")]
DefaultDomain = Annotated[str | None, _option("Domain of inboxes created without one.")]
Hostname = Annotated[str | None, _option("Host name this mail server is reached at (MX target).")]
RelayUrl = Annotated[
    str | None, _option("smtp://user:pass@host:port or smtps://… to send through; empty = direct to MX.")
]
DnsResolver = Annotated[str | None, _option("host:port of the DNS server to ask (default: the system's).")]


@app.callback()
def _root() -> None:
    """Email for AI agents: real inboxes served from one SQLite file or PostgreSQL."""


@app.command()
def serve(
    database_url: DatabaseUrl = None,
    default_domain: DefaultDomain = None,
    hostname: Hostname = None,
    smtp_listen: Annotated[str | None, _option("host:port of the SMTP receiver, e.g. 0.0.0.0:25.")] = None,
    submission_listen: Annotated[str | None, _option("host:port of authenticated SMTP submission.")] = None,
    relay_url: RelayUrl = None,
    dns_resolver: DnsResolver = None,
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
    settings = _settings(given)
    try:
        asyncio.run(_serve(settings))
    except AgentInboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen: {exc}", err=True)
        raise typer.Exit(1) from None


def _settings(given: dict[str, Any]) -> Settings:
    """Settings from the options given (the environment fills the rest); bad values exit with status 2."""
    try:
        return Settings(**{name: value for name, value in given.items() if value is not None})
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: bad settings: {problems}", err=True)
        raise typer.Exit(2) from None


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


def _http_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8000`` for IPv6) as (host, port); a BadParameter naming --http otherwise.

    Stricter than the ``*_listen`` settings: the host must be given, and port 0 is refused.
    """
    try:
        host, port = parse_listen(value)
    except ValueError:
        host, port = "", 0
    if port == 0 or not value.strip().rpartition(":")[0].strip("[]"):
        raise typer.BadParameter(
            f"expected host:port such as 127.0.0.1:8000, got {value!r}", param_hint="--http"
        )
    return host, port


@app.command()
def mcp(
    http: Annotated[
        str | None,
        _option(
            "Serve streamable HTTP on host:port (e.g. 127.0.0.1:8000; the endpoint is /mcp) instead of "
            "stdio. Bind a loopback address unless a proxy in front of it authenticates clients."
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    default_domain: DefaultDomain = None,
    hostname: Hostname = None,
    relay_url: RelayUrl = None,
    dns_resolver: DnsResolver = None,
) -> None:
    """Serve the agent tools (list_inboxes, send_message, get_thread, ...) to an MCP client.

    Without --http it speaks MCP over stdin/stdout, as MCP clients such as Claude Desktop expect.

    Give the client the command `agentinbox mcp` (stdout carries only protocol messages; notes go to stderr).

    With --http 127.0.0.1:8000 it serves streamable HTTP at http://127.0.0.1:8000/mcp until Ctrl-C.

    Outbound mail is delivered and scheduled drafts are sent while it runs.
    """
    address = _http_address(http) if http is not None else None
    given: dict[str, Any] = {
        "database_url": database_url,
        "default_domain": default_domain,
        "hostname": hostname,
        "relay_url": relay_url,
        "dns_resolver": dns_resolver,
    }
    settings = _settings(given)
    try:
        from .server import mcp as mcp_server
    except ImportError as exc:
        typer.echo(
            f"error: the MCP server needs the 'server' extra (pip install 'agentinbox[server]'): {exc}",
            err=True,
        )
        raise typer.Exit(1) from None
    try:
        asyncio.run(_mcp(settings, address, mcp_server))
    except KeyboardInterrupt:
        pass
    except AgentInboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


async def _mcp(settings: Settings, address: tuple[str, int] | None, mcp_server: Any) -> None:
    async with AsyncAgentInbox(settings=settings) as client:
        await client.start()
        if address is None:
            typer.echo("agentinbox MCP server on stdio", err=True)
            await mcp_server.serve_stdio(client)
        else:
            host, port = address
            shown = f"[{host}]" if ":" in host else host
            typer.echo(f"MCP streamable HTTP on http://{shown}:{port}/mcp; Ctrl-C or SIGTERM stops", err=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            serving = asyncio.create_task(mcp_server.serve_http(client, host, port))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if serving.done():
                serving.result()  # it stopped by itself: its error, if any
                return
            typer.echo("stopping", err=True)
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
