"""Result models, with AgentMail's field names (``from`` is ``from_`` in Python, ``from`` in JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiKeyPermissions",
    "Attachment",
    "AttachmentResponse",
    "Authentication",
    "BatchGetMessagesResponse",
    "BatchUpdateMessagesResponse",
    "BearerApiKey",
    "BounceRecipient",
    "CreateApiKeyResponse",
    "Domain",
    "DomainItem",
    "DomainVerifiedEvent",
    "Draft",
    "DraftItem",
    "Event",
    "EventBounce",
    "EventComplaint",
    "EventReceipt",
    "EventReject",
    "FailedEvent",
    "ForwardedMessage",
    "Identity",
    "Inbox",
    "ListApiKeysResponse",
    "ListDomainsResponse",
    "ListDraftsResponse",
    "ListEntry",
    "ListInboxesResponse",
    "ListListEntriesResponse",
    "ListMessagesResponse",
    "ListPodsResponse",
    "ListThreadsResponse",
    "ListWebhooksResponse",
    "Message",
    "MessageBouncedEvent",
    "MessageComplainedEvent",
    "MessageDeliveredEvent",
    "MessageItem",
    "MessageReceivedEvent",
    "MessageRejectedEvent",
    "MessageSentEvent",
    "Pod",
    "PodListEntry",
    "PodListListEntriesResponse",
    "RawMessageResponse",
    "SearchHighlights",
    "SearchMessagesResponse",
    "SearchThreadsResponse",
    "SendMessageResponse",
    "SpamCheck",
    "Thread",
    "ThreadItem",
    "UpdateMessageResponse",
    "UpdateThreadResponse",
    "VerificationRecord",
    "VirusCheck",
    "VirusFinding",
    "Webhook",
]


class Model(BaseModel):
    """Base of every result: serialises by alias (``from``) and leaves unset optional fields out."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Pod(Model):
    pod_id: str
    name: str
    client_id: str | None = None
    updated_at: datetime
    created_at: datetime


class Inbox(Model):
    pod_id: str
    inbox_id: str
    email: str
    display_name: str | None = None
    client_id: str | None = None
    status: Literal["active", "paused"] | None = None
    metadata: dict[str, str | int | float | bool] | None = None
    updated_at: datetime
    created_at: datetime


class Attachment(Model):
    attachment_id: str
    size: int
    filename: str | None = None
    content_type: str | None = None
    content_disposition: Literal["inline", "attachment"] | None = None
    content_id: str | None = None


class AttachmentResponse(Attachment):
    """An attachment's metadata and, in-process, its bytes (``content``)."""

    content: bytes = Field(repr=False)


class RawMessageResponse(Model):
    """A message's original bytes as received or sent, byte for byte."""

    message_id: str
    size: int
    content: bytes = Field(repr=False)


class MessageItem(Model):
    inbox_id: str
    thread_id: str
    message_id: str
    labels: list[str]
    timestamp: datetime
    from_: str = Field(alias="from")
    to: list[str]
    cc: list[str] | None = None
    bcc: list[str] | None = None
    subject: str | None = None
    preview: str | None = None
    attachments: list[Attachment] | None = None
    in_reply_to: str | None = None
    references: list[str] | None = None
    headers: dict[str, str] | None = None
    size: int
    updated_at: datetime
    created_at: datetime


class Authentication(Model):
    """What SPF, DKIM and DMARC said about a received message (RFC 8601 result words), and the
    ``Authentication-Results`` header value recorded on it."""

    #: pass, fail, softfail, neutral, none, temperror or permerror.
    spf: str
    #: The domain SPF vouched for or not: the envelope sender's, else the HELO name's.
    spf_domain: str | None = None
    #: pass when a signature verified, fail when all failed, none when unsigned (or temperror/permerror).
    dkim: str
    #: The ``d=`` domains of the signatures that verified.
    dkim_domains: list[str] = Field(default_factory=list)
    #: pass, fail, none (no policy published), temperror or permerror.
    dmarc: str
    #: The policy the From domain publishes (none, quarantine or reject), when it publishes one.
    dmarc_policy: str | None = None
    #: The domain of the From header, whose policy DMARC applied.
    from_domain: str | None = None
    #: The ``Authentication-Results`` header value prepended to the stored message.
    header: str
    #: Why the check could not run to the end, when it could not (its results are then temperror).
    error: str | None = None


