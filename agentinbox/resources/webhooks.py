"""``client.webhooks``, ``client.inboxes.webhooks`` and ``client.pods.webhooks``: signed HTTP callbacks.

A webhook receives the events of its scope (the organization, a pod or an inbox), narrowed by event types
and, optionally, by pods and inboxes; the dispatcher (``events/webhooks.py``) POSTs each one, signed with the
webhook's ``secret`` the way Svix signs. Custom ``headers`` are sent with every call and never read back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ValidationError
from ..events.bus import EVENT_TYPES
from ..events.signing import new_secret
from ..events.targets import check_headers, check_url, resolve_target
from ..models import ListWebhooksResponse, Webhook
from ..store import webhooks
from ..store.pagination import clamp_limit
from ..store.scopes import Scope
from ._base import Resource, check_bool, check_client_id, check_id, in_scope

__all__ = ["InboxWebhooks", "PodWebhooks", "Webhooks"]


def _event_types(value: object, *, required: bool) -> list[str] | None:
    """Known event types, deduplicated and sorted; None (or empty, when not ``required``) leaves them as
    they are."""
    if value is None or (
        not required and isinstance(value, Sequence) and not isinstance(value, str) and not value
    ):
        if required:
            raise ValidationError("event_types must list at least one event type", path=["event_types"])
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names) or not names:
        raise ValidationError("event_types must be a non-empty list of event types", path=["event_types"])
    unknown = sorted(set(names) - EVENT_TYPES)
    if unknown:
        raise ValidationError(f"unknown event type {unknown[0]!r}", path=["event_types"])
    return sorted(set(names))


def _ids(value: object, name: str) -> list[str]:
    """A list of pod or inbox ids (one string is a list of one), checked, without repeats."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, Sequence):
        raise ValidationError(f"{name} must be a list of ids", path=[name])
    checked = [check_id(v, name) for v in values]
    if "inbox" in name:
        checked = [v.lower() for v in checked]
    if len(set(checked)) > webhooks.MAX_CHANNELS:
        raise ValidationError(f"a webhook takes at most {webhooks.MAX_CHANNELS} {name}", path=[name])
    return list(dict.fromkeys(checked))


class _WebhookOperations(Resource):
    async def _check_target(self, url: str) -> None:
        ctx = await self._ctx()
        if not ctx.settings.webhook_allow_private:
            refused = await resolve_target(url)
            if refused is not None:
                raise ValidationError(f"url is refused: {refused}", path=["url"])

    def _wake(self) -> None:
        dispatcher = self._client._root._webhook_dispatcher
        if dispatcher is not None:
            dispatcher.wake()

    async def _create(
        self,
        *,
        owner: Scope,
        url: object,
        event_types: object,
        pod_ids: object = None,
        inbox_ids: object = None,
        client_id: object,
        headers: object,
    ) -> Webhook:
        checked_url = check_url(url)
        types = _event_types(event_types, required=True)
        assert types is not None
        pods = _ids(pod_ids, "pod_ids")
        inboxes = _ids(inbox_ids, "inbox_ids")
        checked_client_id = check_client_id(client_id)
        checked_headers = check_headers(headers)
        access = await self._access("webhook_create")
        if access.scoped:  # a scoped key's webhooks are its pod's or inbox's, never the organization's
            access.ids(pods, "pod")
            access.ids(inboxes, "inbox")
            if owner.inbox_id is not None:
                await self._read(access.inbox, owner.inbox_id)
            else:
                owner = access.within(owner)
        await self._check_target(checked_url)
        ctx = await self._ctx()
        webhook = await ctx.db.write(
            webhooks.create_webhook,
            url=checked_url,
            event_types=types,
            pod_ids=pods,
            inbox_ids=inboxes,
            owner_pod_id=owner.pod_id,
            owner_inbox_id=owner.inbox_id,
            client_id=checked_client_id,
            headers=checked_headers,
            secret=new_secret(),
            now=ctx.clock.now(),
        )
        self._wake()
        return webhook

    async def _update(
        self,
        scope: Scope,
        webhook_id: object,
        *,
        add_pod_ids: object = None,
        remove_pod_ids: object = None,
        add_inbox_ids: object = None,
        remove_inbox_ids: object = None,
        event_types: object = None,
        enabled: object = None,
    ) -> Webhook:
        if enabled is not None and not isinstance(enabled, bool):
            raise ValidationError("enabled must be true or false", path=["enabled"])
        access = await self._access("webhook_update")
        scope = access.within(scope)
        access.ids(_ids(add_pod_ids, "add_pod_ids"), "pod")
        access.ids(_ids(add_inbox_ids, "add_inbox_ids"), "inbox")
        ctx = await self._ctx()
        webhook = await ctx.db.write(
            webhooks.update_webhook,
            check_id(webhook_id, "webhook_id"),
            scope=scope,
            add_pod_ids=_ids(add_pod_ids, "add_pod_ids"),
            remove_pod_ids=_ids(remove_pod_ids, "remove_pod_ids"),
            add_inbox_ids=_ids(add_inbox_ids, "add_inbox_ids"),
            remove_inbox_ids=_ids(remove_inbox_ids, "remove_inbox_ids"),
            event_types=_event_types(event_types, required=False),
            enabled=enabled,
            now=ctx.clock.now(),
        )
        self._wake()
        return webhook

    async def _list(
        self, scope: Scope, *, limit: int | None, page_token: str | None, ascending: bool | None
    ) -> ListWebhooksResponse:
        scope = await self._within(scope, "webhook_read")
        return await self._read(
            in_scope(webhooks.list_webhooks, scope),
            scope,
            limit=clamp_limit(limit),
            page_token=page_token,
            ascending=check_bool(ascending, "ascending"),
        )

    async def _get(self, scope: Scope, webhook_id: object) -> Webhook:
        scope = await self._within(scope, "webhook_read")
        return await self._read(webhooks.get_webhook, check_id(webhook_id, "webhook_id"), scope=scope)

    async def _delete(self, scope: Scope, webhook_id: object) -> None:
        scope = await self._within(scope, "webhook_delete")
        await self._write(webhooks.delete_webhook, check_id(webhook_id, "webhook_id"), scope=scope)


