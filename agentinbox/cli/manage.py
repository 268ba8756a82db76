"""``agentinbox inboxes|pods|domains|keys``: the engine's objects, managed from a shell."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from ..client import AsyncAgentInbox
from ..models import (
    BearerApiKey,
    CreateApiKeyResponse,
    Domain,
    DomainItem,
    Inbox,
    ListApiKeysResponse,
    ListDomainsResponse,
    ListInboxesResponse,
    ListPodsResponse,
    Pod,
)
from ._app import (
    DatabaseUrl,
    DefaultDomain,
    DnsResolver,
    JsonFlag,
    Limit,
    app,
    client_settings,
    collect,
    confirm_or_refuse,
    fields,
    format_time,
    option,
    print_json,
    run,
    table,
)

inboxes_app = typer.Typer(
    name="inboxes", help="Create, list, show and delete inboxes (addresses).", no_args_is_help=True
)
app.add_typer(inboxes_app)


@inboxes_app.command("create")
def inboxes_create(
    username: Annotated[str | None, option("Local part of the address (random when not given).")] = None,
    domain: Annotated[str | None, option("Domain of the address (default: the default domain).")] = None,
    display_name: Annotated[str | None, option("Name shown in From headers.")] = None,
    client_id: Annotated[
        str | None, option("Your own id for it: creating again with it returns the same inbox.")
    ] = None,
    pod_id: Annotated[str | None, option("Pod to create it in (default: the default pod).")] = None,
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

    inbox = run(client_settings(database_url, default_domain), work)
    if as_json:
        print_json(inbox)
    else:
        typer.echo(f"created inbox {inbox.inbox_id} (pod {inbox.pod_id})")


@inboxes_app.command("list")
def inboxes_list(
    pod_id: Annotated[str | None, option("Only the inboxes of this pod.")] = None,
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

        return await collect(fetch, "inboxes", limit)

    inboxes = run(client_settings(database_url), work)
    if as_json:
        print_json(ListInboxesResponse(count=len(inboxes), limit=limit, inboxes=inboxes))
        return
    table(
        ["INBOX", "DISPLAY NAME", "POD", "CREATED"],
        [[i.inbox_id, i.display_name, i.pod_id, format_time(i.created_at)] for i in inboxes],
    )


@inboxes_app.command("get")
def inboxes_get(
    inbox_id: Annotated[str, typer.Argument(help="The inbox's address.", show_default=False)],
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Show one inbox."""
    inbox = run(client_settings(database_url), lambda client: client.inboxes.get(inbox_id=inbox_id))
    if as_json:
        print_json(inbox)
        return
    fields(
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
    confirm_or_refuse(yes, f"delete {inbox_id} and all its mail?")
    run(client_settings(database_url), lambda client: client.inboxes.delete(inbox_id=inbox_id))
    typer.echo(f"deleted inbox {inbox_id}")


# ---- pods ----

pods_app = typer.Typer(
    name="pods", help="Create, list and delete pods (tenants that hold inboxes).", no_args_is_help=True
)
app.add_typer(pods_app)


@pods_app.command("create")
def pods_create(
    name: Annotated[str | None, option("A name for it.")] = None,
    client_id: Annotated[
        str | None, option("Your own id for it: creating again returns the same pod.")
    ] = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a pod; put inboxes in it with `agentinbox inboxes create --pod-id ...`."""
    pod = run(
        client_settings(database_url), lambda client: client.pods.create(name=name, client_id=client_id)
    )
    if as_json:
        print_json(pod)
    else:
        typer.echo(f"created pod {pod.pod_id} ({pod.name})")


@pods_app.command("list")
def pods_list(limit: Limit = None, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """List pods, newest first (the default pod included)."""

    async def work(client: AsyncAgentInbox) -> list[Pod]:
        return await collect(
            lambda token, size: client.pods.list(limit=size, page_token=token), "pods", limit
        )

    pods = run(client_settings(database_url), work)
    if as_json:
        print_json(ListPodsResponse(count=len(pods), limit=limit, pods=pods))
        return
    table(
        ["POD", "NAME", "CLIENT ID", "CREATED"],
        [[p.pod_id, p.name, p.client_id, format_time(p.created_at)] for p in pods],
    )


@pods_app.command("delete")
def pods_delete(
    pod_id: Annotated[str, typer.Argument(help="The pod's id.", show_default=False)],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an empty pod (one without inboxes)."""
    run(client_settings(database_url), lambda client: client.pods.delete(pod_id=pod_id))
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
    table(
        ["TYPE", "NAME", "PRIORITY", "STATUS", "VALUE"],
        [
            [r.type, r.name, r.priority, r.status + (f" ({r.reason})" if r.reason else ""), r.value]
            for r in domain.records
        ],
    )


@domains_app.command("create")
def domains_create(domain: DomainName, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """Register a domain: makes its DKIM key and shows the DNS records to publish."""
    created = run(client_settings(database_url), lambda client: client.domains.create(domain=domain))
    if as_json:
        print_json(created)
        return
    _show_domain(created)
    typer.echo(f"publish these, then run: agentinbox domains verify {created.domain}")


@domains_app.command("list")
def domains_list(limit: Limit = None, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """List the registered domains, newest first."""

    async def work(client: AsyncAgentInbox) -> list[DomainItem]:
        return await collect(
            lambda token, size: client.domains.list(limit=size, page_token=token), "domains", limit
        )

    domains = run(client_settings(database_url), work)
    if as_json:
        print_json(ListDomainsResponse(count=len(domains), limit=limit, domains=domains))
        return
    table(
        ["DOMAIN", "INBOUND", "CREATED"],
        [[d.domain, d.inbound_enabled, format_time(d.created_at)] for d in domains],
    )


@domains_app.command("get")
def domains_get(domain: DomainName, as_json: JsonFlag = False, database_url: DatabaseUrl = None) -> None:
    """Show a domain's status and the DNS records to publish, each with its status from the last verify."""
    found = run(client_settings(database_url), lambda client: client.domains.get(domain_id=domain))
    if as_json:
        print_json(found)
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
    found = run(
        client_settings(database_url, dns_resolver=dns_resolver),
        lambda client: client.domains.verify(domain_id=domain),
    )
    if as_json:
        print_json(found)
    else:
        _show_domain(found)


@domains_app.command("zone-file")
def domains_zone_file(domain: DomainName, database_url: DatabaseUrl = None) -> None:
    """Print the domain's records as a BIND zone file, to paste into a DNS provider's import."""
    zone = run(client_settings(database_url), lambda client: client.domains.get_zone_file(domain_id=domain))
    typer.echo(zone.decode("utf-8"), nl=not zone.endswith(b"\n"))


@domains_app.command("delete")
def domains_delete(domain: DomainName, database_url: DatabaseUrl = None) -> None:
    """Forget a domain and its DKIM keys (its inboxes stay; their mail is no longer signed)."""
    run(client_settings(database_url), lambda client: client.domains.delete(domain_id=domain))
    typer.echo(f"deleted domain {domain}")


# ---- API keys ----

keys_app = typer.Typer(
    name="keys",
    help="API keys for the HTTP API and SMTP submission: for the organization, one pod or one inbox.",
    no_args_is_help=True,
)
app.add_typer(keys_app)
KeyPod = Annotated[str | None, option("Scope the key to this pod.")]
KeyInbox = Annotated[str | None, option("Scope the key to this inbox.")]


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
    name: Annotated[str | None, option("A name to recognise it by.")] = None,
    pod_id: KeyPod = None,
    inbox_id: KeyInbox = None,
    expires_at: Annotated[
        str | None, option("When it stops working, ISO 8601 (e.g. 2030-01-31T12:00:00Z).")
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

    key = run(client_settings(database_url), work)
    if as_json:
        print_json(key)
    else:
        typer.echo(f"created key {key.api_key_id} ({key.name}) for the {_scope_of(key)}")
        typer.echo(key.api_key)
    typer.echo("note: the secret is shown only once; it cannot be read again.", err=True)


@keys_app.command("list")
def keys_list(
    pod_id: Annotated[str | None, option("Only the keys of this pod (and its inboxes).")] = None,
    inbox_id: Annotated[str | None, option("Only the keys of this inbox.")] = None,
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

        return await collect(fetch, "api_keys", limit)

    keys = run(client_settings(database_url), work)
    if as_json:
        print_json(ListApiKeysResponse(count=len(keys), limit=limit, api_keys=keys))
        return
    table(
        ["KEY ID", "PREFIX", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED"],
        [
            [
                k.api_key_id,
                k.prefix,
                k.name,
                _scope_of(k),
                format_time(k.created_at),
                format_time(k.expires_at),
                format_time(k.used_at),
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
    run(client_settings(database_url), lambda client: client.api_keys.delete(api_key_id=api_key_id))
    typer.echo(f"revoked key {api_key_id}")
