"""The ``agentinbox`` command: ``serve`` runs the engine's network services until stopped; ``mcp`` serves the
agent tools to MCP clients; ``inboxes``, ``pods``, ``domains`` and ``keys`` manage the engine's objects;
``send``, ``import`` and ``tail`` send mail, load mailboxes and follow events.

Options override the ``AGENTINBOX_*`` environment variables, which override the defaults; every setting
without an option here (see ``agentinbox.Settings``) is still read from the environment. Only the public
client is used here, never the store or the pipeline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import mailbox
import mimetypes
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar, get_args

import click
import pydantic
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .client import AsyncAgentInbox
from .errors import AgentInboxError, ValidationError
from .models import (
    BearerApiKey,
    CreateApiKeyResponse,
    Domain,
    DomainItem,
    Event,
    Inbox,
    ListApiKeysResponse,
    ListDomainsResponse,
    ListInboxesResponse,
    ListPodsResponse,
    Pod,
    SendMessageResponse,
)
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
    http_listen: Annotated[
        str | None, _option("host:port of the HTTP API (/v0) and its WebSocket, e.g. 127.0.0.1:8025.")
    ] = None,
    api_key: Annotated[
        str | None,
        _option(
            "Organization API key the HTTP API accepts (scoped keys come from `agentinbox keys create`)."
        ),
    ] = None,
    mcp_listen: Annotated[
        str | None,
        _option(
            "host:port to serve the agent tools over MCP streamable HTTP (endpoint /mcp); it has no "
            "authentication of its own, so bind a loopback address."
        ),
    ] = None,
    relay_url: RelayUrl = None,
    dns_resolver: DnsResolver = None,
    tls_cert_file: Annotated[str | None, _option("PEM certificate chain for STARTTLS.")] = None,
    tls_key_file: Annotated[str | None, _option("PEM private key for STARTTLS.")] = None,
    inbound_processes: Annotated[
        int | None,
        _option("Child processes that store received mail (0 = in this process; 1 uses a 2nd core)."),
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
    settings = _settings(given)
    mcp_server = _mcp_module() if mcp_address is not None else None
    try:
        asyncio.run(_serve(settings, mcp_address, mcp_server))
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
        from .server import mcp as mcp_server
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


# ---- management commands: shared pieces ----

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (the model's fields), for scripts.")
]
Limit = Annotated[
    int | None, typer.Option(min=1, help="Show at most this many (default: all).", show_default=False)
]
T = TypeVar("T")


def _fail(message: str, status: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def _client_settings(database_url: str | None, default_domain: str | None = None, **more: Any) -> Settings:
    return _settings({"database_url": database_url, "default_domain": default_domain, **more})


def _run(settings: Settings, work: Callable[[AsyncAgentInbox], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` with an open client; a library error exits 1 (2 for a ValidationError: bad arguments)."""

    async def with_client() -> T:
        async with AsyncAgentInbox(settings=settings) as client:
            return await work(client)

    try:
        return asyncio.run(with_client())
    except ValidationError as exc:
        _fail(exc.message, 2)
    except AgentInboxError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(str(exc))
    except (typer.Exit, typer.Abort, click.ClickException):
        raise
    except Exception as exc:
        # An error the library did not map (a fault of its own): one line for the person, not a traceback.
        first_line = next(iter(str(exc).splitlines()), "")
        _fail(f"unexpected {type(exc).__name__}: {first_line}")


def _json(model: pydantic.BaseModel) -> None:
    typer.echo(model.model_dump_json(indent=2))


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
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


def _fields(pairs: Sequence[tuple[str, object]]) -> None:
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        shown = _when(value) if isinstance(value, datetime) else ("-" if value is None else value)
        typer.echo(f"{name + ':':<{width + 1}} {shown}")


