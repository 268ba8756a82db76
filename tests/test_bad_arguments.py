"""Every public method meets arguments of the wrong type with a typed error, never a raw exception.

Each method is called with valid arguments where one at a time is replaced by a value of a wrong type;
the call must either succeed (where the value is harmless) or raise an AgentInboxError subclass.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from agentinbox import AgentInboxError, AsyncAgentInbox
from agentinbox._clock import ManualClock

WRONG = [42, 3.5, b"bytes", ["x", 1], {"a": object()}, object(), True, "", "\x00", "a" * 5000]


async def _valid_arguments(client: AsyncAgentInbox, clock: ManualClock) -> dict[str, Any]:
    """Ids that exist, so that a failure is caused by the replaced argument alone."""
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    sent = await client.inboxes.messages.send(
        inbox_id=a.inbox_id,
        to=[b.inbox_id],
        subject="s",
        text="t",
        attachments=[{"filename": "f.txt", "content": b"data"}],
    )
    clock.advance(1)
    received = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=sent.message_id)
    draft = await client.inboxes.drafts.create(inbox_id=b.inbox_id, to=["x@example.com"], subject="d")
    pod = await client.pods.create(name="p")
    key = await client.inboxes.api_keys.create(inbox_id=b.inbox_id, name="k")
    domain = await client.domains.create(domain="sweep.test")
    dkim_record = next(r for r in domain.records if r.name.endswith("._domainkey"))
    assert received.attachments
    return {
        "inbox_id": b.inbox_id,
        "message_id": sent.message_id,
        "thread_id": received.thread_id,
        "draft_id": draft.draft_id,
        "pod_id": pod.pod_id,
        "api_key_id": key.api_key_id,
        "domain": domain.domain,
        "domain_id": domain.domain_id,
        "selector": dkim_record.name.partition(".")[0],
        "attachment_id": received.attachments[0].attachment_id,
        "message_ids": [sent.message_id],
        "q": "subject",
        "to": ["x@example.com"],
        "add_labels": ["x"],
    }


def _methods(client: AsyncAgentInbox) -> list[tuple[str, Any]]:
    spaces = {
        "inboxes": client.inboxes,
        "inboxes.messages": client.inboxes.messages,
        "inboxes.threads": client.inboxes.threads,
        "inboxes.drafts": client.inboxes.drafts,
        "threads": client.threads,
        "drafts": client.drafts,
        "pods": client.pods,
        "pods.inboxes": client.pods.inboxes,
        "pods.threads": client.pods.threads,
        "pods.drafts": client.pods.drafts,
        "api_keys": client.api_keys,
        "inboxes.api_keys": client.inboxes.api_keys,
        "pods.api_keys": client.pods.api_keys,
        "domains": client.domains,
    }
    found = []
    for prefix, space in spaces.items():
        for name, method in inspect.getmembers(space, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                found.append((f"{prefix}.{name}", method))
    return found


async def test_wrong_types_get_typed_errors(client: AsyncAgentInbox, clock: ManualClock) -> None:
    valid = await _valid_arguments(client, clock)
    surprises = []
    for name, method in _methods(client):
        params = inspect.signature(method).parameters
        base = {p: valid[p] for p in params if p in valid and params[p].default is inspect.Parameter.empty}
        for param in params:
            for value in WRONG:
                arguments = {**base, param: value}
                try:
                    await method(**arguments)
                except AgentInboxError as exc:
                    assert exc.code and exc.message, (name, param, value)
                except Exception as exc:
                    surprises.append(f"{name}({param}={value!r:.30}): {type(exc).__name__}: {exc}"[:300])
    assert not surprises, "\n".join(surprises[:40])


@pytest.mark.parametrize("value", WRONG)
async def test_deliver_wrong_types(client: AsyncAgentInbox, value: object) -> None:
    inbox = await client.inboxes.create(username="desk")
    for arguments in (
        {"raw": value},
        {"raw": b"Subject: x\n\nbody", "rcpt_to": value},
        {"raw": b"x", "mail_from": value},
    ):
        arguments.setdefault("rcpt_to", [inbox.inbox_id])
        try:
            await client.deliver(**arguments)  # type: ignore[arg-type]
        except AgentInboxError as exc:
            assert exc.code and exc.message
