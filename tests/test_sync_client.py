"""The blocking AgentInbox: the same namespaces as the async engine, run on a private event-loop thread."""

from __future__ import annotations

import gc
import threading
import warnings
from pathlib import Path

import pytest

from agentinbox import (
    AgentInbox,
    AsyncAgentInbox,
    ConflictError,
    Inbox,
    NotFoundError,
    SendMessageResponse,
    Settings,
    UnprocessableError,
    ValidationError,
)
from agentinbox._clock import ManualClock


def url(tmp_path: Path, name: str = "x.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


def loop_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "agentinbox-loop")


def test_round_trip(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000_000_000)
    client = AgentInbox(database_url=url(tmp_path), default_domain="agents.test", clock=clock)
    try:
        support = client.inboxes.create(username="support", display_name="Support")
        alice = client.inboxes.create(username="alice")
        assert isinstance(support, Inbox) and support.inbox_id == "support@agents.test"

        sent = client.inboxes.messages.send(
            inbox_id=alice.inbox_id, to=[support.inbox_id], subject="Help", text="Please help", labels=["ask"]
        )
        assert isinstance(sent, SendMessageResponse)
        threads = client.inboxes.threads.list(inbox_id=support.inbox_id, labels=["unread"])
        assert threads.count == 1 and threads.threads[0].subject == "Help"
        thread = client.threads.get(thread_id=threads.threads[0].thread_id)
        received = thread.messages[-1]
        assert received.message_id == sent.message_id
        assert received.text and received.text.strip() == "Please help"

        clock.advance(60)
        reply = client.inboxes.messages.reply(
            inbox_id=support.inbox_id, message_id=received.message_id, text="Sure"
        )
        assert reply.thread_id == thread.thread_id
        alice_view = client.inboxes.threads.get(inbox_id=alice.inbox_id, thread_id=sent.thread_id)
        assert [m.message_id for m in alice_view.messages] == [sent.message_id, reply.message_id]
        assert alice_view.messages[-1].subject == "Re: Help"

        marked = client.inboxes.messages.update(
            inbox_id=alice.inbox_id, message_id=reply.message_id, remove_labels=["unread"]
        )
        assert "unread" not in marked.labels
        listed = client.inboxes.messages.list(inbox_id=alice.inbox_id)
        assert [m.message_id for m in listed.messages] == [reply.message_id, sent.message_id]

        draft = client.inboxes.drafts.create(inbox_id=alice.inbox_id, to=[support.inbox_id], text="later")
        assert client.drafts.get(draft_id=draft.draft_id).draft_id == draft.draft_id
        client.inboxes.drafts.send(inbox_id=alice.inbox_id, draft_id=draft.draft_id)
        assert client.drafts.list().count == 0
        default_pod = client.pods.list().pods[0]
        assert client.pods.inboxes.list(pod_id=default_pod.pod_id).count == 2

        raw = client.inboxes.messages.get_raw(inbox_id=support.inbox_id, message_id=sent.message_id)
        delivered = client.deliver(raw.content.replace(sent.message_id.encode(), b"<copy@example.com>"),
                                   rcpt_to=[alice.inbox_id])  # fmt: skip
        assert [m.inbox_id for m in delivered] == [alice.inbox_id]
    finally:
        client.close()


def test_context_manager_and_reopen(tmp_path: Path) -> None:
    before = loop_threads()
    with AgentInbox(database_url=url(tmp_path), default_domain="agents.test") as client:
        assert loop_threads() == before + 1
        inbox = client.inboxes.create(username="persist", client_id="keep")
        client.inboxes.messages.send(inbox_id=inbox.inbox_id, to=["x@example.com"], subject="s", text="t")
    assert loop_threads() == before  # the loop thread is stopped on exit
    with AgentInbox(database_url=url(tmp_path), default_domain="agents.test") as again:
        assert again.inboxes.get(inbox_id=inbox.inbox_id) == inbox
        assert again.inboxes.create(client_id="keep") == inbox
        assert again.inboxes.threads.list(inbox_id=inbox.inbox_id, labels=["sent"]).count == 1


def test_close_is_idempotent(tmp_path: Path) -> None:
    before = loop_threads()
    client = AgentInbox(database_url=url(tmp_path), default_domain="agents.test")
    client.inboxes.create(username="a")
    client.close()
    client.close()
    assert loop_threads() == before
    # Closing a client that never opened its database is fine too.
    unused = AgentInbox(database_url=url(tmp_path, "unused.db"))
    unused.close()
    unused.close()
    assert loop_threads() == before
    with AgentInbox(database_url=url(tmp_path, "ctx.db")) as ctx:
        ctx.close()  # closing inside the block, then again on exit
    assert loop_threads() == before


