"""``agentinbox serve`` (SMTP, submission, the HTTP API and WebSocket, MCP, delivery) and ``agentinbox mcp``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Annotated, Any

import typer

from ..client import AsyncAgentInbox
from ..errors import AgentInboxError
from ..settings import Settings
from ..smtp.receiver import parse_listen
from ._app import (
    DatabaseUrl,
    DefaultDomain,
    DnsResolver,
    Hostname,
    RelayUrl,
    app,
    option,
    settings_from,
)


@app.command()
def serve(
    database_url: DatabaseUrl = None,
    default_domain: DefaultDomain = None,
    hostname: Hostname = None,
    smtp_listen: Annotated[str | None, option("host:port of the SMTP receiver, e.g. 0.0.0.0:25.")] = None,
    submission_listen: Annotated[str | None, option("host:port of authenticated SMTP submission.")] = None,
    http_listen: Annotated[
        str | None, option("host:port of the HTTP API (/v0) and its WebSocket, e.g. 127.0.0.1:8025.")
    ] = None,
    api_key: Annotated[
        str | None,
        option("Organization API key the HTTP API accepts (scoped keys come from `agentinbox keys create`)."),
    ] = None,
    mcp_listen: Annotated[
        str | None,
        option(
            "host:port to serve the agent tools over MCP streamable HTTP (endpoint /mcp); it has no "
            "authentication of its own, so bind a loopback address."
        ),
    ] = None,
    relay_url: RelayUrl = None,
    dns_resolver: DnsResolver = None,
    tls_cert_file: Annotated[str | None, option("PEM certificate chain for STARTTLS.")] = None,
    tls_key_file: Annotated[str | None, option("PEM private key for STARTTLS.")] = None,
    inbound_processes: Annotated[
        int | None,
        option("Child processes that store received mail (0 = in this process; 1 uses a 2nd core)."),
    ] = None,
) -> None:
    """Serve SMTP, the HTTP API (with --http-listen), MCP and outbound delivery until Ctrl-C or SIGTERM.

    SMTP receiving (--smtp-listen), submission (--submission-listen), the HTTP API and its WebSocket
    (--http-listen) and the MCP tools (--mcp-listen) run when given; queued outbound mail is delivered
    through --relay-url or straight to the recipients' MX hosts, and scheduled drafts are sent.
    """
    mcp_address = _http_address(mcp_listen, option="--mcp-listen") if mcp_listen is not None else None
    given: dict[str, Any] = {
        "database_url": database_url,
        "default_domain": default_domain,
        "hostname": hostname,
        "smtp_listen": smtp_listen,
        "submission_listen": submission_listen,
        "http_listen": http_listen,
        "api_key": api_key,
        "relay_url": relay_url,
        "dns_resolver": dns_resolver,
        "tls_cert_file": tls_cert_file,
        "tls_key_file": tls_key_file,
        "inbound_processes": inbound_processes,
    }
    settings = settings_from(given)
    mcp_server = _mcp_module() if mcp_address is not None else None
    try:
        asyncio.run(_serve(settings, mcp_address, mcp_server))
    except AgentInboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen: {exc}", err=True)
        raise typer.Exit(1) from None


async def _serve(settings: Settings, mcp_address: tuple[str, int] | None, mcp_server: Any) -> None:
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
        if client.http_address is not None:
            host, port = client.http_address
            typer.echo(f"HTTP API on http://{f'[{host}]' if ':' in host else host}:{port}/v0")
        serving_mcp = None
        if mcp_address is not None:
            host, port = mcp_address
            serving_mcp = asyncio.create_task(mcp_server.serve_http(client, host, port))
            await asyncio.sleep(0.2)  # an address that cannot be bound fails at once
            if serving_mcp.done():
                serving_mcp.result()
            typer.echo(f"MCP streamable HTTP on http://{f'[{host}]' if ':' in host else host}:{port}/mcp")
        typer.echo(
            f"outbound mail: {'relay ' + settings.relay_url.split('@')[-1] if settings.relay_url else 'direct to MX'}"
        )
        typer.echo("ready; Ctrl-C or SIGTERM stops")
        sys.stdout.flush()
        await stop.wait()
        typer.echo("stopping: finishing what is in hand")
        if serving_mcp is not None:
            serving_mcp.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving_mcp


def _mcp_module() -> Any:
    """``agentinbox.server.mcp``, or exit 1 saying which extra to install."""
    try:
        from ..server import mcp as mcp_server
    except ImportError as exc:
        typer.echo(
            f"error: the MCP server needs the 'server' extra (pip install 'agentinbox[server]'): {exc}",
            err=True,
        )
        raise typer.Exit(1) from None
    return mcp_server


def _http_address(value: str, *, option: str = "--http") -> tuple[str, int]:
    """``host:port`` (``[::1]:8000`` for IPv6) as (host, port); a BadParameter naming ``option`` otherwise.

    Stricter than the ``*_listen`` settings: the host must be given, and port 0 is refused.
    """
    try:
        host, port = parse_listen(value)
    except ValueError:
        host, port = "", 0
    if port == 0 or not value.strip().rpartition(":")[0].strip("[]"):
        raise typer.BadParameter(
            f"expected host:port such as 127.0.0.1:8000, got {value!r}", param_hint=option
        )
    return host, port


@app.command()
def mcp(
    http: Annotated[
        str | None,
        option(
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
    settings = settings_from(given)
    mcp_server = _mcp_module()
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
