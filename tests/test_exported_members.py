"""The package's public names: exactly the documented set, each one importable."""

from __future__ import annotations

import agentinbox
from agentinbox import errors

EXPECTED = [
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


def test_all_is_the_expected_list() -> None:
    assert agentinbox.__all__ == EXPECTED
    assert len(set(agentinbox.__all__)) == len(agentinbox.__all__)


def test_every_exported_name_exists() -> None:
    for name in agentinbox.__all__:
        assert hasattr(agentinbox, name), name
    namespace: dict[str, object] = {}
    exec("from agentinbox import *", namespace)
    assert set(EXPECTED) <= set(namespace)


def test_version_is_a_string() -> None:
    assert isinstance(agentinbox.__version__, str) and agentinbox.__version__.count(".") >= 1


def test_error_hierarchy_and_codes() -> None:
    codes = {
        "ValidationError": "validation_error",
        "NotFoundError": "not_found",
        "ConflictError": "conflict",
        "UnprocessableError": "unprocessable",
        "MessageRejectedError": "message_rejected",
        "ForbiddenError": "forbidden",
        "AuthenticationError": "unknown_api_key",
        "RateLimitError": "rate_limit_exceeded",
        "WaitTimeoutError": "timeout",
    }
    assert errors.__all__ == sorted(["AgentInboxError", *codes])
    for name, code in codes.items():
        cls = getattr(agentinbox, name)
        assert cls is getattr(errors, name)
        assert issubclass(cls, agentinbox.AgentInboxError)
        assert cls.code == code
        error = cls("something went wrong")
        assert error.code == code and error.message == "something went wrong"
        assert str(error) == "something went wrong"
        assert code in repr(error)
    assert issubclass(agentinbox.AgentInboxError, Exception)
    assert issubclass(agentinbox.ValidationError, ValueError)
    assert issubclass(agentinbox.NotFoundError, LookupError)
    assert issubclass(agentinbox.WaitTimeoutError, TimeoutError)
    validation = agentinbox.ValidationError("bad limit", path=["limit"])
    assert validation.errors == [{"path": ["limit"], "message": "bad limit"}]


def test_models_use_agentmail_field_names() -> None:
    assert "from" in agentinbox.MessageItem.model_fields["from_"].alias  # type: ignore[operator]
    for model, fields in (
        (agentinbox.Inbox, {"pod_id", "inbox_id", "email", "display_name", "client_id", "status", "metadata"}),
        (agentinbox.ThreadItem, {"thread_id", "labels", "timestamp", "senders", "recipients", "last_message_id",
                                 "message_count", "size"}),
        (agentinbox.Thread, {"count", "limit", "next_page_token", "messages"}),
        (agentinbox.Draft, {"draft_id", "send_status", "send_at", "in_reply_to", "forward_of", "client_id"}),
        (agentinbox.SendMessageResponse, {"message_id", "thread_id"}),
        (agentinbox.Pod, {"pod_id", "name", "client_id"}),
        (agentinbox.Domain, {"domain_id", "domain", "status", "reason", "feedback_enabled", "inbound_enabled",
                             "subdomains_enabled", "tracking_enabled", "records", "client_id", "pod_id"}),
        (agentinbox.DomainItem, {"domain_id", "domain", "feedback_enabled", "subdomains_enabled"}),
        (agentinbox.VerificationRecord, {"type", "name", "value", "status", "priority"}),
        (agentinbox.BearerApiKey, {"type", "api_key_id", "prefix", "name", "pod_id", "inbox_id", "used_at",
                                   "permissions", "created_at", "updated_at", "expires_at"}),
        (agentinbox.CreateApiKeyResponse, {"api_key_id", "api_key", "prefix", "name", "pod_id", "inbox_id",
                                           "permissions", "created_at", "expires_at"}),
    ):  # fmt: skip
        assert fields <= set(model.model_fields), model
