"""Response models of the HTTP API that differ from the library's: over the network an attachment or a
raw message is a signed ``download_url`` (with ``expires_at``) instead of the bytes themselves."""

from __future__ import annotations

from datetime import datetime

from ..models import Attachment, Model

__all__ = ["AttachmentDownload", "RawMessageDownload"]


class AttachmentDownload(Attachment):
    """AgentMail's ``AttachmentResponse``: the attachment's metadata and a link to its bytes."""

    download_url: str
    expires_at: datetime


class RawMessageDownload(Model):
    """AgentMail's ``RawMessageResponse``: a link to the message's original bytes (an .eml file)."""

    message_id: str
    size: int
    download_url: str
    expires_at: datetime
