"""``client.pods``: tenants, each with its own inboxes, threads, drafts and domains."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ValidationError
from ..models import ListPodsResponse, Pod
from ..store import pods
from ..store.pagination import clamp_limit
from ._base import Resource, check_bool, check_client_id, check_id, no_control_characters
from .api_keys import PodApiKeys
from .domains import PodDomains
from .drafts import PodDrafts
from .inboxes import PodInboxes
from .lists import PodLists
from .threads import PodThreads
from .webhooks import PodWebhooks

if TYPE_CHECKING:
    from ..client import AsyncAgentInbox

__all__ = ["Pods"]


class Pods(Resource):
    """Pods of the organization; every engine also has a default pod."""

    def __init__(self, client: AsyncAgentInbox) -> None:
        super().__init__(client)
        self.inboxes = PodInboxes(client)
        self.threads = PodThreads(client)
        self.drafts = PodDrafts(client)
        self.api_keys = PodApiKeys(client)
        self.webhooks = PodWebhooks(client)
        self.lists = PodLists(client)
        self.domains = PodDomains(client)

    async def create(self, *, name: str | None = None, client_id: str | None = None) -> Pod:
        """Create a pod; the same ``client_id`` again returns the pod it created the first time."""
        if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 256):
            raise ValidationError("name must be a non-empty string of at most 256 characters", path=["name"])
        if name is not None:
            no_control_characters(name, "name")
        client_id = check_client_id(client_id)
        (await self._access("pod_create")).organization_only("creating pods")
        ctx = await self._ctx()
        return await ctx.db.write(pods.create_pod, name=name, client_id=client_id, now=ctx.clock.now())

    async def list(
        self, *, limit: int | None = None, page_token: str | None = None, ascending: bool | None = None
    ) -> ListPodsResponse:
        """Pods, newest first; a pod's or inbox's key sees its own pod only."""
        size, order = clamp_limit(limit), check_bool(ascending, "ascending")
        access = await self._access("pod_read")
        if access.scoped:
            assert access.scope.pod_id is not None
            pod = await self._read(pods.get_pod, access.scope.pod_id)
            return ListPodsResponse(count=1, limit=size, pods=[pod])
        return await self._read(pods.list_pods, limit=size, page_token=page_token, ascending=order)

    async def get(self, *, pod_id: str) -> Pod:
        pod_id = check_id(pod_id, "pod_id")
        (await self._access("pod_read")).pod(pod_id)
        return await self._read(pods.get_pod, pod_id)

    async def delete(self, *, pod_id: str) -> None:
        """Delete an empty pod (one without inboxes or domains)."""
        pod_id = check_id(pod_id, "pod_id")
        access = await self._access("pod_delete")
        access.pod(pod_id)
        access.organization_only("deleting pods")
        await self._write(pods.delete_pod, pod_id)
