"""Signed download links: ``download_url`` of attachments and raw messages is a URL that needs no
``Authorization`` header (as AgentMail's are), carrying what it serves and until when, signed with HMAC-SHA256.

The link is made after the request that asked for it was authorized, so it grants exactly that one item
until ``expires_at``, to whoever holds it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..client import AsyncAgentInbox
from ..errors import NotFoundError
from ..models import AttachmentResponse, RawMessageResponse
from .params import json_model
from .wire import AttachmentDownload, RawMessageDownload

__all__ = ["DownloadSigner", "router"]

#: How long a link works.
LINK_LIFETIME = 3600

router = APIRouter()

#: The one answer to a link that is forged, damaged, expired, or names what no longer exists.
_REFUSED = "this download link is invalid or has expired; ask for a new one"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DownloadSigner:
    """Makes and checks download tokens with one secret (random per server unless one is configured, so
    links of one server are honoured by every server sharing its ``download_signing_key``)."""

    def __init__(self, secret: str = "") -> None:
        key = secret.encode() if secret else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"agentinbox download links\0" + key).digest()

    def token(self, item: list[str], expires: int) -> str:
        payload = _b64(json.dumps([*item, expires], separators=(",", ":")).encode())
        signature = _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
        return f"{payload}.{signature}"

    def item(self, token: str, *, now: float) -> list[str]:
        """What ``token`` grants; NotFoundError when it is forged, damaged or expired (one answer for all)."""
        refused = NotFoundError(_REFUSED)
        payload, _, signature = token.partition(".")
        expected = _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
        if not signature or not hmac.compare_digest(signature, expected):
            raise refused
        try:
            *item, expires = json.loads(_unb64(payload))
        except (ValueError, TypeError, binascii.Error):
            raise refused from None
        if not isinstance(expires, int) or expires <= now or not all(isinstance(p, str) for p in item):
            raise refused
        return item

    def link(self, request: Request, item: list[str]) -> tuple[str, datetime]:
        expires = int(time.time()) + LINK_LIFETIME
        url = str(request.base_url).rstrip("/") + "/v0/downloads?token=" + quote(self.token(item, expires))
        return url, datetime.fromtimestamp(expires, UTC)


def attachment_download(request: Request, item: list[str], found: AttachmentResponse) -> Response:
    """An AttachmentResponse on the wire: the metadata, and a signed link instead of the bytes."""
    signer: DownloadSigner = request.app.state.downloads
    url, expires_at = signer.link(request, item)
    metadata = found.model_dump(exclude={"content"})
    return json_model(AttachmentDownload(**metadata, download_url=url, expires_at=expires_at))


def raw_download(request: Request, item: list[str], found: RawMessageResponse) -> Response:
    signer: DownloadSigner = request.app.state.downloads
    url, expires_at = signer.link(request, item)
    return json_model(
        RawMessageDownload(
            message_id=found.message_id, size=found.size, download_url=url, expires_at=expires_at
        )
    )


async def _fetch(client: AsyncAgentInbox, item: list[str]) -> tuple[bytes, str, str]:
    """The bytes, content type and file name behind a granted item."""
    kind, *ids = item
    found: Any
    if kind == "raw" and len(ids) == 2:
        raw = await client.inboxes.messages.get_raw(inbox_id=ids[0], message_id=ids[1])
        return raw.content, "message/rfc822", "message.eml"
    if kind == "message" and len(ids) == 3:
        found = await client.inboxes.messages.get_attachment(
            inbox_id=ids[0], message_id=ids[1], attachment_id=ids[2]
        )
    elif kind == "thread" and len(ids) == 2:
        found = await client.threads.get_attachment(thread_id=ids[0], attachment_id=ids[1])
    elif kind == "draft" and len(ids) == 2:
        found = await client.drafts.get_attachment(draft_id=ids[0], attachment_id=ids[1])
    else:
        raise NotFoundError(_REFUSED)
    return found.content, found.content_type or "application/octet-stream", found.filename or "attachment"


@router.get("/v0/downloads", include_in_schema=False)
async def download(request: Request, token: Annotated[str, Query(max_length=4096)]) -> Response:
    """The bytes a signed link grants, without an Authorization header."""
    signer: DownloadSigner = request.app.state.downloads
    item = signer.item(token, now=time.time())
    client: AsyncAgentInbox = request.app.state.client
    content, content_type, filename = await _fetch(client, item)
    disposition = "attachment; filename*=UTF-8''" + quote(filename, safe="")
    return Response(content, media_type=content_type, headers={"Content-Disposition": disposition})