class SpamCheck(Model):
    """The spam scanner's verdict on a received message."""

    #: Which scanner judged: ``builtin``, ``spamd`` or ``rspamd``.
    scanner: str
    spam: bool
    score: float
    #: The score at or above which a message counts as spam.
    threshold: float
    #: The rules (or symbols) that matched.
    rules: list[str] = Field(default_factory=list)
    #: Why the scanner could not judge, when it could not (the message is then not labelled spam).
    error: str | None = None


class VirusFinding(Model):
    """One reason a received message counts as infected."""

    #: The signature or rule name, e.g. ``Eicar-Test-Signature`` or ``executable``.
    name: str
    #: What was found, in words.
    reason: str
    #: The attachment it was found in, or None for the message as a whole.
    attachment_id: str | None = None
    filename: str | None = None


class VirusCheck(Model):
    """The virus scanner's verdict on a received message; an infected one's attachments are withheld."""

    scanner: str
    infected: bool
    findings: list[VirusFinding] = Field(default_factory=list)
    #: Why the scanner could not judge, when it could not.
    error: str | None = None


class ForwardedMessage(Model):
    """A message forwarded inside a received one, read out of the forward block: its header fields as they
    were shown, and its text."""

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    cc: str | None = None
    date: str | None = None
    subject: str | None = None
    #: The forwarded message's body, without the header block.
    text: str


class Message(MessageItem):
    reply_to: list[str] | None = None
    text: str | None = None
    html: str | None = None
    extracted_text: str | None = None
    extracted_html: str | None = None
    #: The signature at the end of the new content ("-- " block, "Sent from my iPhone", a sign-off and name),
    #: as reply extraction found it; ``extracted_text`` still ends with it.
    signature: str | None = None
    #: The message this one forwards, when it forwards one (``extracted_text`` still holds it, after the
    #: forward note that is the new content).
    forwarded: ForwardedMessage | None = None
    #: Received mail only: the authentication, spam and virus checks it went through (None when not run).
    authentication: Authentication | None = None
    spam: SpamCheck | None = None
    virus: VirusCheck | None = None


class SearchHighlights(Model):
    """Search fragments with the matched words wrapped in ``**``."""

    from_: list[str] | None = Field(default=None, alias="from")
    recipients: list[str] | None = None
    subject: list[str] | None = None
    text: list[str] | None = None


class MessageSearchItem(MessageItem):
    highlights: SearchHighlights | None = None


class ThreadItem(Model):
    inbox_id: str
    thread_id: str
    labels: list[str]
    timestamp: datetime
    received_timestamp: datetime | None = None
    sent_timestamp: datetime | None = None
    senders: list[str]
    recipients: list[str]
    subject: str | None = None
    preview: str | None = None
    attachments: list[Attachment] | None = None
    last_message_id: str
    message_count: int
    size: int
    updated_at: datetime
    created_at: datetime


class ThreadSearchItem(ThreadItem):
    highlights: SearchHighlights | None = None


class Thread(ThreadItem):
    """A thread with one page of its messages: the newest page first, ascending inside the page."""

    count: int
    limit: int | None = None
    next_page_token: str | None = None
    messages: list[Message]


class DraftItem(Model):
    inbox_id: str
    draft_id: str
    labels: list[str]
    to: list[str] | None = None
    cc: list[str] | None = None
    bcc: list[str] | None = None
    subject: str | None = None
    preview: str | None = None
    attachments: list[Attachment] | None = None
    in_reply_to: str | None = None
    forward_of: str | None = None
    send_status: Literal["scheduled", "sending", "failed"] | None = None
    send_at: datetime | None = None
    #: Why a scheduled send failed (``send_status`` ``failed``); an addition to the reference's model.
    send_error: str | None = None
    updated_at: datetime


class Draft(DraftItem):
    client_id: str | None = None
    reply_to: list[str] | None = None
    text: str | None = None
    html: str | None = None
    references: list[str] | None = None
    created_at: datetime


class SendMessageResponse(Model):
    message_id: str
    thread_id: str


class UpdateMessageResponse(Model):
    message_id: str
    labels: list[str]


class UpdateThreadResponse(Model):
    thread_id: str
    labels: list[str]


class _Page(Model):
    count: int
    limit: int | None = None
    next_page_token: str | None = None


class ListPodsResponse(_Page):
    pods: list[Pod]


class ListInboxesResponse(_Page):
    inboxes: list[Inbox]


class ListMessagesResponse(_Page):
    messages: list[MessageItem]


class SearchMessagesResponse(_Page):
    messages: list[MessageSearchItem]


class ListThreadsResponse(_Page):
    threads: list[ThreadItem]


