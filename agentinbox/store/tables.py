"""The schema, as SQLAlchemy Core tables. Times are integer microseconds since the epoch (UTC).

Bodies, raw messages and attachment contents live outside the rows that lists read: ``message_bodies`` and
``blobs`` (compressed, keyed by SHA-256 so a message delivered to two inboxes is stored once).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "api_keys",
    "blobs",
    "consumer_failures",
    "consumer_groups",
    "deliveries",
    "domain_keys",
    "domains",
    "drafts",
    "events",
    "idempotency_keys",
    "inbound_queue",
    "inboxes",
    "list_entries",
    "message_bodies",
    "message_labels",
    "messages",
    "metadata",
    "pods",
    "thread_labels",
    "thread_refs",
    "threads",
    "webhook_attempts",
    "webhook_deliveries",
    "webhooks",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Time = BigInteger
# SQLite only makes a 64-bit rowid alias out of INTEGER PRIMARY KEY, so BigInteger keys fall back to it there.
Id = BigInteger().with_variant(Integer(), "sqlite")

pods = Table(
    "pods",
    metadata,
    Column("pod_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("client_id", String(256), unique=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_pods_created", "created_at", "pod_id"),
)

inboxes = Table(
    "inboxes",
    metadata,
    Column("inbox_id", String(320), primary_key=True),
    Column("pod_id", String(64), ForeignKey("pods.pod_id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("display_name", String(256)),
    Column("client_id", String(256), unique=True),
    Column("status", String(16), nullable=False, default="active"),
    Column("metadata", JSON),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_inboxes_created", "created_at", "inbox_id"),
    Index("ix_inboxes_pod_created", "pod_id", "created_at", "inbox_id"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("compressed", Boolean, nullable=False),
    Column("refs", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

threads = Table(
    "threads",
    metadata,
    Column("thread_id", String(64), primary_key=True),
    Column("inbox_id", String(320), ForeignKey("inboxes.inbox_id", ondelete="CASCADE"), nullable=False),
    Column("pod_id", String(64), nullable=False),
    Column("subject", Text),
    Column("subject_key", String(512), nullable=False, default=""),
    Column("senders", JSON, nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("preview", Text),
    Column("attachments", JSON),
    Column("last_message_id", String(1000), nullable=False),
    Column("message_count", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("timestamp", Time, nullable=False),
    Column("received_timestamp", Time),
    Column("sent_timestamp", Time),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_threads_inbox_ts", "inbox_id", "timestamp", "thread_id"),
    Index("ix_threads_pod_ts", "pod_id", "timestamp", "thread_id"),
    Index("ix_threads_ts", "timestamp", "thread_id"),
    Index("ix_threads_subject", "inbox_id", "subject_key"),
)

# A thread's labels are the union of its messages' labels; ``count`` says how many messages carry each.
thread_labels = Table(
    "thread_labels",
    metadata,
    Column("thread_id", String(64), ForeignKey("threads.thread_id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(256), primary_key=True),
    Column("count", Integer, nullable=False),
    Index("ix_thread_labels_label", "label", "thread_id"),
)

# Every Message-ID seen in an inbox (sent, referenced or not yet arrived) and the thread it belongs to.
thread_refs = Table(
    "thread_refs",
    metadata,
    Column("inbox_id", String(320), ForeignKey("inboxes.inbox_id", ondelete="CASCADE"), primary_key=True),
    Column("ref", String(1000), primary_key=True),
    Column("thread_id", String(64), ForeignKey("threads.thread_id", ondelete="CASCADE"), nullable=False),
    Index("ix_thread_refs_thread", "thread_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("inbox_id", String(320), ForeignKey("inboxes.inbox_id", ondelete="CASCADE"), nullable=False),
    Column("pod_id", String(64), nullable=False),
    Column("thread_id", String(64), ForeignKey("threads.thread_id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(1000), nullable=False),
    Column("rfc_message_id", Text),
    Column("direction", String(8), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("from_", Text, nullable=False),
    Column("to", JSON, nullable=False),
    Column("cc", JSON),
    Column("bcc", JSON),
    Column("reply_to", JSON),
    Column("subject", Text),
    Column("preview", Text),
    Column("in_reply_to", Text),
    Column("references", JSON),
    Column("headers", JSON),
    Column("attachments", JSON),
    Column("size", BigInteger, nullable=False),
    Column("raw_sha256", String(64), nullable=False),
    Column("timestamp", Time, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    # Received mail: {"authentication": …, "spam": …, "virus": …}, the checks it went through.
    Column("checks", JSON),
    UniqueConstraint("inbox_id", "message_id", name="uq_messages_inbox_message"),
    Index("ix_messages_inbox_ts", "inbox_id", "timestamp", "id"),
    Index("ix_messages_thread_ts", "thread_id", "timestamp", "id"),
)

message_labels = Table(
    "message_labels",
    metadata,
    Column("message_pk", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(256), primary_key=True),
    Index("ix_message_labels_label", "label", "message_pk"),
)

message_bodies = Table(
    "message_bodies",
    metadata,
    Column("message_pk", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("text", Text),
    Column("html", Text),
    Column("extracted_text", Text),
    Column("extracted_html", Text),
    Column("signature", Text),
    # The message a received message forwards, as reply extraction read it out (ForwardedMessage fields).
    Column("forwarded", JSON),
)

drafts = Table(
    "drafts",
    metadata,
    Column("draft_id", String(64), primary_key=True),
    Column("inbox_id", String(320), ForeignKey("inboxes.inbox_id", ondelete="CASCADE"), nullable=False),
    Column("pod_id", String(64), nullable=False),
    Column("client_id", String(256)),
    Column("labels", JSON, nullable=False),
    Column("reply_to", JSON),
    Column("to", JSON),
    Column("cc", JSON),
    Column("bcc", JSON),
    Column("subject", Text),
    Column("text", Text),
    Column("html", Text),
    Column("attachments", JSON),
    Column("in_reply_to", String(1000)),
    Column("forward_of", String(1000)),
    Column("references", JSON),
    Column("reply_all", Boolean, nullable=False, default=False),
    Column("send_status", String(16)),
    Column("send_at", Time),
    Column("send_lease_until", Time),  # a scheduler's claim on a draft it is sending expires then
    Column("send_error", Text),  # why a scheduled send failed
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    UniqueConstraint("inbox_id", "client_id", name="uq_drafts_inbox_client"),
    Index("ix_drafts_inbox_updated", "inbox_id", "updated_at", "draft_id"),
    Index("ix_drafts_pod_updated", "pod_id", "updated_at", "draft_id"),
    Index("ix_drafts_updated", "updated_at", "draft_id"),
    Index("ix_drafts_send_at", "send_at"),
)

# One row per remote recipient of a sent message; SMTP delivery workers work through the pending ones.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_pk", Id, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Time, nullable=False),
    Column("last_error", Text),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_message", "message_pk"),
    sqlite_autoincrement=True,  # ids are never reused (migration 0004)
)

# Idempotency keys of sends: the request's fingerprint and the response it got.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_idempotency_created", "created_at"),
)

# The transactional outbox: written in the same transaction as the change each event reports.
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("pod_id", String(64)),
    Column("inbox_id", String(320)),
    Column("thread_id", String(64)),
    Column("message_id", String(1000)),
    Column("payload", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_events_created", "created_at"),
    sqlite_autoincrement=True,
)

# Mail accepted over SMTP and not yet processed: committed before the 250 reply, deleted in the transaction
# that stores the message, so what was acknowledged is never lost and never stored twice.
inbound_queue = Table(
    "inbound_queue",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("raw_sha256", String(64), nullable=False),
    Column("mail_from", Text),
    Column("rcpt_to", JSON, nullable=False),
    Column("received_at", Time, nullable=False),
    # The SMTP client that handed the message over (its address and HELO name), for SPF.
    Column("client_ip", String(64)),
    Column("helo", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Time, nullable=False),
    Column("last_error", Text),
    Index("ix_inbound_queue_due", "next_attempt_at", "id"),
    sqlite_autoincrement=True,  # ids are never reused (migration 0004)
)


# Custom domains (full management is the domains resource); ``records`` caches the DNS records last checked.
domains = Table(
    "domains",
    metadata,
    Column("domain_id", String(253), primary_key=True),
    Column("pod_id", String(64)),
    Column("client_id", String(256), unique=True),
    Column("status", String(16), nullable=False),
    Column("reason", String(64)),
    Column("feedback_enabled", Boolean, nullable=False),
    Column("inbound_enabled", Boolean, nullable=False),
    Column("subdomains_enabled", Boolean, nullable=False),
    Column("tracking_enabled", Boolean, nullable=False),
    Column("records", JSON),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    # When the domain first became VERIFIED: its sending warm-up counts days from then.
    Column("verified_at", Time),
    Index("ix_domains_created", "created_at", "domain_id"),
)

# DKIM keys of a domain (PEM); the active one signs, retired ones stay published until removed.
domain_keys = Table(
    "domain_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("domain_id", String(253), ForeignKey("domains.domain_id", ondelete="CASCADE"), nullable=False),
    Column("selector", String(63), nullable=False),
    Column("private_key", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("domain_id", "selector", name="uq_domain_keys_domain_selector"),
)

# API keys, stored as a lookup prefix and a hash of the secret; scoped to the organization, a pod or an inbox.
api_keys = Table(
    "api_keys",
    metadata,
    Column("api_key_id", String(64), primary_key=True),
    Column("name", Text),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    Column("pod_id", String(64)),
    Column("inbox_id", String(320)),
    #: Granted permissions (ApiKeyPermissions' true/false fields); NULL grants everything.
    Column("permissions", JSON),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("expires_at", Time),
    Column("used_at", Time),
    Index("ix_api_keys_created", "created_at", "api_key_id"),
)

# Webhook endpoints (reference §9.1). ``pod_ids``/``inbox_ids`` are the channels it receives from, ``pod_id``/
# ``inbox_id`` its owner; ``headers`` are custom delivery headers (write-only); ``failures`` counts the
# consecutive failed deliveries that disable it.
webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", JSON),
    Column("pod_ids", JSON),
    Column("inbox_ids", JSON),
    Column("pod_id", String(64)),
    Column("inbox_id", String(320)),
    Column("secret", String(128), nullable=False),
    Column("headers", JSON),
    Column("enabled", Boolean, nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("client_id", String(256), unique=True),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_webhooks_created", "created_at", "webhook_id"),
)

# One row per (webhook, event) to deliver, written in the transaction that appends the event; dispatchers
# claim due rows (``sending`` with a lease) and end them ``succeeded`` or ``failed``.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("webhook_id", String(64), ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), nullable=False),
    Column("event_pk", Id, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Time, nullable=False),
    Column("lease_until", Time),
    Column("last_error", Text),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    sqlite_autoincrement=True,
)

# Each HTTP attempt of a webhook delivery: when, the response status (None when there was none) and why it
# failed.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempted_at", Time, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer),
    Index("ix_webhook_attempts_delivery", "delivery_id", "id"),
    sqlite_autoincrement=True,
)

# Durable consumer groups: the last acknowledged event id, and which process holds the group (a lease).
consumer_groups = Table(
    "consumer_groups",
    metadata,
    Column("group", String(200), primary_key=True),
    Column("cursor", Id, nullable=False),
    Column("owner", String(200)),
    Column("lease_until", Time),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

# Events a consumer group set aside after its handler failed on them too often; listed and replayed by id.
consumer_failures = Table(
    "consumer_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("group", String(200), ForeignKey("consumer_groups.group", ondelete="CASCADE"), nullable=False),
    Column("event_pk", Id, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("failed_at", Time, nullable=False),
    Column("replay_at", Time),  # set by a replay request; the group's consumer runs the event again
    UniqueConstraint("group", "event_pk", name="uq_consumer_failures_group_event"),
    sqlite_autoincrement=True,
)

# Allow/block list entries (reference §7). ``scope`` is "org", "pod:<pod_id>" or "inbox:<inbox_id>", so one
# entry exists once per list; ``pod_id`` is also set for inbox-scoped entries (the inbox's pod).
list_entries = Table(
    "list_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("scope", String(400), nullable=False),
    Column("pod_id", String(64)),
    Column("inbox_id", String(320)),
    Column("direction", String(8), nullable=False),
    Column("list_type", String(8), nullable=False),
    Column("entry", String(320), nullable=False),
    Column("entry_type", String(8), nullable=False),
    Column("reason", Text),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("scope", "direction", "list_type", "entry", name="uq_list_entries_scope_list_entry"),
    Index("ix_list_entries_lookup", "direction", "entry"),
)