async def _collect(
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


def _confirm_or_refuse(yes: bool, question: str) -> None:
    """Ask before destroying something; without a terminal to ask on, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        _fail("not run interactively: pass --yes to confirm", 2)
    if not typer.confirm(question):
        _fail("not confirmed; nothing was deleted")


# ---- inboxes ----

inboxes_app = typer.Typer(
    name="inboxes", help="Create, list, show and delete inboxes (addresses).", no_args_is_help=True
)
app.add_typer(inboxes_app)


@inboxes_app.command("create")
def inboxes_create(
    username: Annotated[str | None, _option("Local part of the address (random when not given).")] = None,
    domain: Annotated[str | None, _option("Domain of the address (default: the default domain).")] = None,
    display_name: Annotated[str | None, _option("Name shown in From headers.")] = None,
    client_id: Annotated[
        str | None, _option("Your own id for it: creating again with it returns the same inbox.")
    ] = None,
    pod_id: Annotated[str | None, _option("Pod to create it in (default: the default pod).")] = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
    default_domain: DefaultDomain = None,
) -> None:
    """Create an inbox, e.g. `agentinbox inboxes create --username support --display-name "Support"`."""
    fields: dict[str, Any] = {
        "username": username,
        "domain": domain,
        "display_name": display_name,
        "client_id": client_id,
    }

    async def work(client: AsyncAgentInbox) -> Inbox:
        if pod_id is not None:
            return await client.pods.inboxes.create(pod_id=pod_id, **fields)
        return await client.inboxes.create(**fields)

    inbox = _run(_client_settings(database_url, default_domain), work)
    if as_json:
        _json(inbox)
    else:
        typer.echo(f"created inbox {inbox.inbox_id} (pod {inbox.pod_id})")


@inboxes_app.command("list")
def inboxes_list(
    pod_id: Annotated[str | None, _option("Only the inboxes of this pod.")] = None,
    limit: Limit = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List inboxes, newest first."""

    async def work(client: AsyncAgentInbox) -> list[Inbox]:
        async def fetch(token: str | None, size: int | None) -> ListInboxesResponse:
            if pod_id is not None:
                return await client.pods.inboxes.list(pod_id=pod_id, limit=size, page_token=token)
            return await client.inboxes.list(limit=size, page_token=token)

        return await _collect(fetch, "inboxes", limit)

    inboxes = _run(_client_settings(database_url), work)
    if as_json:
        _json(ListInboxesResponse(count=len(inboxes), limit=limit, inboxes=inboxes))
        return
    _table(
        ["INBOX", "DISPLAY NAME", "POD", "CREATED"],
        [[i.inbox_id, i.display_name, i.pod_id, _when(i.created_at)] for i in inboxes],
    )


@inboxes_app.command("get")
def inboxes_get(
    inbox_id: Annotated[str, typer.Argument(help="The inbox's address.", show_default=False)],
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Show one inbox."""
    inbox = _run(_client_settings(database_url), lambda client: client.inboxes.get(inbox_id=inbox_id))
    if as_json:
        _json(inbox)
        return
    _fields(
        [
            ("inbox", inbox.inbox_id),
            ("display name", inbox.display_name),
            ("pod", inbox.pod_id),
            ("client id", inbox.client_id),
            ("status", inbox.status),
            ("created", inbox.created_at),
            ("updated", inbox.updated_at),
        ]
    )


@inboxes_app.command("delete")
def inboxes_delete(
    inbox_id: Annotated[str, typer.Argument(help="The inbox's address.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an inbox for good, with all its threads, messages and drafts."""
    _confirm_or_refuse(yes, f"delete {inbox_id} and all its mail?")
    _run(_client_settings(database_url), lambda client: client.inboxes.delete(inbox_id=inbox_id))
    typer.echo(f"deleted inbox {inbox_id}")


# ---- pods ----

pods_app = typer.Typer(
    name="pods", help="Create, list and delete pods (tenants that hold inboxes).", no_args_is_help=True
)
app.add_typer(pods_app)


@pods_app.command("create")
def pods_create(
    name: Annotated[str | None, _option("A name for it.")] = None,
    client_id: Annotated[
        str | None, _option("Your own id for it: creating again returns the same pod.")
    ] = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a pod; put inboxes in it with `agentinbox inboxes create --pod-id ...`."""
    pod = _run(
        _client_settings(database_url), lambda client: client.pods.create(name=name, client_id=client_id)
    )
    if as_json:
        _json(pod)
    else:
        typer.echo(f"created pod {pod.pod_id} ({pod.name})")


@pods_app.command("list")
def pods_list(limit: Limit = None, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """List pods, newest first (the default pod included)."""

    async def work(client: AsyncAgentInbox) -> list[Pod]:
        return await _collect(
            lambda token, size: client.pods.list(limit=size, page_token=token), "pods", limit
        )

    pods = _run(_client_settings(database_url), work)
    if as_json:
        _json(ListPodsResponse(count=len(pods), limit=limit, pods=pods))
        return
    _table(
        ["POD", "NAME", "CLIENT ID", "CREATED"],
        [[p.pod_id, p.name, p.client_id, _when(p.created_at)] for p in pods],
    )


@pods_app.command("delete")
def pods_delete(
    pod_id: Annotated[str, typer.Argument(help="The pod's id.", show_default=False)],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an empty pod (one without inboxes)."""
    _run(_client_settings(database_url), lambda client: client.pods.delete(pod_id=pod_id))
    typer.echo(f"deleted pod {pod_id}")


# ---- domains ----

domains_app = typer.Typer(
    name="domains",
    help="Custom domains: register one, publish the DNS records it shows, then verify it.",
    no_args_is_help=True,
)
app.add_typer(domains_app)
DomainName = Annotated[str, typer.Argument(help="The domain, e.g. agents.example.com.", show_default=False)]


def _show_domain(domain: Domain) -> None:
    typer.echo(f"domain {domain.domain}: {domain.status}" + (f" ({domain.reason})" if domain.reason else ""))
    typer.echo("records to publish:")
    _table(
        ["TYPE", "NAME", "PRIORITY", "STATUS", "VALUE"],
        [
            [r.type, r.name, r.priority, r.status + (f" ({r.reason})" if r.reason else ""), r.value]
            for r in domain.records
        ],
    )


@domains_app.command("create")
def domains_create(domain: DomainName, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """Register a domain: makes its DKIM key and shows the DNS records to publish."""
    created = _run(_client_settings(database_url), lambda client: client.domains.create(domain=domain))
    if as_json:
        _json(created)
        return
    _show_domain(created)
    typer.echo(f"publish these, then run: agentinbox domains verify {created.domain}")


@domains_app.command("list")
def domains_list(limit: Limit = None, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """List the registered domains, newest first."""

    async def work(client: AsyncAgentInbox) -> list[DomainItem]:
        return await _collect(
            lambda token, size: client.domains.list(limit=size, page_token=token), "domains", limit
        )

    domains = _run(_client_settings(database_url), work)
    if as_json:
        _json(ListDomainsResponse(count=len(domains), limit=limit, domains=domains))
        return
    _table(
        ["DOMAIN", "INBOUND", "CREATED"],
        [[d.domain, d.inbound_enabled, _when(d.created_at)] for d in domains],
    )


@domains_app.command("get")
def domains_get(domain: DomainName, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """Show a domain's status and the DNS records to publish, each with its status from the last verify."""
    found = _run(_client_settings(database_url), lambda client: client.domains.get(domain_id=domain))
    if as_json:
        _json(found)
    else:
        _show_domain(found)


@domains_app.command("verify")
def domains_verify(
    domain: DomainName,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
    dns_resolver: DnsResolver = None,
) -> None:
    """Look up each record in DNS now and show what was found; VERIFIED once all are published."""
    found = _run(
        _client_settings(database_url, dns_resolver=dns_resolver),
        lambda client: client.domains.verify(domain_id=domain),
    )
    if as_json:
        _json(found)
    else:
        _show_domain(found)


@domains_app.command("zone-file")
def domains_zone_file(domain: DomainName, database_url: DatabaseUrl = None) -> None:
    """Print the domain's records as a BIND zone file, to paste into a DNS provider's import."""
    zone = _run(_client_settings(database_url), lambda client: client.domains.get_zone_file(domain_id=domain))
    typer.echo(zone.decode("utf-8"), nl=not zone.endswith(b"\n"))


@domains_app.command("delete")
def domains_delete(domain: DomainName, database_url: DatabaseUrl = None) -> None:
    """Forget a domain and its DKIM keys (its inboxes stay; their mail is no longer signed)."""
    _run(_client_settings(database_url), lambda client: client.domains.delete(domain_id=domain))
    typer.echo(f"deleted domain {domain}")


# ---- API keys ----

keys_app = typer.Typer(
    name="keys",
    help="API keys for the HTTP API and SMTP submission: for the organization, one pod or one inbox.",
    no_args_is_help=True,
)
app.add_typer(keys_app)
KeyPod = Annotated[str | None, _option("Scope the key to this pod.")]
KeyInbox = Annotated[str | None, _option("Scope the key to this inbox.")]


def _one_scope(pod_id: str | None, inbox_id: str | None) -> None:
    if pod_id is not None and inbox_id is not None:
        raise typer.BadParameter("give --pod-id or --inbox-id, not both", param_hint="--pod-id/--inbox-id")


def _expiry(value: str | None) -> datetime | None:
    """An ISO 8601 time (a time without zone is UTC) as an aware datetime; BadParameter otherwise."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO 8601 time such as 2030-01-31T12:00:00Z, got {value!r}",
            param_hint="--expires-at",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _scope_of(key: BearerApiKey | CreateApiKeyResponse) -> str:
    if key.inbox_id is not None:
        return f"inbox {key.inbox_id}"
    if key.pod_id is not None:
        return f"pod {key.pod_id}"
    return "organization"


@keys_app.command("create")
def keys_create(
    name: Annotated[str | None, _option("A name to recognise it by.")] = None,
    pod_id: KeyPod = None,
    inbox_id: KeyInbox = None,
    expires_at: Annotated[
        str | None, _option("When it stops working, ISO 8601 (e.g. 2030-01-31T12:00:00Z).")
    ] = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print its secret. The secret is shown only this once: store it now."""
    _one_scope(pod_id, inbox_id)
    expiry = _expiry(expires_at)

    async def work(client: AsyncAgentInbox) -> CreateApiKeyResponse:
        if inbox_id is not None:
            return await client.inboxes.api_keys.create(inbox_id=inbox_id, name=name, expires_at=expiry)
        if pod_id is not None:
            return await client.pods.api_keys.create(pod_id=pod_id, name=name, expires_at=expiry)
        return await client.api_keys.create(name=name, expires_at=expiry)

    key = _run(_client_settings(database_url), work)
    if as_json:
        _json(key)
    else:
        typer.echo(f"created key {key.api_key_id} ({key.name}) for the {_scope_of(key)}")
        typer.echo(key.api_key)
    typer.echo("note: the secret is shown only once; it cannot be read again.", err=True)


@keys_app.command("list")
def keys_list(
    pod_id: Annotated[str | None, _option("Only the keys of this pod (and its inboxes).")] = None,
    inbox_id: Annotated[str | None, _option("Only the keys of this inbox.")] = None,
    limit: Limit = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List keys, newest first; their secrets are never shown (only their prefixes)."""
    _one_scope(pod_id, inbox_id)

    async def work(client: AsyncAgentInbox) -> list[BearerApiKey]:
        async def fetch(token: str | None, size: int | None) -> ListApiKeysResponse:
            if inbox_id is not None:
                return await client.inboxes.api_keys.list(inbox_id=inbox_id, limit=size, page_token=token)
            if pod_id is not None:
                return await client.pods.api_keys.list(pod_id=pod_id, limit=size, page_token=token)
            return await client.api_keys.list(limit=size, page_token=token)

        return await _collect(fetch, "api_keys", limit)

    keys = _run(_client_settings(database_url), work)
    if as_json:
        _json(ListApiKeysResponse(count=len(keys), limit=limit, api_keys=keys))
        return
    _table(
        ["KEY ID", "PREFIX", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED"],
        [
            [
                k.api_key_id,
                k.prefix,
                k.name,
                _scope_of(k),
                _when(k.created_at),
                _when(k.expires_at),
                _when(k.used_at),
            ]
            for k in keys
        ],
    )


@keys_app.command("revoke")
def keys_revoke(
    api_key_id: Annotated[
        str, typer.Argument(help="The key's id (see `agentinbox keys list`).", show_default=False)
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key at once."""
    _run(_client_settings(database_url), lambda client: client.api_keys.delete(api_key_id=api_key_id))
    typer.echo(f"revoked key {api_key_id}")


# ---- send ----

ExistingFile = dict(exists=True, file_okay=True, dir_okay=False, readable=True, resolve_path=True)


def _attachment(path: Path) -> dict[str, str]:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    content = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"filename": path.name, "content": content, "content_type": content_type}


@app.command()
def send(
    from_: Annotated[str, typer.Option("--from", help="The inbox to send from.", show_default=False)],
    to: Annotated[list[str], typer.Option("--to", help="A recipient (repeat for more).", show_default=False)],
    subject: Annotated[str, typer.Option(help="The subject.", show_default=False)],
    cc: Annotated[
        list[str] | None, typer.Option(help="A Cc recipient (repeat for more).", show_default=False)
    ] = None,
    bcc: Annotated[
        list[str] | None, typer.Option(help="A Bcc recipient (repeat for more).", show_default=False)
    ] = None,
    text: Annotated[
        str | None, _option("The plain-text body (else --text-file, else read from stdin).")
    ] = None,
    text_file: Annotated[
        Path | None,
        typer.Option(help="Read the plain-text body from this file.", show_default=False, **ExistingFile),
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option(help="Read an HTML body from this file.", show_default=False, **ExistingFile),
    ] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option(help="Attach this file (repeat for more).", show_default=False, **ExistingFile),
    ] = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a new message from one of the inboxes and print its message_id and thread_id.

    Recipients that are inboxes of this engine get it at once. Mail to other addresses is queued, and
    goes out while `agentinbox serve` runs (through --relay-url, or straight to the recipients' MX hosts).
    """
    if text is not None and text_file is not None:
        raise typer.BadParameter("give --text or --text-file, not both", param_hint="--text")
    if text is None and text_file is not None:
        text = text_file.read_text(encoding="utf-8", errors="replace")
    elif text is None and not sys.stdin.isatty():
        text = sys.stdin.read() or None
    elif text is None and html_file is None:
        raise typer.BadParameter(
            "give --text, --text-file or --html-file, or pipe the text on stdin", param_hint="--text"
        )
    html = html_file.read_text(encoding="utf-8", errors="replace") if html_file is not None else None
    attachments = [_attachment(path) for path in attach or []]
    recipients = [address for _, address in getaddresses([*to, *(cc or []), *(bcc or [])]) if address]

    async def work(client: AsyncAgentInbox) -> tuple[SendMessageResponse, list[str]]:
        sent = await client.inboxes.messages.send(
            inbox_id=from_,
            to=to,
            cc=cc or None,
            bcc=bcc or None,
            subject=subject,
            text=text,
            html=html,
            attachments=attachments or None,
        )
        # Local recipients were delivered in the send's own transaction; only the others wait for serve.
        remote = []
        for address in dict.fromkeys(a.lower() for a in recipients):
            try:
                await client.inboxes.get(inbox_id=address)
            except AgentInboxError:
                remote.append(address)
        return sent, remote

    sent, remote = _run(_client_settings(database_url), work)
    if as_json:
        _json(sent)
    else:
        typer.echo(f"message_id: {sent.message_id}")
        typer.echo(f"thread_id: {sent.thread_id}")
    if remote:
        typer.echo(
            f"queued for {', '.join(remote)}: remote mail goes out while `agentinbox serve` runs", err=True
        )


# ---- import ----

_CONCURRENT_DELIVERIES = 8


@dataclass
class _Source:
    """A mailbox to import: what it is, how many messages, and (label, raw bytes) read one at a time."""

    kind: str
    count: int
    messages: Generator[tuple[str, bytes], None, None]


def _open_source(path: Path) -> _Source:
    """Detect an mbox file, a Maildir (cur/ and new/), a directory of .eml files or one .eml file."""
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            maildir = mailbox.Maildir(path, factory=None, create=False)
            keys = sorted(maildir.keys())
            # get_bytes returns each file's bytes as stored (no re-serialising).
            return _Source("Maildir", len(keys), ((key, maildir.get_bytes(key)) for key in keys))
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
        if not files:
            raise typer.BadParameter(
                f"{path} is neither a Maildir (with cur/ and new/) nor a directory of .eml files",
                param_hint="PATH",
            )
        return _Source(".eml files", len(files), ((f.name, f.read_bytes()) for f in files))
    with path.open("rb") as file:
        head = file.read(5)
    if not head:
        raise typer.BadParameter(f"{path} is empty", param_hint="PATH")
    if head == b"From ":
        box = mailbox.mbox(path, factory=None, create=False)
        keys = list(box.keys())  # scans for the From_ lines once; keeps offsets, not messages

        def read() -> Generator[tuple[str, bytes], None, None]:
            try:
                for position, key in enumerate(keys, start=1):
                    # get_bytes returns the message as stored, without its From_ line (no re-serialising).
                    yield f"#{position}", box.get_bytes(key)
            finally:
                box.close()

        return _Source("mbox", len(keys), read())
    return _Source("message", 1, ((path.name, path.read_bytes()) for _ in (1,)))


@dataclass
class _Tally:
    imported: int = 0
    duplicates: int = 0
    failed: int = 0


async def _import(
    client: AsyncAgentInbox, source: _Source, *, inbox_id: str | None, limit: int | None, progress: Progress
) -> _Tally:
    """Deliver each message, a bounded number at a time; failures are reported and counted, not fatal."""
    if inbox_id is not None:
        await client.inboxes.get(inbox_id=inbox_id)  # an unknown inbox stops the import before it starts
    total = source.count if limit is None else min(limit, source.count)
    task = progress.add_task(f"importing {source.kind}", total=total)
    tally = _Tally()
    started = datetime.now(UTC)
    seen: set[tuple[str, str]] = set()
    slots = asyncio.Semaphore(_CONCURRENT_DELIVERIES)
    running: set[asyncio.Task[None]] = set()

    def report(label: str, problem: str) -> None:
        tally.failed += 1
        progress.console.print(f"failed: message {label}: {problem}", markup=False, highlight=False)

    async def one(label: str, raw: bytes) -> None:
        try:
            stored = await client.deliver(raw, rcpt_to=None if inbox_id is None else [inbox_id])
        except AgentInboxError as exc:
            report(label, exc.message)
        except Exception as exc:  # a fault on one message must not end the import of the rest
            report(label, f"{type(exc).__name__}: {exc}")
        else:
            # deliver returns the copy already stored for a message seen before (here or in an earlier run).
            copies = {(m.inbox_id, m.message_id) for m in stored}
            new = any(m.created_at >= started for m in stored) and not copies <= seen
            seen.update(copies)
            if new:
                tally.imported += 1
            else:
                tally.duplicates += 1
        finally:
            slots.release()
            progress.advance(task)

    messages = itertools.islice(source.messages, total)
    try:
        while True:
            await slots.acquire()  # before reading the next message: at most this many are held in memory
            item = next(messages, None)
            if item is None:
                slots.release()
                break
            job = asyncio.create_task(one(*item))
            running.add(job)
            job.add_done_callback(running.discard)
        await asyncio.gather(*running)
    finally:
        source.messages.close()  # closes the mbox file when --limit stopped before its end
    return tally


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="An mbox file, a Maildir, a directory of .eml files or one .eml file.",
            exists=True,
            resolve_path=True,
            show_default=False,
        ),
    ],
    inbox_id: Annotated[
        str | None,
        _option("Put every message into this inbox (default: the inboxes among each message's To/Cc)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Import only the first N messages.", show_default=False)
    ] = None,
    database_url: DatabaseUrl = None,
    default_domain: DefaultDomain = None,
) -> None:
    """Import existing mail, byte for byte, through the same pipeline as received mail.

    Messages already imported count as duplicates, so running it again is safe. A message that cannot be
    imported is reported with its position and the import goes on; the exit status is 1 if any failed.
    """
    source = _open_source(path)
    settings = _client_settings(database_url, default_domain)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        tally = _run(
            settings,
            lambda client: _import(client, source, inbox_id=inbox_id, limit=limit, progress=progress),
        )
    typer.echo(f"imported {tally.imported}, duplicates {tally.duplicates}, failed {tally.failed}")
    if tally.failed:
        raise typer.Exit(1)


# ---- tail ----


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
        return f"{_when(detail.updated_at)}  {event.event_type}  {detail.domain}  {detail.status}"
    if detail is None:
        return f"{_when(datetime.now(UTC))}  {event.event_type}"
    when = getattr(detail, "timestamp", None)
    parts = [_when(when), event.event_type, detail.inbox_id]
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
    settings = _client_settings(database_url)
    with contextlib.suppress(KeyboardInterrupt):
        _run(
            settings,
            lambda client: _tail(
                client,
                event_types=event_type or [],
                inbox_ids=inbox_id or [],
                pod_ids=pod_id or [],
                as_json=as_json,
            ),
        )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
