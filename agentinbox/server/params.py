"""Reading AgentMail's request conventions: JSON-array query parameters, nulls in bodies meaning "not
given", recipients as a string or a list, and model results written as JSON by their wire names."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Header, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from ..errors import ValidationError

__all__ = [
    "Ascending",
    "Body",
    "IdempotencyKey",
    "LabelChange",
    "Limit",
    "PageToken",
    "StringList",
    "StringOrList",
    "given",
    "json_model",
    "no_content",
    "query_list",
]

#: One address string or a list of them (``to``, ``cc``, ``bcc``, ``reply_to``), or labels.
StringOrList = str | list[str]

Limit = Annotated[int | None, Query(description="Items per page.", ge=1, le=1000)]
PageToken = Annotated[str | None, Query(description="The `next_page_token` of the previous page.")]
Ascending = Annotated[bool | None, Query(description="Oldest first instead of newest first.")]
#: A list query parameter: one JSON array (``labels=["a", "b"]``) or the key repeated (``labels=a&labels=b``).
StringList = Annotated[list[str] | None, Query(description='A JSON array of strings, e.g. ["a", "b"].')]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="A retry with the same key returns the first result and sends nothing twice.",
    ),
]


class Body(BaseModel):
    """A request body: fields the server does not know are ignored, as a newer client may send them."""

    model_config = ConfigDict(extra="ignore")


class LabelChange(Body):
    """Labels to add to and remove from a message, a thread, or the message a draft becomes (each a label
    or a list of them)."""

    add_labels: StringOrList | None = None
    remove_labels: StringOrList | None = None


def given(body: BaseModel | None, *, keep_nulls: bool = False) -> dict[str, Any]:
    """The fields of ``body`` the caller gave, as keyword arguments. A null counts as not given (the agent
    toolkits send every field, mostly null) unless ``keep_nulls``, where null means "clear" (draft PATCH)."""
    if body is None:
        return {}
    if keep_nulls:
        return body.model_dump(exclude_unset=True)
    return body.model_dump(exclude_none=True)


def query_list(values: list[str] | None, name: str) -> list[str] | None:
    """A list parameter as sent: each occurrence of the key is one element, and an occurrence that is a
    JSON array (as the SDKs send lists) contributes its elements."""
    if not values:
        return None
    items: list[str] = []
    for value in values:
        if not value.lstrip().startswith("["):
            items.append(value)
            continue
        try:
            decoded = json.loads(value)
        except ValueError:
            raise ValidationError(
                f'{name} must be a JSON array of strings such as ["a", "b"]', path=[name]
            ) from None
        if not isinstance(decoded, list) or not all(isinstance(item, str) for item in decoded):
            raise ValidationError(f"{name} must be a JSON array of strings", path=[name])
        items.extend(decoded)
    return items


def json_model(model: BaseModel) -> Response:
    """``model`` as the JSON body of a 200: wire names (``from``), optional fields left out when unset."""
    return Response(model.model_dump_json(exclude_none=True), media_type="application/json")


def no_content() -> Response:
    """The answer to a DELETE and the like: the SDKs ignore the body of these."""
    return Response(status_code=204)