class Webhooks(_WebhookOperations):
    """Every webhook of the organization; ``create`` makes organization-wide ones."""

    async def list(
        self, *, limit: int | None = None, page_token: str | None = None, ascending: bool | None = None
    ) -> ListWebhooksResponse:
        """Webhooks of every scope, newest first."""
        return await self._list(Scope(), limit=limit, page_token=page_token, ascending=ascending)

    async def get(self, *, webhook_id: str) -> Webhook:
        return await self._get(Scope(), webhook_id)

    async def create(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        pod_ids: Sequence[str] | None = None,
        inbox_ids: Sequence[str] | None = None,
        client_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Webhook:
        """Call ``url`` with each event of ``event_types``: from the listed pods and inboxes (any of them),
        or from all when none is listed. The same ``client_id`` again returns the same webhook."""
        return await self._create(
            owner=Scope(),
            url=url,
            event_types=event_types,
            pod_ids=pod_ids,
            inbox_ids=inbox_ids,
            client_id=client_id,
            headers=headers,
        )

    async def update(
        self,
        *,
        webhook_id: str,
        add_pod_ids: Sequence[str] | None = None,
        remove_pod_ids: Sequence[str] | None = None,
        add_inbox_ids: Sequence[str] | None = None,
        remove_inbox_ids: Sequence[str] | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        """Change channels, replace the event types (when non-empty), or disable and re-enable (which
        resets its failure count; events of the disabled period are not delivered)."""
        return await self._update(
            Scope(),
            webhook_id,
            add_pod_ids=add_pod_ids,
            remove_pod_ids=remove_pod_ids,
            add_inbox_ids=add_inbox_ids,
            remove_inbox_ids=remove_inbox_ids,
            event_types=event_types,
            enabled=enabled,
        )

    async def delete(self, *, webhook_id: str) -> None:
        """Delete a webhook; deliveries not yet made are dropped."""
        await self._delete(Scope(), webhook_id)


class InboxWebhooks(_WebhookOperations):
    """Webhooks owned by one inbox: they receive that inbox's events only."""

    async def list(
        self, *, inbox_id: str, limit: int | None = None, page_token: str | None = None
    ) -> ListWebhooksResponse:
        scope = Scope(inbox_id=check_id(inbox_id, "inbox_id"))
        return await self._list(scope, limit=limit, page_token=page_token, ascending=False)

    async def get(self, *, inbox_id: str, webhook_id: str) -> Webhook:
        return await self._get(Scope(inbox_id=check_id(inbox_id, "inbox_id")), webhook_id)

    async def create(
        self,
        *,
        inbox_id: str,
        url: str,
        event_types: Sequence[str],
        client_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Webhook:
        return await self._create(
            owner=Scope(inbox_id=check_id(inbox_id, "inbox_id")),
            url=url,
            event_types=event_types,
            client_id=client_id,
            headers=headers,
        )

    async def update(
        self,
        *,
        inbox_id: str,
        webhook_id: str,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        scope = Scope(inbox_id=check_id(inbox_id, "inbox_id"))
        return await self._update(scope, webhook_id, event_types=event_types, enabled=enabled)

    async def delete(self, *, inbox_id: str, webhook_id: str) -> None:
        await self._delete(Scope(inbox_id=check_id(inbox_id, "inbox_id")), webhook_id)


class PodWebhooks(_WebhookOperations):
    """Webhooks owned by one pod: its events, optionally narrowed to some of its inboxes."""

    async def list(
        self, *, pod_id: str, limit: int | None = None, page_token: str | None = None
    ) -> ListWebhooksResponse:
        scope = Scope(pod_id=check_id(pod_id, "pod_id"))
        return await self._list(scope, limit=limit, page_token=page_token, ascending=False)

    async def get(self, *, pod_id: str, webhook_id: str) -> Webhook:
        return await self._get(Scope(pod_id=check_id(pod_id, "pod_id")), webhook_id)

    async def create(
        self,
        *,
        pod_id: str,
        url: str,
        event_types: Sequence[str],
        inbox_ids: Sequence[str] | None = None,
        client_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Webhook:
        return await self._create(
            owner=Scope(pod_id=check_id(pod_id, "pod_id")),
            url=url,
            event_types=event_types,
            inbox_ids=inbox_ids,
            client_id=client_id,
            headers=headers,
        )

    async def update(
        self,
        *,
        pod_id: str,
        webhook_id: str,
        add_inbox_ids: Sequence[str] | None = None,
        remove_inbox_ids: Sequence[str] | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        scope = Scope(pod_id=check_id(pod_id, "pod_id"))
        return await self._update(
            scope,
            webhook_id,
            add_inbox_ids=add_inbox_ids,
            remove_inbox_ids=remove_inbox_ids,
            event_types=event_types,
            enabled=enabled,
        )

    async def delete(self, *, pod_id: str, webhook_id: str) -> None:
        await self._delete(Scope(pod_id=check_id(pod_id, "pod_id")), webhook_id)
