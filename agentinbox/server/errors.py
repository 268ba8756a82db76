"""Error bodies of the HTTP API: every failure is AgentMail's ``{"name", "message", "code"}`` (400s add
``errors``) with the status code the official SDKs turn into their typed exceptions, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ..errors import (
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

__all__ = [
    "ErrorResponse",
    "ValidationErrorResponse",
    "error_response",
    "install_error_handlers",
    "status_of",
]

logger = logging.getLogger(__name__)

#: The status of each library error; the order matters only for subclasses (none overlap here).
_STATUS: list[tuple[type[AgentInboxError], int]] = [
    (ValidationError, 400),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (MessageRejectedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (UnprocessableError, 422),
    (RateLimitError, 429),
    (WaitTimeoutError, 504),
]

#: Codes whose status is not their class's: a conflict that stays so however often the request is repeated
#: (a pod that still has inboxes) is 403, because the SDKs retry a 409 twice, with seconds of sleep, before
#: the caller hears of it; a database or DNS server that is down is 503 (try again later).
_STATUS_BY_CODE = {"cannot_delete": 403, "resource_deleting": 403, "service_unavailable": 503}

#: ``name`` and ``code`` of plain HTTP failures that are not the library's (unknown path, wrong method).
_HTTP_NAMES = {
    400: ("ValidationError", "validation_error"),
    401: ("UnauthorizedError", "unauthorized"),
    403: ("ForbiddenError", "forbidden"),
    404: ("NotFoundError", "not_found"),
    405: ("MethodNotAllowedError", "method_not_allowed"),
    413: ("PayloadTooLargeError", "payload_too_large"),
}


class ErrorResponse(BaseModel):
    """The body of every error but 400."""

    name: str
    message: str
    code: str | None = None


class ValidationErrorResponse(ErrorResponse):
    """The body of a 400: what was wrong, and where (``path`` into the request)."""

    errors: list[dict[str, Any]]


def error_response(
    status: int, name: str, message: str, code: str, *, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"name": name, "message": message, "code": code}
    if status == 400:
        body["errors"] = errors if errors is not None else [{"path": [], "message": message}]
    return JSONResponse(body, status_code=status)


def status_of(exc: AgentInboxError) -> int:
    """The HTTP status of a library error (the same for a route and a WebSocket handshake)."""
    if exc.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[exc.code]
    return next((status for kind, status in _STATUS if isinstance(exc, kind)), 500)


def _library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AgentInboxError)
    status = status_of(exc)
    if status == 500:
        logger.error("%s %s failed: %r", request.method, request.url.path, exc)
    response = error_response(status, exc.name, exc.message, exc.code, errors=exc.errors or None)
    retry_after = getattr(exc, "retry_after", None)
    if status == 429 and retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return response


def _request_error(request: Request, exc: Exception) -> Response:
    """A request FastAPI could not read into its parameters: bad JSON, a wrong type, a missing field."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location = [part for part in error.get("loc", ()) if part != "body"]
        errors.append({"path": location, "message": str(error.get("msg", "invalid"))})
    first = errors[0] if errors else {"path": [], "message": "invalid request"}
    where = ".".join(str(part) for part in first["path"])
    message = f"{where}: {first['message']}" if where else str(first["message"])
    return error_response(400, "ValidationError", message, "validation_error", errors=errors)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    name, code = _HTTP_NAMES.get(exc.status_code, ("Error", "error"))
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    response = error_response(exc.status_code, name, message, code)
    for header, value in (exc.headers or {}).items():
        response.headers[header] = value
    return response


def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("%s %s failed unexpectedly", request.method, request.url.path)
    return error_response(
        500, "InternalServerError", "the server failed unexpectedly; its log has details", "internal_error"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AgentInboxError, _library_error)
    app.add_exception_handler(RequestValidationError, _request_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
