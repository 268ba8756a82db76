"""client.inboxes: create (idempotent on client_id), list and page, search, get, update (metadata merge), delete."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import expect

from agentinbox import (
    AgentInboxError,
    AsyncAgentInbox,
    Inbox,
    NotFoundError,
    UnprocessableError,
    ValidationError,
)
from agentinbox._clock import ManualClock


async def all_pages(fetch: Any, *, limit: int, **kwargs: Any) -> list[list[str]]:
    """Every page of an inbox list (inbox ids), following next_page_token to the end."""
    pages: list[list[str]] = []
    token = None
    while True:
        page = await fetch(limit=limit, page_token=token, **kwargs)
        assert page.count == len(page.inboxes)
        assert page.limit == limit
        pages.append([inbox.inbox_id for inbox in page.inboxes])
        token = page.next_page_token
        if token is None:
            return pages
        assert len(pages) < 100, "pagination does not terminate"


# -- create ------------------------------------------------------------------------------------------------


async def test_create_with_random_username(client: AsyncAgentInbox) -> None:
    first = await client.inboxes.create()
    second = await client.inboxes.create()
    assert isinstance(first, Inbox)
    local, _, domain = first.inbox_id.partition("@")
    assert local and domain == "agents.test"
    assert first.email == first.inbox_id
    assert first.inbox_id != second.inbox_id
    assert first.status is None  # omitted when active
    assert first.created_at == first.updated_at
    assert first.pod_id


async def test_create_with_username_and_domain(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(
        username="Sales.Team", domain="Mail.Example.COM", display_name="Sales"
    )
    assert inbox.inbox_id == "sales.team@mail.example.com"
    assert inbox.email == inbox.inbox_id
    assert inbox.display_name == "Sales"
    fetched = await client.inboxes.get(inbox_id="SALES.TEAM@mail.example.com")
    assert fetched == inbox


async def test_create_paused_and_with_metadata(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(
        username="paused",
        status="paused",
        metadata={"team": "ops", "priority": 3, "beta": True, "ratio": 0.5},
    )
    assert inbox.status == "paused"
    assert inbox.metadata == {"team": "ops", "priority": 3, "beta": True, "ratio": 0.5}
    again = await client.inboxes.get(inbox_id=inbox.inbox_id)
    assert again.metadata == inbox.metadata
    active = await client.inboxes.create(username="active", status="active")
    assert active.status is None


async def test_create_is_idempotent_on_client_id(client: AsyncAgentInbox, clock: ManualClock) -> None:
    first = await client.inboxes.create(display_name="Support", client_id="support-v1")
    clock.advance(10)
    again = await client.inboxes.create(display_name="Something else", client_id="support-v1")
    assert again == first
    assert again.client_id == "support-v1"
    assert again.display_name == "Support"
    # Even with an explicit username, the client_id decides.
    third = await client.inboxes.create(username="other", client_id="support-v1")
    assert third.inbox_id == first.inbox_id
    listed = await client.inboxes.list()
    assert listed.count == 1
    other = await client.inboxes.create(client_id="support-v2")
    assert other.inbox_id != first.inbox_id


async def test_create_taken_username_is_unprocessable(client: AsyncAgentInbox) -> None:
    await client.inboxes.create(username="alice")
    # The reference's 422 codes: "unprocessable", or the more specific "already_exists".
    with expect(UnprocessableError, {"unprocessable", "already_exists"}) as info:
        await client.inboxes.create(username="ALICE")
    assert "alice@agents.test" in info.value.message
    # Same username on another domain is a different address.
    other = await client.inboxes.create(username="alice", domain="other.test")
    assert other.inbox_id == "alice@other.test"
    assert (await client.inboxes.list()).count == 2


@pytest.mark.parametrize(
    "username",
    ["", "   ", "has space", "-lead", "trail-", ".dot", "dot.", "a..b", "x@y", "semi;colon", "a" * 65],
)
async def test_create_invalid_username(client: AsyncAgentInbox, username: str) -> None:
    with expect(ValidationError, "validation_error") as info:
        await client.inboxes.create(username=username)
    assert info.value.errors and info.value.errors[0]["path"] == ["username"]
    assert (await client.inboxes.list()).count == 0


@pytest.mark.parametrize(
    "domain", ["nodot", "bad_domain.test", "-x.test", "x-.test", "a..test", "sp ace.test"]
)
async def test_create_invalid_domain(client: AsyncAgentInbox, domain: str) -> None:
    with expect(ValidationError, "validation_error"):
        await client.inboxes.create(username="bob", domain=domain)
    assert (await client.inboxes.list()).count == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"username": 42},
        {"domain": ["x.test"]},
        {"client_id": 7},
        {"status": "deleted"},
        {"display_name": "Two\nlines"},
        {"display_name": "x" * 257},
    ],
)
async def test_create_invalid_arguments(client: AsyncAgentInbox, kwargs: dict[str, Any]) -> None:
    with expect(ValidationError, "validation_error"):
        await client.inboxes.create(**kwargs)
    assert (await client.inboxes.list()).count == 0


async def test_metadata_limits_on_create(client: AsyncAgentInbox) -> None:
    # At the limits: 256 keys, keys and values of 256 characters.
    full = {f"{i:03d}" + "k" * 253: "v" * 256 for i in range(256)}
    inbox = await client.inboxes.create(username="full", metadata=full)
    assert inbox.metadata == full

    too_many = {f"k{i}": i for i in range(257)}
    long_key = {"k" * 257: "v"}
    long_value = {"k": "v" * 257}
    nested = {"k": {"a": 1}}
    listed = {"k": [1, 2]}
    none_value = {"k": None}
    empty_key = {"": "v"}
    for bad in (too_many, long_key, long_value, nested, listed, none_value, empty_key):
        with expect(ValidationError, "validation_error"):
            await client.inboxes.create(metadata=bad)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.create(metadata=["not", "a", "dict"])  # type: ignore[arg-type]
    assert (await client.inboxes.list()).count == 1


# -- list and pagination -------------------------------------------------------------------------------------


async def make_inboxes(client: AsyncAgentInbox, clock: ManualClock, n: int, *, tick: float = 1) -> list[str]:
    ids = []
    for i in range(n):
        inbox = await client.inboxes.create(username=f"user{i:02d}")
        ids.append(inbox.inbox_id)
        clock.advance(tick)
    return ids


@pytest.mark.parametrize("limit", [1, 7, 10, 25, 100])
async def test_list_pages_newest_first(client: AsyncAgentInbox, clock: ManualClock, limit: int) -> None:
    created = await make_inboxes(client, clock, 25)
    pages = await all_pages(client.inboxes.list, limit=limit)
    flat = [i for page in pages for i in page]
    assert flat == list(reversed(created))
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    assert len(pages) == -(-25 // limit)


async def test_list_pages_ascending(client: AsyncAgentInbox, clock: ManualClock) -> None:
    created = await make_inboxes(client, clock, 25)
    pages = await all_pages(client.inboxes.list, limit=10, ascending=True)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for page in pages for i in page] == created


async def test_list_pages_with_equal_timestamps(client: AsyncAgentInbox, clock: ManualClock) -> None:
    # Inboxes created in the same microsecond: the tie-breaker must still give no gaps and no duplicates.
    created = await make_inboxes(client, clock, 25, tick=0)
    for ascending in (False, True):
        pages = await all_pages(client.inboxes.list, limit=4, ascending=ascending)
        flat = [i for page in pages for i in page]
        assert len(flat) == len(set(flat)) == 25
        assert set(flat) == set(created)


async def test_list_defaults_and_empty(client: AsyncAgentInbox, clock: ManualClock) -> None:
    empty = await client.inboxes.list()
    assert empty.count == 0 and empty.inboxes == [] and empty.next_page_token is None
    await make_inboxes(client, clock, 3)
    page = await client.inboxes.list()
    assert page.count == 3 and page.next_page_token is None


async def test_list_exact_multiple_has_no_trailing_token(client: AsyncAgentInbox, clock: ManualClock) -> None:
    await make_inboxes(client, clock, 10)
    first = await client.inboxes.list(limit=5)
    assert first.next_page_token is not None
    second = await client.inboxes.list(limit=5, page_token=first.next_page_token)
    assert second.count == 5
    assert second.next_page_token is None


async def test_list_sees_inboxes_added_between_pages(client: AsyncAgentInbox, clock: ManualClock) -> None:
    created = await make_inboxes(client, clock, 6)
    first = await client.inboxes.list(limit=3, ascending=True)
    assert [i.inbox_id for i in first.inboxes] == created[:3]
    late = await client.inboxes.create(username="late")
    rest = await client.inboxes.list(limit=10, ascending=True, page_token=first.next_page_token)
    assert [i.inbox_id for i in rest.inboxes] == [*created[3:], late.inbox_id]


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        "eyJ4IjoxfQ",  # {"x":1}
        "W10",  # []
        "WyJpbmJveGVzIix0cnVlXQ",  # ["inboxes",true]
        "WyJpbmJveGVzIixmYWxzZSwxXQ",  # ["inboxes",false,1]: a key of the wrong length
        "WyJpbmJveGVzIixmYWxzZSwxLjUsImEiXQ",  # ["inboxes",false,1.5,"a"]: a float
        "WyJpbmJveGVzIixmYWxzZSxbMV0sImEiXQ",  # ["inboxes",false,[1],"a"]: a list
        "WyJpbmJveGVzIixmYWxzZSwieCIsInkiXQ",  # ["inboxes",false,"x","y"]: a string for a timestamp
    ],
)
async def test_list_bad_page_token(client: AsyncAgentInbox, clock: ManualClock, token: str) -> None:
    await make_inboxes(client, clock, 2)
    with expect(ValidationError, "validation_error") as info:
        await client.inboxes.list(page_token=token)
    assert info.value.errors[0]["path"] == ["page_token"]


async def test_list_token_of_other_order_or_list(client: AsyncAgentInbox, clock: ManualClock) -> None:
    await make_inboxes(client, clock, 4)
    descending = await client.inboxes.list(limit=2)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.list(limit=2, ascending=True, page_token=descending.next_page_token)
    pods = await client.pods.create(name="p")
    for i in range(3):
        await client.pods.inboxes.create(pod_id=pods.pod_id, username=f"p{i}")
    search = await client.inboxes.search(q="user", limit=1)
    assert search.next_page_token is not None
    with expect(ValidationError, "validation_error"):
        await client.inboxes.list(page_token=search.next_page_token)
    pod_list = await client.pods.list(limit=1)
    assert pod_list.next_page_token is not None
    with expect(ValidationError, "validation_error"):
        await client.inboxes.list(page_token=pod_list.next_page_token)


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "10"])
async def test_list_bad_limit(client: AsyncAgentInbox, limit: Any) -> None:
    with expect(ValidationError, "validation_error"):
        await client.inboxes.list(limit=limit)


async def test_list_bad_ascending(client: AsyncAgentInbox) -> None:
    with expect(ValidationError, "validation_error"):
        await client.inboxes.list(ascending="yes")  # type: ignore[arg-type]


# -- search ---------------------------------------------------------------------------------------------------


async def test_search_by_address_and_display_name(client: AsyncAgentInbox, clock: ManualClock) -> None:
    support = await client.inboxes.create(username="support", display_name="Customer Support Agent")
    clock.advance(1)
    sales = await client.inboxes.create(username="sales", display_name="Sales Agent")
    clock.advance(1)
    billing = await client.inboxes.create(username="billing", display_name="Billing")

    def ids(result: Any) -> list[str]:
        assert result.count == len(result.inboxes)
        return [i.inbox_id for i in result.inboxes]

    assert ids(await client.inboxes.search(q="supp")) == [support.inbox_id]
    assert ids(await client.inboxes.search(q="SALES")) == [sales.inbox_id]
    assert set(ids(await client.inboxes.search(q="agent"))) == {support.inbox_id, sales.inbox_id}
    assert ids(await client.inboxes.search(q="custom")) == [support.inbox_id]
    assert ids(await client.inboxes.search(q="bil")) == [billing.inbox_id]
    # Only word prefixes: "port" is inside "support", not at the start of a word.
    assert ids(await client.inboxes.search(q="port")) == []
    assert ids(await client.inboxes.search(q="zz")) == []
    # LIKE wildcards in the query are literal characters.
    assert ids(await client.inboxes.search(q="%a")) == []
    assert ids(await client.inboxes.search(q="__")) == []


async def test_search_pages(client: AsyncAgentInbox, clock: ManualClock) -> None:
    created = await make_inboxes(client, clock, 7)
    await client.inboxes.create(username="someone-else")
    seen: list[str] = []
    token = None
    while True:
        page = await client.inboxes.search(q="user", limit=3, page_token=token)
        seen += [i.inbox_id for i in page.inboxes]
        token = page.next_page_token
        if token is None:
            break
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("q", ["", "a", " b ", "x" * 257])
async def test_search_bad_query(client: AsyncAgentInbox, q: str) -> None:
    with expect(ValidationError, "validation_error"):
        await client.inboxes.search(q=q)


# -- get --------------------------------------------------------------------------------------------------------


async def test_get_unknown_inbox(client: AsyncAgentInbox) -> None:
    with expect(NotFoundError, "not_found") as info:
        await client.inboxes.get(inbox_id="nobody@agents.test")
    assert "nobody@agents.test" in info.value.message


@pytest.mark.parametrize("inbox_id", ["", "   ", None, 5])
async def test_get_bad_inbox_id(client: AsyncAgentInbox, inbox_id: Any) -> None:
    with expect(ValidationError, "validation_error"):
        await client.inboxes.get(inbox_id=inbox_id)


# -- update -------------------------------------------------------------------------------------------------------


async def test_update_display_name_and_status(client: AsyncAgentInbox, clock: ManualClock) -> None:
    inbox = await client.inboxes.create(username="upd", display_name="Before", metadata={"k": "v"})
    clock.advance(30)
    renamed = await client.inboxes.update(inbox_id=inbox.inbox_id, display_name="After")
    assert renamed.display_name == "After"
    assert renamed.metadata == {"k": "v"}  # untouched
    assert renamed.status is None
    assert renamed.created_at == inbox.created_at
    assert renamed.updated_at > inbox.updated_at

    paused = await client.inboxes.update(inbox_id=inbox.inbox_id, status="paused")
    assert paused.status == "paused" and paused.display_name == "After"
    active = await client.inboxes.update(inbox_id=inbox.inbox_id, status="active")
    assert active.status is None

    cleared = await client.inboxes.update(inbox_id=inbox.inbox_id, display_name=None)
    assert cleared.display_name is None
    assert (await client.inboxes.get(inbox_id=inbox.inbox_id)) == cleared


async def test_update_metadata_merges(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(username="meta", metadata={"a": 1, "b": "two", "c": True})
    merged = await client.inboxes.update(inbox_id=inbox.inbox_id, metadata={"b": None, "d": "new", "a": 10})
    assert merged.metadata == {"a": 10, "c": True, "d": "new"}
    # Removing a key that is not there is fine.
    same = await client.inboxes.update(inbox_id=inbox.inbox_id, metadata={"zzz": None})
    assert same.metadata == {"a": 10, "c": True, "d": "new"}
    # Removing every key leaves no metadata.
    emptied = await client.inboxes.update(inbox_id=inbox.inbox_id, metadata={"a": None, "c": None, "d": None})
    assert not emptied.metadata
    refilled = await client.inboxes.update(inbox_id=inbox.inbox_id, metadata={"x": "y"})
    assert refilled.metadata == {"x": "y"}
    # metadata=None clears everything.
    cleared = await client.inboxes.update(inbox_id=inbox.inbox_id, metadata=None)
    assert cleared.metadata is None
    assert (await client.inboxes.get(inbox_id=inbox.inbox_id)).metadata is None


async def test_update_metadata_empty_object_is_rejected(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(username="meta", metadata={"a": 1})
    with expect(ValidationError, "validation_error"):
        await client.inboxes.update(inbox_id=inbox.inbox_id, metadata={})
    assert (await client.inboxes.get(inbox_id=inbox.inbox_id)).metadata == {"a": 1}


async def test_update_metadata_limits_apply_to_the_merge(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(username="meta", metadata={f"k{i}": i for i in range(200)})
    with expect(ValidationError, "validation_error"):
        await client.inboxes.update(inbox_id=inbox.inbox_id, metadata={f"n{i}": i for i in range(57)})
    for bad in ({"k": "v" * 257}, {"k" * 257: 1}, {"k": [1]}):
        with expect(ValidationError, "validation_error"):
            await client.inboxes.update(inbox_id=inbox.inbox_id, metadata=bad)
    # 56 more keys make exactly 256: allowed.
    ok = await client.inboxes.update(inbox_id=inbox.inbox_id, metadata={f"n{i}": i for i in range(56)})
    assert ok.metadata is not None and len(ok.metadata) == 256


async def test_update_needs_a_field(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(username="nofield")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.update(inbox_id=inbox.inbox_id)


@pytest.mark.parametrize("kwargs", [{"status": "deleted"}, {"display_name": "a\r\nb"}, {"display_name": 5}])
async def test_update_invalid_values(client: AsyncAgentInbox, kwargs: dict[str, Any]) -> None:
    inbox = await client.inboxes.create(username="bad", display_name="Keep")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.update(inbox_id=inbox.inbox_id, **kwargs)
    after = await client.inboxes.get(inbox_id=inbox.inbox_id)
    assert after.display_name == "Keep" and after.status is None


async def test_update_unknown_inbox(client: AsyncAgentInbox) -> None:
    with expect(NotFoundError, "not_found"):
        await client.inboxes.update(inbox_id="ghost@agents.test", display_name="x")


# -- delete ----------------------------------------------------------------------------------------------------------


async def test_delete_cascades_and_leaves_other_inboxes(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    c = await client.inboxes.create(username="c")
    attachment = {"filename": "notes.txt", "content": b"shared attachment bytes\n"}
    sent = await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="Hello", text="Hi b", attachments=[attachment]
    )
    clock.advance(10)
    received = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=sent.message_id)
    reply = await client.inboxes.messages.reply(
        inbox_id=b.inbox_id, message_id=received.message_id, text="Hi a"
    )
    clock.advance(10)
    draft = await client.inboxes.drafts.create(
        inbox_id=a.inbox_id, to=[c.inbox_id], subject="Draft", text="x"
    )
    other = await client.inboxes.messages.send(
        inbox_id=c.inbox_id, to=[b.inbox_id], subject="Other", text="c to b"
    )

    await client.inboxes.delete(inbox_id=a.inbox_id)

    with expect(NotFoundError, "not_found"):
        await client.inboxes.get(inbox_id=a.inbox_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.get(inbox_id=a.inbox_id, message_id=sent.message_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.list(inbox_id=a.inbox_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.list(inbox_id=a.inbox_id)
    with expect(NotFoundError, "not_found"):
        await client.threads.get(thread_id=sent.thread_id)
    with expect(NotFoundError, "not_found"):
        await client.drafts.get(draft_id=draft.draft_id)
    assert (await client.drafts.list()).count == 0
    org_threads = await client.threads.list(labels=["sent"], include_trash=True)
    assert {t.inbox_id for t in org_threads.threads} <= {b.inbox_id, c.inbox_id}
    all_threads = await client.threads.list()
    assert all(t.inbox_id != a.inbox_id for t in all_threads.threads)

    # b keeps its own copies, attachment and raw bytes included (blobs shared with a's copies survive).
    kept = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=sent.message_id)
    assert kept.attachments and kept.attachments[0].filename == "notes.txt"
    content = await client.inboxes.messages.get_attachment(
        inbox_id=b.inbox_id, message_id=kept.message_id, attachment_id=kept.attachments[0].attachment_id
    )
    assert content.content == b"shared attachment bytes\n"
    raw = await client.inboxes.messages.get_raw(inbox_id=b.inbox_id, message_id=kept.message_id)
    assert b"Subject: Hello" in raw.content
    b_thread = await client.inboxes.threads.get(inbox_id=b.inbox_id, thread_id=reply.thread_id)
    assert b_thread.message_count == 2
    assert (await client.inboxes.messages.list(inbox_id=b.inbox_id)).count == 3
    assert (
        await client.inboxes.messages.get(inbox_id=c.inbox_id, message_id=other.message_id)
    ).subject == "Other"
    assert {i.inbox_id for i in (await client.inboxes.list()).inboxes} == {b.inbox_id, c.inbox_id}

    # Deleting again is a NotFoundError; the address is free to be created again, empty.
    with expect(NotFoundError, "not_found"):
        await client.inboxes.delete(inbox_id=a.inbox_id)
    again = await client.inboxes.create(username="a")
    assert again.inbox_id == a.inbox_id
    assert (await client.inboxes.messages.list(inbox_id=again.inbox_id)).count == 0
    assert (await client.inboxes.threads.list(inbox_id=again.inbox_id, labels=["sent"])).count == 0
    assert (await client.inboxes.drafts.list(inbox_id=again.inbox_id)).count == 0


async def test_delete_frees_client_id(client: AsyncAgentInbox) -> None:
    first = await client.inboxes.create(client_id="cid-1")
    await client.inboxes.delete(inbox_id=first.inbox_id)
    second = await client.inboxes.create(client_id="cid-1")
    assert second.inbox_id != first.inbox_id
    assert (await client.inboxes.get(inbox_id=second.inbox_id)).client_id == "cid-1"


async def test_delete_unknown_inbox(client: AsyncAgentInbox) -> None:
    with expect(NotFoundError, "not_found"):
        await client.inboxes.delete(inbox_id="ghost@agents.test")


async def test_concurrent_creates_with_one_client_id(client: AsyncAgentInbox) -> None:
    results = await asyncio.gather(
        *(client.inboxes.create(client_id="racer") for _ in range(6)), return_exceptions=True
    )
    inboxes = [r for r in results if isinstance(r, Inbox)]
    others = [r for r in results if not isinstance(r, Inbox)]
    assert inboxes, results
    assert all(i.inbox_id == inboxes[0].inbox_id for i in inboxes)
    assert all(isinstance(o, AgentInboxError) for o in others), others
    assert (await client.inboxes.list()).count == 1


async def test_concurrent_creates_of_one_username(client: AsyncAgentInbox) -> None:
    results = await asyncio.gather(
        *(client.inboxes.create(username="same") for _ in range(6)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, Inbox)]
    refused = [r for r in results if not isinstance(r, Inbox)]
    assert len(created) == 1, results
    assert all(isinstance(r, UnprocessableError) for r in refused), refused
    assert (await client.inboxes.list()).count == 1
