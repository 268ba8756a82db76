"""The public exception hierarchy.

Every error the library raises on purpose is an ``AgentInboxError`` with a stable snake_case ``code`` (the
codes of AgentMail's API) and a message a person can act on::

    AgentInboxError
    ├── ValidationError          code "validation_error"   bad arguments, labels, page tokens, headers
    ├── NotFoundError            code "not_found"          unknown inbox, message, thread, draft or pod
    ├── ConflictError            code "conflict"           an idempotency key reused for another request
    ├── UnprocessableError       code "unprocessable"      well-formed but impossible (no recipients, taken name)
    ├── MessageRejectedError     code "message_rejected"   a send refused by policy or size
    ├── AuthenticationError      code "unknown_api_key"    an unknown, revoked or expired API key (401)
    ├── ForbiddenError           code "forbidden"          outside the API key's scope, or withheld content
    ├── RateLimitError           code "rate_limit_exceeded" a send over an inbox's rate or a domain's warm-up cap
    └── WaitTimeoutError         code "timeout"            nothing arrived in time (also a TimeoutError)

Lower-layer errors (SQLAlchemy, the email package) are mapped to these at the boundary with ``raise … from``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentInboxError",
    "AuthenticationError",
    "ConflictError",
    "ForbiddenError",
    "MessageRejectedError",
    "NotFoundError",
    "RateLimitError",
    "UnprocessableError",
    "ValidationError",
    "WaitTimeoutError",
]


class AgentInboxError(Exception):
    """Base class of every error agentinbox raises on purpose."""

    code: str = "internal_error"
    name: str = "InternalError"

    def __init__(self, message: str, *, code: str | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        #: For validation errors: ``[{"path": [...], "message": str}]`` as in AgentMail's 400 body.
        self.errors = errors or []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ValidationError(AgentInboxError, ValueError):
    """An argument is malformed: an address, a label, a page token, a header."""

    code = "validation_error"
    name = "ValidationError"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        path: list[str | int] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ):
        if errors is None:
            errors = [{"path": path or [], "message": message}]
        super().__init__(message, code=code, errors=errors)


class NotFoundError(AgentInboxError, LookupError):
    """The inbox, message, thread, draft, pod or attachment does not exist (or is not visible)."""

    code = "not_found"
    name = "NotFoundError"


class ConflictError(AgentInboxError):
    """The request conflicts with an earlier one, e.g. an idempotency key reused for other content."""

    code = "conflict"
    name = "ConflictError"


class UnprocessableError(AgentInboxError):
    """The request is well-formed but cannot be carried out (a taken username, a send with no recipients)."""

    code = "unprocessable"
    name = "UnprocessableError"


class MessageRejectedError(AgentInboxError):
    """A send was refused: a blocked recipient, a message over the size limit."""

    code = "message_rejected"
    name = "MessageRejectedError"


class AuthenticationError(AgentInboxError):
    """An API key was refused: none given (``missing_authorization``), or unknown, revoked or expired
    (``unknown_api_key``); AgentMail answers these with 401 ``UnauthorizedError``."""

    code = "unknown_api_key"
    name = "UnauthorizedError"


class ForbiddenError(AgentInboxError):
    """Not allowed: the resource lies outside the client's API key scope, or its content is withheld (an
    attachment of a message found infected)."""

    code = "forbidden"
    name = "ForbiddenError"


class RateLimitError(AgentInboxError):
    """A send over a limit: the inbox's send rate, or the daily cap of a domain still warming up."""

    code = "rate_limit_exceeded"
    name = "RateLimitError"

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        #: Seconds until a send may succeed again, when known.
        self.retry_after = retry_after


class WaitTimeoutError(AgentInboxError, TimeoutError):
    """``wait_for_message`` (or a subscription read with a timeout) saw nothing arrive in time."""

    code = "timeout"
    name = "TimeoutError"