def test_errors_propagate_with_their_types(tmp_path: Path) -> None:
    with AgentInbox(database_url=url(tmp_path), default_domain="agents.test") as client:
        a = client.inboxes.create(username="a")
        with pytest.raises(NotFoundError) as not_found:
            client.inboxes.get(inbox_id="ghost@agents.test")
        assert not_found.value.code == "not_found" and not_found.value.message
        with pytest.raises(ValidationError) as invalid:
            client.inboxes.messages.send(inbox_id=a.inbox_id, to=["not an address"], text="x")
        assert invalid.value.code == "validation_error" and invalid.value.message
        with pytest.raises(UnprocessableError) as unprocessable:
            client.inboxes.messages.send(inbox_id=a.inbox_id, text="nobody")
        assert unprocessable.value.code == "unprocessable" and unprocessable.value.message
        with pytest.raises(UnprocessableError):
            client.inboxes.create(username="a")
        client.inboxes.messages.send(inbox_id=a.inbox_id, to=["x@example.com"], text="1", idempotency_key="k")
        with pytest.raises(ConflictError) as conflict:
            client.inboxes.messages.send(
                inbox_id=a.inbox_id, to=["x@example.com"], text="2", idempotency_key="k"
            )
        assert conflict.value.code == "conflict" and conflict.value.message
        # The client keeps working after errors.
        assert client.inboxes.list().count == 1


def test_settings_and_async_client(tmp_path: Path) -> None:
    settings = Settings(database_url=url(tmp_path), default_domain="agents.test")
    with AgentInbox(settings=settings) as client:
        assert client.settings.default_domain == "agents.test"
        assert isinstance(client.async_client, AsyncAgentInbox)
        assert client.inboxes.create(username="x").inbox_id == "x@agents.test"
    with pytest.raises(ValidationError) as both:
        AgentInbox(settings=settings, default_domain="other.test")
    assert both.value.code == "validation_error" and both.value.message
    with pytest.raises(ValidationError) as bad_domain:
        AgentInbox(database_url=url(tmp_path, "y.db"), default_domain="not a domain")
    assert bad_domain.value.code == "validation_error" and bad_domain.value.message


def test_default_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTINBOX_DATABASE_URL", "AGENTINBOX_DEFAULT_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with AgentInbox() as client:
        inbox = client.inboxes.create(username="bot")
        assert inbox.inbox_id == "bot@agentinbox.localhost"
    assert (tmp_path / "agentinbox.db").exists()


def test_namespaces_mirror_the_async_client(tmp_path: Path) -> None:
    with AgentInbox(database_url=url(tmp_path)) as client:
        for path in (
            "inboxes.create", "inboxes.list", "inboxes.get", "inboxes.update", "inboxes.delete", "inboxes.search",
            "inboxes.messages.send", "inboxes.messages.reply", "inboxes.messages.reply_all",
            "inboxes.messages.forward", "inboxes.messages.list", "inboxes.messages.get", "inboxes.messages.update",
            "inboxes.messages.delete", "inboxes.messages.search", "inboxes.messages.get_raw",
            "inboxes.messages.get_attachment", "inboxes.messages.batch_get", "inboxes.messages.batch_update",
            "inboxes.threads.list", "inboxes.threads.get", "inboxes.threads.update", "inboxes.threads.delete",
            "inboxes.threads.search", "inboxes.drafts.create", "inboxes.drafts.list", "inboxes.drafts.get",
            "inboxes.drafts.update", "inboxes.drafts.delete", "inboxes.drafts.send", "threads.list", "threads.get",
            "threads.search", "drafts.list", "drafts.get", "pods.create", "pods.list", "pods.get", "pods.delete",
            "pods.inboxes.create", "pods.threads.list", "pods.drafts.list",
            "domains.create", "domains.list", "domains.get", "domains.update", "domains.delete", "domains.verify",
            "domains.get_zone_file", "domains.rotate_dkim_key", "domains.delete_dkim_key",
            "api_keys.create", "api_keys.list", "api_keys.get", "api_keys.update", "api_keys.delete",
            "inboxes.api_keys.create", "inboxes.api_keys.list", "pods.api_keys.create", "pods.api_keys.list",
            "start", "deliver",
        ):  # fmt: skip
            target: object = client
            for part in path.split("."):
                target = getattr(target, part)
            assert callable(target), path
            assert "messages" in dir(client.inboxes)


def test_a_closed_client_says_so_and_leaves_no_coroutine_behind(tmp_path: Path) -> None:
    client = AgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path / 'closed.db'}")
    client.inboxes.list()
    client.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a never-awaited coroutine would warn
        with pytest.raises(RuntimeError, match="closed"):
            client.inboxes.list()
        gc.collect()
