"""client.pods: the default pod, create (idempotent), pod-scoped inboxes, threads and drafts, isolation, delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from helpers import expect

from agentinbox import (
    AgentInboxError,
    AsyncAgentInbox,
    ConflictError,
    NotFoundError,
    Pod,
    ValidationError,
)
from agentinbox._clock import ManualClock

UNKNOWN_POD = "00000000-0000-0000-0000-000000000000"


async def default_pod(client: AsyncAgentInbox) -> Pod:
    pods = await client.pods.list()
    defaults = [p for p in pods.pods if p.name == "Default Pod"]
    assert len(defaults) == 1
    return defaults[0]


async def test_default_pod_exists_and_holds_org_inboxes(client: AsyncAgentInbox) -> None:
    pods = await client.pods.list()
    assert pods.count == 1
    pod = pods.pods[0]
    assert pod.name == "Default Pod"
    assert (await client.pods.get(pod_id=pod.pod_id)) == pod
    inbox = await client.inboxes.create(username="plain")
    assert inbox.pod_id == pod.pod_id
    listed = await client.pods.inboxes.list(pod_id=pod.pod_id)
    assert [i.inbox_id for i in listed.inboxes] == [inbox.inbox_id]


async def test_create_pod(client: AsyncAgentInbox, clock: ManualClock) -> None:
    clock.advance(1)
    named = await client.pods.create(name="Team A")
    assert named.name == "Team A"
    assert named.pod_id and named.client_id is None
    assert named.created_at == named.updated_at
    unnamed = await client.pods.create()
    assert unnamed.name  # the server picks a default name
    assert unnamed.pod_id != named.pod_id
    assert (await client.pods.get(pod_id=named.pod_id)) == named


async def test_create_pod_is_idempotent_on_client_id(client: AsyncAgentInbox, clock: ManualClock) -> None:
    first = await client.pods.create(name="Tenant", client_id="tenant-1")
    clock.advance(5)
    again = await client.pods.create(name="Renamed", client_id="tenant-1")
    assert again == first
    assert again.client_id == "tenant-1" and again.name == "Tenant"
    assert (await client.pods.list()).count == 2  # default + tenant
    other = await client.pods.create(client_id="tenant-2")
    assert other.pod_id != first.pod_id


@pytest.mark.parametrize(
    "kwargs", [{"name": ""}, {"name": "  "}, {"name": "x" * 257}, {"client_id": ""}, {"name": 3}]
)
async def test_create_pod_invalid(client: AsyncAgentInbox, kwargs: dict[str, Any]) -> None:
    with expect(ValidationError, "validation_error"):
        await client.pods.create(**kwargs)
    assert (await client.pods.list()).count == 1


async def test_list_pods_pages_in_both_orders(client: AsyncAgentInbox, clock: ManualClock) -> None:
    default = await default_pod(client)
    created = [default.pod_id]
    for i in range(11):
        clock.advance(1)
        created.append((await client.pods.create(name=f"pod {i}")).pod_id)
    for ascending, expected in ((False, list(reversed(created))), (True, created)):
        seen: list[str] = []
        token = None
        while True:
            page = await client.pods.list(limit=5, page_token=token, ascending=ascending)
            assert page.count == len(page.pods) <= 5
            seen += [p.pod_id for p in page.pods]
            token = page.next_page_token
            if token is None:
                break
        assert seen == expected


async def test_list_pods_bad_arguments(client: AsyncAgentInbox) -> None:
    with expect(ValidationError, "validation_error"):
        await client.pods.list(limit=0)
    with expect(ValidationError, "validation_error"):
        await client.pods.list(page_token="not-a-token")
    inboxes_token = None
    for i in range(3):
        await client.inboxes.create(username=f"u{i}")
    inboxes_token = (await client.inboxes.list(limit=1)).next_page_token
    with expect(ValidationError, "validation_error"):
        await client.pods.list(page_token=inboxes_token)


async def test_unknown_pod_is_not_found_everywhere(client: AsyncAgentInbox) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: client.pods.get(pod_id=UNKNOWN_POD),
        lambda: client.pods.delete(pod_id=UNKNOWN_POD),
        lambda: client.pods.inboxes.list(pod_id=UNKNOWN_POD),
        lambda: client.pods.inboxes.search(pod_id=UNKNOWN_POD, q="ab"),
        lambda: client.pods.inboxes.create(pod_id=UNKNOWN_POD, username="x"),
        lambda: client.pods.inboxes.get(pod_id=UNKNOWN_POD, inbox_id="x@agents.test"),
        lambda: client.pods.threads.list(pod_id=UNKNOWN_POD),
        lambda: client.pods.threads.search(pod_id=UNKNOWN_POD, q="hello"),
        lambda: client.pods.threads.get(pod_id=UNKNOWN_POD, thread_id="thread"),
        lambda: client.pods.drafts.list(pod_id=UNKNOWN_POD),
        lambda: client.pods.drafts.get(pod_id=UNKNOWN_POD, draft_id="draft"),
    ]
    for call in calls:
        with expect(NotFoundError, "not_found"):
            await call()
    assert (await client.inboxes.list()).count == 0


async def test_pod_scoped_inboxes(client: AsyncAgentInbox, clock: ManualClock) -> None:
    pod_a = await client.pods.create(name="A")
    pod_b = await client.pods.create(name="B")
    a1 = await client.pods.inboxes.create(pod_id=pod_a.pod_id, username="a1", display_name="Alpha One")
    clock.advance(1)
    a2 = await client.pods.inboxes.create(pod_id=pod_a.pod_id, username="a2", metadata={"k": "v"})
    clock.advance(1)
    b1 = await client.pods.inboxes.create(pod_id=pod_b.pod_id, username="b1", display_name="Alpha Bravo")
    clock.advance(1)
    org = await client.inboxes.create(username="org")
    assert a1.pod_id == a2.pod_id == pod_a.pod_id
    assert b1.pod_id == pod_b.pod_id

    listed_a = await client.pods.inboxes.list(pod_id=pod_a.pod_id)
    assert [i.inbox_id for i in listed_a.inboxes] == [a2.inbox_id, a1.inbox_id]
    ascending_a = await client.pods.inboxes.list(pod_id=pod_a.pod_id, ascending=True, limit=1)
    assert [i.inbox_id for i in ascending_a.inboxes] == [a1.inbox_id]
    rest = await client.pods.inboxes.list(
        pod_id=pod_a.pod_id, ascending=True, page_token=ascending_a.next_page_token
    )
    assert [i.inbox_id for i in rest.inboxes] == [a2.inbox_id]
    assert rest.next_page_token is None
    assert [i.inbox_id for i in (await client.pods.inboxes.list(pod_id=pod_b.pod_id)).inboxes] == [
        b1.inbox_id
    ]
    everything = await client.inboxes.list()
    assert {i.inbox_id for i in everything.inboxes} == {a1.inbox_id, a2.inbox_id, b1.inbox_id, org.inbox_id}

    found = await client.pods.inboxes.search(pod_id=pod_a.pod_id, q="alpha")
    assert [i.inbox_id for i in found.inboxes] == [a1.inbox_id]
    assert (await client.inboxes.search(q="alpha")).count == 2

    assert (await client.pods.inboxes.get(pod_id=pod_a.pod_id, inbox_id=a1.inbox_id)) == a1
    updated = await client.pods.inboxes.update(
        pod_id=pod_a.pod_id, inbox_id=a1.inbox_id, display_name="Renamed"
    )
    assert updated.display_name == "Renamed" and updated.pod_id == pod_a.pod_id
    await client.pods.inboxes.delete(pod_id=pod_a.pod_id, inbox_id=a2.inbox_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.get(inbox_id=a2.inbox_id)


async def test_pod_scope_hides_other_pods_inboxes(client: AsyncAgentInbox) -> None:
    pod_a = await client.pods.create(name="A")
    pod_b = await client.pods.create(name="B")
    b1 = await client.pods.inboxes.create(pod_id=pod_b.pod_id, username="b1", display_name="Keep")
    org = await client.inboxes.create(username="org")
    for inbox in (b1, org):
        with expect(NotFoundError, "not_found"):
            await client.pods.inboxes.get(pod_id=pod_a.pod_id, inbox_id=inbox.inbox_id)
        with expect(NotFoundError, "not_found"):
            await client.pods.inboxes.update(
                pod_id=pod_a.pod_id, inbox_id=inbox.inbox_id, display_name="Stolen"
            )
        with expect(NotFoundError, "not_found"):
            await client.pods.inboxes.delete(pod_id=pod_a.pod_id, inbox_id=inbox.inbox_id)
    assert (await client.inboxes.get(inbox_id=b1.inbox_id)).display_name == "Keep"
    assert (await client.inboxes.get(inbox_id=org.inbox_id)).inbox_id == org.inbox_id
    assert (await client.pods.inboxes.list(pod_id=pod_a.pod_id)).count == 0
    assert (await client.pods.inboxes.search(pod_id=pod_a.pod_id, q="keep")).count == 0


async def test_pod_create_with_client_id_of_another_pod_never_crosses_pods(client: AsyncAgentInbox) -> None:
    pod_a = await client.pods.create(name="A")
    pod_b = await client.pods.create(name="B")
    b1 = await client.pods.inboxes.create(pod_id=pod_b.pod_id, username="b1", client_id="shared-cid")
    again = await client.pods.inboxes.create(pod_id=pod_b.pod_id, client_id="shared-cid")
    assert again == b1
    # Pod A asking for the same client_id must not be handed pod B's inbox: either an error or its own inbox.
    try:
        result = await client.pods.inboxes.create(pod_id=pod_a.pod_id, username="a1", client_id="shared-cid")
    except AgentInboxError as exc:
        assert exc.code and exc.message
    else:
        assert result.pod_id == pod_a.pod_id, "a pod-scoped create returned another pod's inbox"
    assert all(
        i.pod_id == pod_a.pod_id for i in (await client.pods.inboxes.list(pod_id=pod_a.pod_id)).inboxes
    )


async def two_pods_with_mail(client: AsyncAgentInbox, clock: ManualClock) -> dict[str, Any]:
    """Pod A's inbox a and pod B's inbox b write to each other; each pod also has a draft."""
    pod_a = await client.pods.create(name="A")
    pod_b = await client.pods.create(name="B")
    a = await client.pods.inboxes.create(pod_id=pod_a.pod_id, username="a")
    b = await client.pods.inboxes.create(pod_id=pod_b.pod_id, username="b")
    to_b = await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="A to B", text="hi"
    )
    clock.advance(10)
    to_a = await client.inboxes.messages.send(
        inbox_id=b.inbox_id, to=[a.inbox_id], subject="B to A", text="yo"
    )
    clock.advance(10)
    draft_a = await client.inboxes.drafts.create(inbox_id=a.inbox_id, to=["x@example.com"], subject="draft a")
    clock.advance(10)
    draft_b = await client.inboxes.drafts.create(inbox_id=b.inbox_id, to=["y@example.com"], subject="draft b")
    return {
        "pod_a": pod_a, "pod_b": pod_b, "a": a, "b": b, "to_b": to_b, "to_a": to_a,
        "draft_a": draft_a, "draft_b": draft_b,
    }  # fmt: skip


async def test_pod_threads_are_isolated(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await two_pods_with_mail(client, clock)
    pod_a, pod_b, a, b = w["pod_a"], w["pod_b"], w["a"], w["b"]

    threads_a = await client.pods.threads.list(pod_id=pod_a.pod_id)
    assert {t.inbox_id for t in threads_a.threads} == {a.inbox_id}
    assert [t.subject for t in threads_a.threads] == ["B to A"]  # a's sent-only thread is hidden
    sent_a = await client.pods.threads.list(pod_id=pod_a.pod_id, labels=["sent"])
    assert [t.subject for t in sent_a.threads] == ["A to B"]
    threads_b = await client.pods.threads.list(pod_id=pod_b.pod_id)
    assert [(t.inbox_id, t.subject) for t in threads_b.threads] == [(b.inbox_id, "A to B")]
    org = await client.threads.list()
    assert {t.inbox_id for t in org.threads} == {a.inbox_id, b.inbox_id}

    # a's received thread, read through pod A, pod B and the org scope.
    mine = threads_a.threads[0]
    got = await client.pods.threads.get(pod_id=pod_a.pod_id, thread_id=mine.thread_id)
    assert got.thread_id == mine.thread_id and got.messages[-1].subject == "B to A"
    with expect(NotFoundError, "not_found"):
        await client.pods.threads.get(pod_id=pod_b.pod_id, thread_id=mine.thread_id)
    with expect(NotFoundError, "not_found"):
        await client.pods.threads.update(pod_id=pod_b.pod_id, thread_id=mine.thread_id, add_labels=["x"])
    with expect(NotFoundError, "not_found"):
        await client.pods.threads.delete(pod_id=pod_b.pod_id, thread_id=mine.thread_id)
    assert (await client.threads.get(thread_id=mine.thread_id)).thread_id == mine.thread_id

    updated = await client.pods.threads.update(
        pod_id=pod_a.pod_id, thread_id=mine.thread_id, add_labels=["Pod-A"]
    )
    assert "pod-a" in updated.labels
    assert (await client.pods.threads.list(pod_id=pod_b.pod_id, labels=["pod-a"])).count == 0
    assert (await client.pods.threads.list(pod_id=pod_a.pod_id, labels=["pod-a"])).count == 1

    search_b = await client.pods.threads.search(pod_id=pod_b.pod_id, q="yo")
    assert all(t.inbox_id == b.inbox_id for t in search_b.threads)
    assert mine.thread_id not in [t.thread_id for t in search_b.threads]
    search_a = await client.pods.threads.search(pod_id=pod_a.pod_id, q="yo")
    assert [t.thread_id for t in search_a.threads] == [mine.thread_id]

    await client.pods.threads.delete(pod_id=pod_a.pod_id, thread_id=mine.thread_id)
    assert (await client.pods.threads.list(pod_id=pod_a.pod_id)).count == 0
    assert (await client.pods.threads.list(pod_id=pod_b.pod_id)).count == 1


async def test_pod_drafts_are_isolated(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await two_pods_with_mail(client, clock)
    pod_a, pod_b, draft_a, draft_b = w["pod_a"], w["pod_b"], w["draft_a"], w["draft_b"]
    listed_a = await client.pods.drafts.list(pod_id=pod_a.pod_id)
    assert [d.draft_id for d in listed_a.drafts] == [draft_a.draft_id]
    listed_b = await client.pods.drafts.list(pod_id=pod_b.pod_id)
    assert [d.draft_id for d in listed_b.drafts] == [draft_b.draft_id]
    org = await client.drafts.list()
    assert [d.draft_id for d in org.drafts] == [draft_b.draft_id, draft_a.draft_id]
    got = await client.pods.drafts.get(pod_id=pod_a.pod_id, draft_id=draft_a.draft_id)
    assert got.subject == "draft a"
    with expect(NotFoundError, "not_found"):
        await client.pods.drafts.get(pod_id=pod_b.pod_id, draft_id=draft_a.draft_id)
    default = await default_pod(client)
    assert (await client.pods.drafts.list(pod_id=default.pod_id)).count == 0
    assert (await client.pods.threads.list(pod_id=default.pod_id, labels=["sent"])).count == 0


async def test_delete_pod_with_inboxes_is_refused(client: AsyncAgentInbox) -> None:
    pod = await client.pods.create(name="Busy")
    inbox = await client.pods.inboxes.create(pod_id=pod.pod_id, username="busy")
    with expect(ConflictError, {"conflict", "cannot_delete"}):
        await client.pods.delete(pod_id=pod.pod_id)
    assert (await client.pods.get(pod_id=pod.pod_id)) == pod
    assert (await client.inboxes.get(inbox_id=inbox.inbox_id)).pod_id == pod.pod_id

    await client.pods.inboxes.delete(pod_id=pod.pod_id, inbox_id=inbox.inbox_id)
    await client.pods.delete(pod_id=pod.pod_id)
    with expect(NotFoundError, "not_found"):
        await client.pods.get(pod_id=pod.pod_id)
    with expect(NotFoundError, "not_found"):
        await client.pods.delete(pod_id=pod.pod_id)
    assert (await client.pods.list()).count == 1


async def test_delete_default_pod_is_refused(client: AsyncAgentInbox) -> None:
    default = await default_pod(client)
    with expect(ConflictError, {"conflict", "cannot_delete"}):
        await client.pods.delete(pod_id=default.pod_id)
    assert (await client.pods.get(pod_id=default.pod_id)) == default
    # Still the home of new inboxes.
    assert (await client.inboxes.create()).pod_id == default.pod_id


async def test_deleted_pod_client_id_is_free_again(client: AsyncAgentInbox) -> None:
    pod = await client.pods.create(name="Once", client_id="once")
    await client.pods.delete(pod_id=pod.pod_id)
    again = await client.pods.create(name="Twice", client_id="once")
    assert again.pod_id != pod.pod_id and again.name == "Twice"


@pytest.mark.parametrize("pod_id", ["", "  ", None, 12])
async def test_bad_pod_id(client: AsyncAgentInbox, pod_id: Any) -> None:
    with expect(ValidationError, "validation_error"):
        await client.pods.get(pod_id=pod_id)
    with expect(ValidationError, "validation_error"):
        await client.pods.inboxes.list(pod_id=pod_id)
