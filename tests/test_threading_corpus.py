"""Threading against notmuch's ground truth: the same partition of messages into threads, in any arrival order.

notmuch threads by Message-ID, In-Reply-To and References only. agentinbox adds one rule notmuch lacks:
a message with no references at all may join a recent thread with the same subject that shares a
participant. Where that rule changes a grouping, the test names the messages and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpus

from agentinbox import AsyncAgentInbox
from agentinbox.mail.parse import parse_message

# Differences from notmuch, keyed by (corpus, arrival order): message ids that notmuch keeps in separate
# threads and agentinbox joins through its subject rule.
SUBJECT_RULE_MERGES: dict[tuple[str, str], list[set[str]]] = {
    # threading/ghost-root/real-root ("root message", Alice to Daniel, no references) arrives, in reverse
    # order, before any message that references it, while threading/parent-priority/cur/root, also
    # "root message" from Alice to Daniel one day earlier, is already a thread. The subject rule joins the
    # two conversations, and every descendant of real-root follows through its References. In file order
    # the references come first and decide, so the rule never fires.
    ("threading", "reversed"): [{"000-real-root@example.org", "B00-root@example.org"}],
}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _expected(name: str) -> set[frozenset[str]]:
    truth = json.loads((corpus("notmuch", "ground_truth") / f"threads_{name}.json").read_text())
    return {frozenset(ids) for ids in truth.values()}


async def _partition(client: AsyncAgentInbox, files: list[Path]) -> set[frozenset[str]]:
    inbox = await client.inboxes.create(username="list")
    for path in files:
        await client.deliver(path.read_bytes(), rcpt_to=[inbox.inbox_id])
    groups: dict[str, set[str]] = {}
    page = None
    while True:
        listing = await client.inboxes.messages.list(inbox_id=inbox.inbox_id, limit=100, page_token=page)
        for item in listing.messages:
            raw = await client.inboxes.messages.get_raw(inbox_id=inbox.inbox_id, message_id=item.message_id)
            rfc_id = parse_message(raw.content).message_id
            if rfc_id is not None:
                groups.setdefault(item.thread_id, set()).add(rfc_id.strip("<>"))
        page = listing.next_page_token
        if page is None:
            break
    return {frozenset(ids) for ids in groups.values()}


@pytest.mark.parametrize("name", ["default", "threading", "lkml"])
@pytest.mark.parametrize("order", ["sorted", "reversed"])
async def test_threads_match_notmuch(client: AsyncAgentInbox, name: str, order: str) -> None:
    files = _files(corpus("notmuch", name))
    if order == "reversed":
        files.reverse()
    expected = _expected(name)
    for merged in SUBJECT_RULE_MERGES.get((name, order), []):
        parts = {group for group in expected if group & merged}
        expected = (expected - parts) | {frozenset().union(*parts)}
    actual = await _partition(client, files)
    # notmuch lists only messages it has as files; ids seen only in references are not messages here either.
    missing = set().union(*expected) - set().union(*actual)
    assert not missing, f"messages not stored: {sorted(missing)[:5]}"
    assert actual == expected, {
        "only_agentinbox": sorted(sorted(g) for g in actual - expected)[:5],
        "only_notmuch": sorted(sorted(g) for g in expected - actual)[:5],
    }