class SearchThreadsResponse(_Page):
    threads: list[ThreadSearchItem]


class ListDraftsResponse(_Page):
    drafts: list[DraftItem]


class BatchGetMessagesResponse(_Page):
    messages: list[Message]


class BatchUpdateMessagesResponse(_Page):
    updates: list[UpdateMessageResponse]


class ApiKeyPermissions(Model):
    """What an API key may do; a key without permissions may do everything, otherwise only what is true.

    Unknown names are refused, so a misspelt permission is an error rather than a silent grant or denial.
    """

    model_config = ConfigDict(extra="forbid")

    inbox_read: bool | None = None
    inbox_create: bool | None = None
    inbox_update: bool | None = None
    inbox_delete: bool | None = None
    message_read: bool | None = None
    message_reply: bool | None = None
    message_send: bool | None = None
    message_update: bool | None = None
    message_delete: bool | None = None
    agent_armor_release: bool | None = None
    label_spam_read: bool | None = None
    label_blocked_read: bool | None = None
    label_unauthenticated_read: bool | None = None
    label_trash_read: bool | None = None
    draft_read: bool | None = None
    draft_create: bool | None = None
    draft_update: bool | None = None
    draft_delete: bool | None = None
    draft_send: bool | None = None
    webhook_read: bool | None = None
    webhook_create: bool | None = None
    webhook_update: bool | None = None
    webhook_delete: bool | None = None
    domain_read: bool | None = None
    domain_create: bool | None = None
    domain_update: bool | None = None
    domain_delete: bool | None = None
    list_entry_read: bool | None = None
    list_entry_create: bool | None = None
    list_entry_delete: bool | None = None
    metrics_read: bool | None = None
    api_key_read: bool | None = None
    api_key_create: bool | None = None
    api_key_update: bool | None = None
    api_key_delete: bool | None = None
    app_connect: bool | None = None
    app_share_owner: bool | None = None
    account_update: bool | None = None
    pod_read: bool | None = None
    pod_create: bool | None = None
    pod_update: bool | None = None
    pod_delete: bool | None = None
    calendar_read: bool | None = None
    calendar_update: bool | None = None
    calendar_event_read: bool | None = None
    calendar_event_create: bool | None = None
    calendar_event_update: bool | None = None
    calendar_event_delete: bool | None = None
    file_read: bool | None = None
    file_create: bool | None = None
    file_update: bool | None = None
    file_delete: bool | None = None


class BearerApiKey(Model):
    """An API key as listed: never its secret, which is shown once, by ``create``."""

    type: Literal["bearer"] = "bearer"
    api_key_id: str
    prefix: str
    name: str
    pod_id: str | None = None
    inbox_id: str | None = None
    used_at: datetime | None = None
    permissions: ApiKeyPermissions | None = None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None


class CreateApiKeyResponse(Model):
    """A new API key with its secret ``api_key``, the only time the secret is shown."""

    api_key_id: str
    api_key: str
    prefix: str
    name: str
    pod_id: str | None = None
    inbox_id: str | None = None
    permissions: ApiKeyPermissions | None = None
    created_at: datetime
    expires_at: datetime | None = None


class ListApiKeysResponse(_Page):
    api_keys: list[BearerApiKey]


class Identity(Model):
    """Who a client acts as (``GET /v0/auth/me``): the scope of its API key and the key's id."""

    scope_type: Literal["organization", "pod", "inbox"]
    scope_id: str
    organization_id: str
    pod_id: str | None = None
    inbox_id: str | None = None
    api_key_id: str | None = None


class Webhook(Model):
    """A webhook endpoint (reference §9.1). ``pod_ids``/``inbox_ids`` are the channels it receives from,
    ``pod_id``/``inbox_id`` its owner when it is pod- or inbox-scoped; ``secret`` verifies its calls."""

    webhook_id: str
    url: str
    event_types: list[str] | None = None
    pod_ids: list[str] | None = None
    inbox_ids: list[str] | None = None
    pod_id: str | None = None
    inbox_id: str | None = None
    secret: str
    enabled: bool
    client_id: str | None = None
    updated_at: datetime
    created_at: datetime


class ListWebhooksResponse(_Page):
    webhooks: list[Webhook]


class VerificationRecord(Model):
    """One DNS record a custom domain needs; ``name`` is relative to the domain (``@`` is the domain itself)."""

    type: Literal["TXT", "CNAME", "MX"]
    name: str
    value: str
    status: Literal["MISSING", "INVALID", "VALID"]
    priority: int | None = None
    reason: Literal["duplicate_records", "value_mismatch"] | None = None


