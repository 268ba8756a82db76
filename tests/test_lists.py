"""Allow/block lists (reference §7): entries at three scopes, the verdict they give, blocked inbound mail
(over ``deliver`` and over SMTP) and refused sends, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
import pytest
from helpers import serving
from sqlalchemy import func, select

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.errors import MessageRejectedError, NotFoundError, ValidationError
from agentinbox.models import ListEntry, ListListEntriesResponse, PodListEntry, PodListListEntriesResponse
from agentinbox.store.tables import events, list_entries, messages

AGENT = "agent@agents.test"


def raw(sender: str, subject: str = "Hello", *, in_reply_to: str | None = None, to: str = AGENT) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if in_reply_to is not None:
        lines.append(f"In-Reply-To: {in_reply_to}")
    return ("\r\n".join(lines) + "\r\n\r\nBody.\r\n").encode()


async def setup(client: AsyncAgentInbox) -> tuple[str, str]:
    """An inbox AGENT in a new pod, and a second inbox in the same pod: (pod_id, other inbox id)."""
    pod = await client.pods.create(name="Team")
    await client.pods.inboxes.create(pod_id=pod.pod_id, username="agent")
    other = await client.pods.inboxes.create(pod_id=pod.pod_id, username="other")
    return pod.pod_id, other.inbox_id


async def event_types(client: AsyncAgentInbox) -> list[str]:
    ctx = await client._context()
    query = select(events.c.event_type).order_by(events.c.id)
    return await ctx.db.read(lambda conn: [row[0] for row in conn.execute(query)])


async def stored_count(client: AsyncAgentInbox) -> int:
    ctx = await client._context()
    return await ctx.db.read(lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar())


async def test_crud_at_each_scope(client: AsyncAgentInbox) -> None:
    pod_id, _ = await setup(client)
    org = await client.lists.create(direction="receive", type="block", entry="Spam.Example", reason="noise")
    assert isinstance(org, ListEntry) and not isinstance(org, PodListEntry)
    assert (org.entry, org.entry_type, org.direction, org.list_type, org.reason) == (
        "spam.example",
        "domain",
        "receive",
        "block",
        "noise",
    )
    assert org.organization_id
    pod = await client.pods.lists.create(
        pod_id=pod_id, direction="send", type="allow", entry="Bob@Example.com"
    )
    assert isinstance(pod, PodListEntry) and pod.pod_id == pod_id and pod.inbox_id is None
    assert (pod.entry, pod.entry_type) == ("bob@example.com", "email")
    box = await client.inboxes.lists.create(
        inbox_id=AGENT, direction="reply", type="block", entry="x.example"
    )
    assert isinstance(box, PodListEntry) and (box.pod_id, box.inbox_id) == (pod_id, AGENT)

    # Adding again returns the first entry (a retried create must not fail or duplicate).
    again = await client.lists.create(direction="receive", type="block", entry="spam.example", reason="other")
    assert again == org

    for name in ("c.example", "a.example", "b.example"):
        await client.lists.create(direction="receive", type="block", entry=name)
    page = await client.lists.list(direction="receive", type="block", limit=2)
    assert isinstance(page, ListListEntriesResponse)
    assert [e.entry for e in page.entries] == ["a.example", "b.example"] and page.next_page_token
    rest = await client.lists.list(
        direction="receive", type="block", limit=2, page_token=page.next_page_token
    )
    assert [e.entry for e in rest.entries] == ["c.example", "spam.example"] and rest.next_page_token is None
    assert (await client.lists.list(direction="receive", type="allow")).count == 0

    pod_page = await client.pods.lists.list(pod_id=pod_id, direction="send", type="allow")
    assert isinstance(pod_page, PodListListEntriesResponse) and [e.entry for e in pod_page.entries] == [
        "bob@example.com"
    ]
    inbox_page = await client.inboxes.lists.list(inbox_id=AGENT, direction="reply", type="block")
    assert [e.entry for e in inbox_page.entries] == ["x.example"]
    # Scopes do not see each other's entries.
    assert (await client.lists.list(direction="reply", type="block")).count == 0
    assert (await client.pods.lists.list(pod_id=pod_id, direction="reply", type="block")).count == 0

    got = await client.pods.lists.get(pod_id=pod_id, direction="send", type="allow", entry="BOB@example.com")
    assert got == pod
    assert (
        await client.inboxes.lists.get(inbox_id=AGENT, direction="reply", type="block", entry="x.example")
        == box
    )
    with pytest.raises(NotFoundError):
        await client.lists.get(direction="send", type="allow", entry="bob@example.com")

    await client.inboxes.lists.delete(inbox_id=AGENT, direction="reply", type="block", entry="x.example")
    with pytest.raises(NotFoundError):
        await client.inboxes.lists.delete(inbox_id=AGENT, direction="reply", type="block", entry="x.example")
    await client.lists.delete(direction="receive", type="block", entry="spam.example")
    assert [e.entry for e in (await client.lists.list(direction="receive", type="block")).entries] == [
        "a.example",
        "b.example",
        "c.example",
    ]


async def test_bad_input(client: AsyncAgentInbox) -> None:
    await setup(client)
    bad_entries: list[Any] = [
        "",
        "  ",
        None,
        42,
        "not a domain",
        "example",
        "user@",
        "@example.com",
        "Bob <bob@example.com>",
        "a@b@c.example",
        "exa mple.com",
        "line\nbreak.example",
        "[192.0.2.1]",
    ]
    for entry in bad_entries:
        with pytest.raises(ValidationError) as caught:
            await client.lists.create(direction="receive", type="block", entry=entry)
        assert caught.value.errors[0]["path"][0] == "entry", entry
    for direction, type_ in (("inbound", "block"), ("send", "deny"), (None, "allow"), ("send", None)):
        with pytest.raises(ValidationError) as caught:
            await client.lists.create(direction=direction, type=type_, entry="a.example")  # type: ignore[arg-type]
        assert caught.value.errors[0]["path"] in (["direction"], ["type"])
        with pytest.raises(ValidationError):
            await client.lists.list(direction=direction, type=type_)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await client.lists.create(direction="send", type="block", entry="a.example", reason=7)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await client.lists.create(direction="send", type="block", entry="a.example", reason="x" * 1001)
    with pytest.raises(NotFoundError):
        await client.inboxes.lists.create(
            inbox_id="nobody@agents.test", direction="send", type="block", entry="a.b"
        )
    with pytest.raises(NotFoundError):
        await client.pods.lists.list(pod_id="no-such-pod", direction="send", type="block")
    with pytest.raises(NotFoundError):
        await client.inboxes.lists.get(
            inbox_id="nobody@agents.test", direction="send", type="block", entry="a.b"
        )
    with pytest.raises(ValidationError):
        await client.lists.list(direction="send", type="block", page_token="garbage")
    assert (await client.lists.list(direction="receive", type="block")).count == 0


async def test_inbound_block_and_scope_precedence(client: AsyncAgentInbox) -> None:
    pod_id, other = await setup(client)
    await client.lists.create(direction="receive", type="block", entry="bad.example")
    [blocked] = await client.deliver(raw("Mallory <m@bad.example>"), rcpt_to=[AGENT])
    assert "blocked" in blocked.labels
    # The pod allows one address of the blocked domain: its scope is more specific, so it decides.
    await client.pods.lists.create(
        pod_id=pod_id, direction="receive", type="allow", entry="friend@bad.example"
    )
    [friend] = await client.deliver(raw("friend@bad.example", "From a friend"), rcpt_to=[AGENT])
    assert "blocked" not in friend.labels
    # The pod's allow list is now non-empty: senders it does not name are refused for the pod's inboxes ...
    [stranger, copy] = await client.deliver(raw("s@elsewhere.example", "Stranger"), rcpt_to=[AGENT, other])
    assert "blocked" in stranger.labels and "blocked" in copy.labels
    # ... unless the inbox's own lists name them: the inbox scope decides before the pod's.
    await client.inboxes.lists.create(
        inbox_id=AGENT, direction="receive", type="allow", entry="elsewhere.example"
    )
    [mine, theirs] = await client.deliver(raw("s@elsewhere.example", "Again"), rcpt_to=[AGENT, other])
    assert "blocked" not in mine.labels and "blocked" in theirs.labels
    # Within one scope an address entry outranks a domain entry.
    await client.inboxes.lists.create(
        inbox_id=AGENT, direction="receive", type="block", entry="s@elsewhere.example"
    )
    [again] = await client.deliver(raw("s@elsewhere.example", "Third"), rcpt_to=[AGENT])
    assert "blocked" in again.labels
    [colleague] = await client.deliver(raw("t@elsewhere.example", "Colleague"), rcpt_to=[AGENT])
    assert "blocked" not in colleague.labels
    # A subdomain is another domain.
    await client.inboxes.lists.create(
        inbox_id=AGENT, direction="receive", type="allow", entry="mail.bad.example"
    )
    [sub] = await client.deliver(raw("x@mail.bad.example", "Sub"), rcpt_to=[AGENT])
    assert "blocked" not in sub.labels

    # Blocked mail is stored, hidden from lists, and announced only as message.received.blocked.
    listed = await client.inboxes.messages.list(inbox_id=AGENT)
    assert {m.message_id for m in listed.messages} == {
        friend.message_id,
        mine.message_id,
        colleague.message_id,
        sub.message_id,
    }
    hidden = await client.inboxes.messages.list(inbox_id=AGENT, include_blocked=True)
    assert {blocked.message_id, stranger.message_id, again.message_id} <= {
        m.message_id for m in hidden.messages
    }
    types = await event_types(client)
    assert types.count("message.received.blocked") == 5 and types.count("message.received") == 4


async def test_envelope_sender_and_org_allow(client: AsyncAgentInbox) -> None:
    await setup(client)
    await client.lists.create(direction="receive", type="block", entry="bounce@relay.example")
    [by_envelope] = await client.deliver(
        raw("ok@good.example"), mail_from="bounce@relay.example", rcpt_to=[AGENT]
    )
    assert "blocked" in by_envelope.labels
    [fine] = await client.deliver(raw("ok@good.example", "2"), mail_from="ok@good.example", rcpt_to=[AGENT])
    assert "blocked" not in fine.labels
    # An organization allow list admits only what it names (the From address decides).
    await client.lists.create(direction="receive", type="allow", entry="good.example")
    [allowed] = await client.deliver(
        raw("ok@good.example", "3"), mail_from="x@other.example", rcpt_to=[AGENT]
    )
    assert "blocked" not in allowed.labels
    [refused] = await client.deliver(raw("who@other.example", "4"), rcpt_to=[AGENT])
    assert "blocked" in refused.labels
    # Senders no entry could name (NUL, an unencodable character) match nothing and do not break the store.
    [odd] = await client.deliver(
        raw("ok@good.example", "5"), mail_from="x\x00@relay.example", rcpt_to=[AGENT]
    )
    assert "blocked" not in odd.labels
    [no_from] = await client.deliver(b"To: agent@agents.test\r\nSubject: 6\r\n\r\nx\r\n", mail_from="\x00")
    assert "blocked" in no_from.labels  # nothing names it, and the allow list admits only good.example


async def test_replies_to_our_mail_use_only_the_reply_lists(client: AsyncAgentInbox) -> None:
    await setup(client)
    sent = await client.inboxes.messages.send(
        inbox_id=AGENT, to="vendor@partner.example", subject="Quote?", text="?"
    )
    await client.lists.create(direction="receive", type="block", entry="partner.example")
    # A reply to our own message ignores the receive lists; the reply lists are empty, so it is allowed.
    [reply] = await client.deliver(raw("vendor@partner.example", "Re: Quote?", in_reply_to=sent.message_id))
    assert "blocked" not in reply.labels
    [cold] = await client.deliver(raw("vendor@partner.example", "Cold"), rcpt_to=[AGENT])
    assert "blocked" in cold.labels
    # A reply block list applies to replies only.
    await client.inboxes.lists.create(
        inbox_id=AGENT, direction="reply", type="block", entry="vendor@partner.example"
    )
    [second] = await client.deliver(
        raw("vendor@partner.example", "Re: Quote? 2", in_reply_to=sent.message_id)
    )
    assert "blocked" in second.labels
    # In-Reply-To naming a message we did not send is not a reply: the receive lists apply.
    await client.lists.delete(direction="receive", type="block", entry="partner.example")
    [fake] = await client.deliver(
        raw("vendor@partner.example", "Re: x", in_reply_to="<unknown@partner.example>")
    )
    assert "blocked" not in fake.labels


async def test_sends_to_refused_recipients_are_rejected_before_storing(client: AsyncAgentInbox) -> None:
    pod_id, other = await setup(client)
    await client.lists.create(direction="send", type="block", entry="competitor.example")
    before = await stored_count(client)
    with pytest.raises(MessageRejectedError) as caught:
        await client.inboxes.messages.send(
            inbox_id=AGENT, to="ally@friends.example", bcc="spy@competitor.example", subject="Plans", text="x"
        )
    assert caught.value.code == "message_rejected"
    assert await stored_count(client) == before and await event_types(client) == []

    # A pod allow list: only the addresses it names (and what the inbox allows) may be sent to.
    await client.pods.lists.create(pod_id=pod_id, direction="send", type="allow", entry="friends.example")
    await client.inboxes.messages.send(inbox_id=AGENT, to="ally@friends.example", subject="Hi", text="x")
    with pytest.raises(MessageRejectedError):
        await client.inboxes.messages.send(inbox_id=AGENT, to="someone@else.example", subject="Hi", text="x")
    # The inbox allows a colleague inbox; the org block list does not name it, so the send goes through.
    await client.inboxes.lists.create(inbox_id=AGENT, direction="send", type="allow", entry=other)
    await client.inboxes.messages.send(inbox_id=AGENT, to=other, subject="Internal", text="x")

    # Replies, forwards and drafts are checked the same way.
    [incoming] = await client.deliver(raw("ally@friends.example", "Question"), rcpt_to=[AGENT])
    await client.inboxes.messages.reply(inbox_id=AGENT, message_id=incoming.message_id, text="Answer")
    with pytest.raises(MessageRejectedError):
        await client.inboxes.messages.forward(
            inbox_id=AGENT, message_id=incoming.message_id, to="x@competitor.example"
        )
    draft = await client.inboxes.drafts.create(
        inbox_id=AGENT, to=["y@else.example"], subject="Draft", text="x"
    )
    with pytest.raises(MessageRejectedError):
        await client.inboxes.drafts.send(inbox_id=AGENT, draft_id=draft.draft_id)
    await client.inboxes.drafts.get(inbox_id=AGENT, draft_id=draft.draft_id)  # kept, not sent

    count = await stored_count(client)
    await client.pods.lists.delete(pod_id=pod_id, direction="send", type="allow", entry="friends.example")
    with pytest.raises(MessageRejectedError):  # the inbox's allow list still names only the colleague
        await client.inboxes.drafts.send(inbox_id=AGENT, draft_id=draft.draft_id)
    await client.inboxes.lists.delete(inbox_id=AGENT, direction="send", type="allow", entry=other)
    await client.inboxes.drafts.send(inbox_id=AGENT, draft_id=draft.draft_id)
    assert await stored_count(client) == count + 1


async def test_blocked_over_smtp(database_url: str, clock: ManualClock) -> None:
    async with serving(database_url, clock, "desk", smtp_listen="127.0.0.1:0") as server:
        await server.inboxes.lists.create(
            inbox_id="desk@agents.test", direction="receive", type="block", entry="spam.example"
        )
        host, port = server.smtp_address or ("", 0)
        for sender, subject in (("junk@spam.example", "Junk"), ("carol@example.com", "Fine")):
            message = raw(sender, subject, to="desk@agents.test")
            errors, _ = await aiosmtplib.send(
                message, sender=sender, recipients=["desk@agents.test"], hostname=host, port=port
            )
            assert errors == {}
        assert server._receiving is not None
        await asyncio.wait_for(server._receiving.worker.idle(), timeout=30)
        listed = await server.inboxes.messages.list(inbox_id="desk@agents.test")
        assert [m.subject for m in listed.messages] == ["Fine"]
        hidden = await server.inboxes.messages.list(inbox_id="desk@agents.test", include_blocked=True)
        by_subject = {m.subject: m.labels for m in hidden.messages}
        assert "blocked" in by_subject["Junk"] and "blocked" not in by_subject["Fine"]
        assert sorted(await event_types(server)) == ["message.received", "message.received.blocked"]


async def test_deleting_an_inbox_or_pod_drops_its_entries(client: AsyncAgentInbox) -> None:
    pod_id, other = await setup(client)
    await client.inboxes.lists.create(inbox_id=AGENT, direction="receive", type="block", entry="bad.example")
    await client.inboxes.lists.create(inbox_id=other, direction="receive", type="block", entry="bad.example")
    await client.inboxes.delete(inbox_id=AGENT)
    again = await client.pods.inboxes.create(pod_id=pod_id, username="agent")
    assert (
        await client.inboxes.lists.list(inbox_id=again.inbox_id, direction="receive", type="block")
    ).count == 0
    [fresh] = await client.deliver(raw("m@bad.example"), rcpt_to=[AGENT])
    assert "blocked" not in fresh.labels
    assert (await client.inboxes.lists.list(inbox_id=other, direction="receive", type="block")).count == 1

    empty = await client.pods.create(name="Empty")
    await client.pods.lists.create(pod_id=empty.pod_id, direction="send", type="block", entry="x.example")
    await client.pods.delete(pod_id=empty.pod_id)
    ctx = await client._context()
    scopes = await ctx.db.read(lambda conn: [r[0] for r in conn.execute(select(list_entries.c.scope))])
    assert scopes == [f"inbox:{other}"]


async def test_smtp_submission_to_a_blocked_recipient_is_refused(
    database_url: str, clock: ManualClock
) -> None:
    async with serving(database_url, clock, "desk", submission_listen="127.0.0.1:0") as server:
        key = await server.inboxes.api_keys.create(inbox_id="desk@agents.test")
        await server.lists.create(direction="send", type="block", entry="blocked.example")
        host, port = server.submission_address or ("", 0)
        message = raw("desk@agents.test", "Out", to="x@blocked.example")
        smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=30)
        await smtp.connect()
        try:
            await smtp.ehlo()
            await smtp.auth_plain("desk@agents.test", key.api_key)
            with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
                await smtp.sendmail("desk@agents.test", ["x@blocked.example"], message)
        finally:
            smtp.close()
        assert caught.value.code == 552
        assert await stored_count(server) == 0


def test_the_sync_client_has_the_same_namespaces(database_url: str) -> None:
    with AgentInbox(database_url=database_url, default_domain="agents.test") as client:
        inbox = client.inboxes.create(username="agent")
        entry = client.inboxes.lists.create(
            inbox_id=inbox.inbox_id, direction="receive", type="block", entry="bad.example"
        )
        assert isinstance(entry, PodListEntry) and entry.inbox_id == inbox.inbox_id
        assert client.pods.lists.list(pod_id=inbox.pod_id, direction="receive", type="block").count == 0
        assert client.lists.create(direction="send", type="block", entry="x@y.example").entry_type == "email"
        [message] = client.deliver(raw("m@bad.example"), rcpt_to=[inbox.inbox_id])
        assert "blocked" in message.labels
        with pytest.raises(MessageRejectedError):
            client.inboxes.messages.send(inbox_id=inbox.inbox_id, to="x@y.example", subject="s", text="t")
