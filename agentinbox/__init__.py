"""agentinbox: email for AI agents as an embeddable library.

``AgentInbox`` (blocking) and ``AsyncAgentInbox`` give a program real inboxes with real addresses in its own
process; the namespaces and models follow AgentMail's, so code written for it ports by changing one import.
"""

from __future__ import annotations

from ._types import OMIT
from .client import AgentInbox, AsyncAgentInbox
from .errors import (
    AgentInboxError,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    MessageRejectedError,
    NotFoundError,
    RateLimitError,
    UnprocessableError,
    ValidationError,
    WaitTimeoutError,
)
from .models import (
    ApiKeyPermissions,
    Attachment,
    AttachmentResponse,
    BearerApiKey,
    CreateApiKeyResponse,
    Domain,
    DomainItem,
    Draft,
    DraftItem,
    FailedEvent,
    Inbox,
    Message,
    MessageItem,
    MessageReceivedEvent,
    Pod,
    RawMessageResponse,
    SendMessageResponse,
    Thread,
    ThreadItem,
    UpdateMessageResponse,
    UpdateThreadResponse,
    VerificationRecord,
    Webhook,
)
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "OMIT",
    "AgentInbox",
    "AgentInboxError",
    "ApiKeyPermissions",
    "AsyncAgentInbox",
    "Attachment",
    "AttachmentResponse",
    "AuthenticationError",
    "BearerApiKey",
    "ConflictError",
    "CreateApiKeyResponse",
    "Domain",
    "DomainItem",
    "Draft",
    "DraftItem",
    "FailedEvent",
    "ForbiddenError",
    "Inbox",
    "Message",
    "MessageItem",
    "MessageReceivedEvent",
    "MessageRejectedError",
    "NotFoundError",
    "Pod",
    "RateLimitError",
    "RawMessageResponse",
    "SendMessageResponse",
    "Settings",
    "Thread",
    "ThreadItem",
    "UnprocessableError",
    "UpdateMessageResponse",
    "UpdateThreadResponse",
    "ValidationError",
    "VerificationRecord",
    "WaitTimeoutError",
    "Webhook",
    "__version__",
]