class DomainItem(Model):
    """A custom domain as lists show it (without status and records)."""

    pod_id: str | None = None
    domain_id: str
    domain: str
    feedback_enabled: bool
    inbound_enabled: bool | None = None
    subdomains_enabled: bool
    tracking_enabled: bool
    client_id: str | None = None
    updated_at: datetime
    created_at: datetime


class Domain(DomainItem):
    """A custom domain with its verification status and the DNS records it needs."""

    status: Literal["NOT_STARTED", "PENDING", "INVALID", "FAILED", "VERIFYING", "VERIFIED"]
    reason: str | None = None
    records: list[VerificationRecord]


class ListDomainsResponse(_Page):
    domains: list[DomainItem]


class ListEntry(Model):
    """An organization-wide allow/block list entry (reference §7): an address (``entry_type="email"``) or
    a domain (``"domain"``) on one of the six lists, ``direction`` × ``list_type``."""

    entry: str
    organization_id: str
    reason: str | None = None
    direction: Literal["send", "receive", "reply"]
    list_type: Literal["allow", "block"]
    entry_type: Literal["email", "domain"]
    created_at: datetime
    read_only: bool | None = None


class PodListEntry(ListEntry):
    """A pod- or inbox-scoped list entry; ``inbox_id`` is set for inbox-scoped ones."""

    pod_id: str
    inbox_id: str | None = None


class ListListEntriesResponse(_Page):
    entries: list[ListEntry]


class PodListListEntriesResponse(_Page):
    entries: list[PodListEntry]


# Events (reference §9.3): the same JSON for in-process hooks, webhook bodies and websocket frames.


class EventReceipt(Model):
    """The ``send`` of ``message.sent`` and the ``delivery`` of ``message.delivered``."""

    inbox_id: str
    thread_id: str
    message_id: str
    timestamp: datetime
    recipients: list[str]


class BounceRecipient(Model):
    address: str
    status: str
    #: Not in the reference: the remote server's reply or the DSN's diagnostic, when known.
    diagnostic: str | None = None


class EventBounce(Model):
    """The ``bounce`` of ``message.bounced``."""

    inbox_id: str
    thread_id: str
    message_id: str
    timestamp: datetime
    type: str
    sub_type: str
    recipients: list[BounceRecipient]


class EventComplaint(Model):
    """The ``complaint`` of ``message.complained``: a recipient reported the message (an ARF feedback report)."""

    inbox_id: str
    thread_id: str
    message_id: str
    timestamp: datetime
    type: str
    sub_type: str
    recipients: list[str]


class EventReject(Model):
    """The ``reject`` of ``message.rejected``: the receiving server refused the message as a whole."""

    inbox_id: str
    thread_id: str
    message_id: str
    timestamp: datetime
    reason: str


class _EventBase(Model):
    type: Literal["event"] = "event"
    event_id: str


class MessageReceivedEvent(_EventBase):
    event_type: Literal[
        "message.received",
        "message.received.spam",
        "message.received.blocked",
        "message.received.unauthenticated",
    ]
    message: Message
    thread: ThreadItem


class MessageSentEvent(_EventBase):
    event_type: Literal["message.sent"]
    send: EventReceipt


class MessageDeliveredEvent(_EventBase):
    event_type: Literal["message.delivered"]
    delivery: EventReceipt


class MessageBouncedEvent(_EventBase):
    event_type: Literal["message.bounced"]
    bounce: EventBounce


class MessageComplainedEvent(_EventBase):
    event_type: Literal["message.complained"]
    complaint: EventComplaint


class MessageRejectedEvent(_EventBase):
    event_type: Literal["message.rejected"]
    reject: EventReject


class DomainVerifiedEvent(_EventBase):
    event_type: Literal["domain.verified"]
    domain: Domain


#: Any event, told apart by ``event_type``.
Event = Annotated[
    MessageReceivedEvent
    | MessageSentEvent
    | MessageDeliveredEvent
    | MessageBouncedEvent
    | MessageComplainedEvent
    | MessageRejectedEvent
    | DomainVerifiedEvent,
    Field(discriminator="event_type"),
]


class FailedEvent(Model):
    """An event a durable consumer group set aside after its handler failed on it ``attempts`` times
    (``client.events.failed``); ``client.events.replay`` runs it again."""

    group: str
    event: Event
    attempts: int
    last_error: str | None = None
    failed_at: datetime
