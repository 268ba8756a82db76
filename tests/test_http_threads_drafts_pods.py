"""Threads, drafts and pods over the HTTP API, driven by the official ``agentmail`` SDK (and raw httpx for
what the SDK cannot send): every scope, signed attachment links, draft scheduling and sending, idempotent
creates, and the typed errors of unknown ids, system labels, malformed bodies and foreign pods."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from agentmail import AsyncAgentMail, SendAttachment
from agentmail.core.api_error import ApiError
from agentmail.errors import NotFoundError, ValidationError
from http_api import Served, serving

REPORT = b"quarter,revenue\nq1,100\nq2,120\n"


async def _mail(served: Served, sender: str, recipient: str, subject: str, **fields: Any) -> str:
    """Send ``subject`` from ``sender`` to ``recipient`` through the API; the received message's thread."""
    waiting = asyncio.create_task(served.engine.wait_for_message(inbox_id=recipient, timeout=15))
    await asyncio.sleep(0.01)
    sdk = served.sdk()
    await sdk.inboxes.messages.send(
        sender, to=[recipient], subject=subject, text=f"About {subject}.", **fields
    )
    return (await waiting).thread_id


def _http(served: Served, api_key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {api_key or served.api_key}"}
    return httpx.AsyncClient(base_url=served.base_url, headers=headers, timeout=10)


def _thread_ids(listed: Any) -> set[str]:
    return {thread.thread_id for thread in listed.threads}


async def _assert_bad_request(response: httpx.Response, path_part: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["name"] == "ValidationError" and body["code"] == "validation_error"
    assert body["message"].strip() and body["errors"], body
    if path_part is not None:
        assert any(path_part in error["path"] for error in body["errors"]), body


async def test_threads_at_inbox_org_and_pod_scope(database_url: str) -> None:
    async with serving(database_url) as served:
        sdk = served.sdk()
        pod = await sdk.pods.create(name="Support")
        ann = (await sdk.pods.inboxes.create(pod.pod_id, username="ann")).inbox_id
        bob = (await sdk.pods.inboxes.create(pod.pod_id, username="bob")).inbox_id
        attachment = SendAttachment(
            filename="report.csv", content_type="text/csv", content=base64.b64encode(REPORT).decode()
        )
        numbers = await _mail(served, ann, bob, "Quarterly numbers", attachments=[attachment])
        lunch = await _mail(served, ann, bob, "Lunch on Friday")

        # Lists: the received threads, newest first, at every scope; the sender's only with labels=sent.
        listed = await sdk.inboxes.threads.list(bob)
        assert [t.thread_id for t in listed.threads] == [lunch, numbers] and listed.count == 2
        assert {"received", "unread"} <= set(listed.threads[0].labels)
        assert _thread_ids(await sdk.inboxes.threads.list(bob, labels=["unread", "received"])) == {
            lunch,
            numbers,
        }
        assert _thread_ids(await sdk.inboxes.threads.list(bob, subject=["quarterly"])) == {numbers}
        assert _thread_ids(await sdk.inboxes.threads.list(bob, senders=["ann@"], limit=1)) == {lunch}
        assert (await sdk.inboxes.threads.list(ann)).count == 0
        sent = _thread_ids(await sdk.inboxes.threads.list(ann, labels=["sent"]))
        assert len(sent) == 2
        assert {lunch, numbers} <= _thread_ids(await sdk.threads.list())
        assert {lunch, numbers} <= _thread_ids(await sdk.pods.threads.list(pod.pod_id))
        assert _thread_ids(await sdk.pods.threads.list(pod.pod_id, labels=["sent"])) == sent
        first = await sdk.threads.list(limit=1, labels=["received"])
        assert first.count == 1 and first.next_page_token
        rest = await sdk.threads.list(limit=1, labels=["received"], page_token=first.next_page_token)
        assert _thread_ids(first) | _thread_ids(rest) == {lunch, numbers}

        # Get: the thread and its messages, with bodies, at every scope.
        thread = await sdk.inboxes.threads.get(bob, numbers)
        assert thread.subject == "Quarterly numbers" and thread.message_count == 1 and thread.count == 1
        assert thread.messages[0].text.strip() == "About Quarterly numbers."
        assert (await sdk.threads.get(numbers)).inbox_id == bob
        assert (await sdk.pods.threads.get(pod.pod_id, numbers, limit=5)).thread_id == numbers

        # Search at every scope.
        assert _thread_ids(await sdk.inboxes.threads.search(bob, q="quarterly")) == {numbers}
        assert numbers in _thread_ids(await sdk.threads.search(q="quarterly"))
        assert numbers in _thread_ids(await sdk.pods.threads.search(pod.pod_id, q="quarterly numbers"))

        # Attachments: a signed link that needs no Authorization header, at every scope.
        [attached] = thread.attachments or []
        assert attached.filename == "report.csv"
        for found in (
            await sdk.inboxes.threads.get_attachment(bob, numbers, attached.attachment_id),
            await sdk.threads.get_attachment(numbers, attached.attachment_id),
            await sdk.pods.threads.get_attachment(pod.pod_id, numbers, attached.attachment_id),
        ):
            assert found.size == len(REPORT) and found.expires_at > datetime.now(UTC)
            async with httpx.AsyncClient(timeout=10) as plain:
                downloaded = await plain.get(found.download_url)
            assert downloaded.status_code == 200 and downloaded.content == REPORT

        # Labels: trash hides a thread from lists until include_trash; remove restores it.
        updated = await sdk.inboxes.threads.update(bob, numbers, add_labels=["trash", "Billing"])
        assert updated.thread_id == numbers and {"trash", "billing"} <= set(updated.labels)
        assert _thread_ids(await sdk.inboxes.threads.list(bob)) == {lunch}
        assert numbers not in _thread_ids(await sdk.threads.list())
        assert numbers in _thread_ids(await sdk.inboxes.threads.list(bob, include_trash=True))
        assert numbers in _thread_ids(await sdk.pods.threads.list(pod.pod_id, include_trash=True))
        restored = await sdk.pods.threads.update(pod.pod_id, numbers, remove_labels=["trash"])
        assert "trash" not in restored.labels
        assert numbers in _thread_ids(await sdk.threads.list(labels=["billing"]))
        # A single label as a string (not a list) is accepted too.
        async with _http(served) as http:
            response = await http.patch(
                f"/v0/threads/{lunch}", json={"add_labels": "read", "remove_labels": "unread"}
            )
        assert response.status_code == 200, response.text
        assert "read" in response.json()["labels"] and "unread" not in response.json()["labels"]

        # Delete at every scope: gone afterwards.
        [ann_numbers, ann_lunch] = sorted(sent)
        await sdk.inboxes.threads.delete(bob, numbers)
        await sdk.threads.delete(lunch)
        await sdk.pods.threads.delete(pod.pod_id, ann_numbers)
        for gone in (
            sdk.inboxes.threads.get(bob, numbers),
            sdk.threads.get(lunch),
            sdk.pods.threads.get(pod.pod_id, ann_numbers),
        ):
            with pytest.raises(NotFoundError):
                await gone
        assert _thread_ids(await sdk.threads.list(labels=["sent"])) == {ann_lunch}


async def test_thread_errors(database_url: str) -> None:
    async with serving(database_url) as served:
        sdk = served.sdk()
        ours = await sdk.pods.create(name="ours")
        theirs = await sdk.pods.create(name="theirs")
        ann = (await sdk.pods.inboxes.create(ours.pod_id, username="ann")).inbox_id
        eve = (await sdk.pods.inboxes.create(theirs.pod_id, username="eve")).inbox_id
        thread_id = await _mail(served, eve, ann, "Private")

        # Unknown threads, inboxes and pods are 404 at every scope.
        for missing in (
            sdk.threads.get("thd_missing"),
            sdk.inboxes.threads.get(ann, "thd_missing"),
            sdk.pods.threads.get(ours.pod_id, "thd_missing"),
            sdk.pods.threads.list("pod_missing"),
            sdk.inboxes.threads.list("nobody@agentinbox.localhost"),
            sdk.threads.update("thd_missing", add_labels=["x"]),
            sdk.threads.delete("thd_missing"),
            sdk.threads.get_attachment(thread_id, "att_missing"),
            # The thread is in ann's inbox, not eve's, and in pod ours, not theirs.
            sdk.inboxes.threads.get(eve, thread_id),
            sdk.pods.threads.get(theirs.pod_id, thread_id),
        ):
            with pytest.raises(NotFoundError) as caught:
                await missing
            assert caught.value.status_code == 404

        # System labels cannot be added or removed; an empty change says what to give.
        for change in ({"add_labels": ["sent"]}, {"remove_labels": ["received"]}, {}):
            with pytest.raises(ValidationError) as refused:
                await sdk.inboxes.threads.update(ann, thread_id, **change)
            assert refused.value.status_code == 400 and refused.value.body.errors

        # A pod's key sees its own pod's threads and nothing of another pod's.
        key = await served.engine.pods.api_keys.create(pod_id=theirs.pod_id, name="theirs")
        scoped = served.sdk(api_key=key.api_key)
        assert thread_id not in _thread_ids(await scoped.threads.list(include_trash=True))
        assert (await scoped.pods.threads.list(theirs.pod_id, labels=["sent"])).count == 1
        for hidden in (
            scoped.threads.get(thread_id),
            scoped.inboxes.threads.get(ann, thread_id),
            scoped.pods.threads.get(ours.pod_id, thread_id),
            scoped.pods.threads.list(ours.pod_id),
            scoped.threads.delete(thread_id),
        ):
            with pytest.raises(NotFoundError):
                await hidden
        assert (await sdk.threads.get(thread_id)).thread_id == thread_id

        async with _http(served) as http:
            # Malformed JSON, wrong types, bad list parameters and bad datetimes are 400s with errors.
            response = await http.patch(
                f"/v0/threads/{thread_id}",
                content=b'{"add_labels": [',
                headers={"Content-Type": "application/json"},
            )
            await _assert_bad_request(response)
            await _assert_bad_request(
                await http.patch(f"/v0/threads/{thread_id}", json={"add_labels": 5}), "add_labels"
            )
            await _assert_bad_request(await http.get("/v0/threads", params={"labels": '["a", '}), "labels")
            await _assert_bad_request(await http.get("/v0/threads", params={"before": "yesterday"}), "before")
            await _assert_bad_request(await http.get("/v0/threads", params={"limit": "0"}), "limit")
            await _assert_bad_request(await http.get("/v0/threads/search"), "q")
            # Odd characters in ids are ids like any other: not found, never a server error.
            for odd in ("100%", "%3Cx%3E", "a+b", "<thd>"):
                response = await http.get(f"/v0/threads/{odd}")
                assert response.status_code == 404, (odd, response.text)
                assert response.json()["name"] == "NotFoundError"
            # Repeated keys work as a list, like a JSON array does.
            listed = await http.get(
                f"/v0/inboxes/{ann}/threads", params=[("labels", "received"), ("labels", "unread")]
            )
            assert [t["thread_id"] for t in listed.json()["threads"]] == [thread_id]
        async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as anonymous:  # no key: 401
            assert (await anonymous.get("/v0/threads")).status_code == 401


async def test_drafts(database_url: str) -> None:
    async with serving(database_url) as served:
        sdk = served.sdk()
        pod = await sdk.pods.create(name="drafting")
        ann = (await sdk.pods.inboxes.create(pod.pod_id, username="ann")).inbox_id
        bob = (await sdk.pods.inboxes.create(pod.pod_id, username="bob")).inbox_id
        attachment = SendAttachment(filename="notes.txt", content=base64.b64encode(b"draft notes").decode())

        draft = await sdk.inboxes.drafts.create(
            ann, to=[bob], subject="Plan", text="The plan.", labels=["Ideas"], attachments=[attachment]
        )
        assert draft.inbox_id == ann and draft.to == [bob] and draft.labels == ["ideas"]
        assert draft.send_status is None and draft.send_at is None

        # Get and list at every scope.
        assert (await sdk.inboxes.drafts.get(ann, draft.draft_id)).subject == "Plan"
        assert (await sdk.drafts.get(draft.draft_id)).text == "The plan."
        assert (await sdk.pods.drafts.get(pod.pod_id, draft.draft_id)).inbox_id == ann
        for listed in (
            await sdk.inboxes.drafts.list(ann),
            await sdk.drafts.list(labels=["ideas"]),
            await sdk.pods.drafts.list(pod.pod_id, ascending=True),
        ):
            assert [d.draft_id for d in listed.drafts] == [draft.draft_id] and listed.count == 1
        assert (await sdk.inboxes.drafts.list(bob)).count == 0

        # Attachment links at every scope, fetched without a key.
        [attached] = draft.attachments or []
        for found in (
            await sdk.inboxes.drafts.get_attachment(ann, draft.draft_id, attached.attachment_id),
            await sdk.drafts.get_attachment(draft.draft_id, attached.attachment_id),
            await sdk.pods.drafts.get_attachment(pod.pod_id, draft.draft_id, attached.attachment_id),
        ):
            async with httpx.AsyncClient(timeout=10) as plain:
                assert (await plain.get(found.download_url)).content == b"draft notes"

        # PATCH: left out stays, null clears; send_at schedules and null unschedules.
        cleared = await sdk.inboxes.drafts.update(ann, draft.draft_id, subject=None, cc=["carol@example.com"])
        assert cleared.subject is None and cleared.text == "The plan." and cleared.cc == ["carol@example.com"]
        later = datetime.now(UTC) + timedelta(days=30)
        scheduled = await sdk.inboxes.drafts.update(ann, draft.draft_id, send_at=later, subject="Plan B")
        assert scheduled.send_status == "scheduled" and "scheduled" in scheduled.labels
        assert scheduled.send_at is not None and abs((scheduled.send_at - later).total_seconds()) < 1
        assert [d.draft_id for d in (await sdk.drafts.list(labels=["scheduled"])).drafts] == [draft.draft_id]
        unscheduled = await sdk.inboxes.drafts.update(ann, draft.draft_id, send_at=None, cc=None)
        assert unscheduled.send_status is None and "scheduled" not in unscheduled.labels
        assert unscheduled.cc is None and unscheduled.subject == "Plan B"
        # A send_at with an offset, as raw JSON.
        async with _http(served) as http:
            response = await http.patch(
                f"/v0/inboxes/{ann}/drafts/{draft.draft_id}", json={"send_at": "2099-01-02T03:04:05+02:00"}
            )
        assert response.status_code == 200, response.text
        assert response.json()["send_at"].startswith("2099-01-02T01:04:05")
        assert response.json()["send_status"] == "scheduled"

        # Send: the draft is gone, the message went out and arrived.
        waiting = asyncio.create_task(served.engine.wait_for_message(inbox_id=bob, timeout=15))
        await asyncio.sleep(0.01)
        sent = await sdk.inboxes.drafts.send(
            ann, draft.draft_id, add_labels=["launch"], idempotency_key="send-1"
        )
        again = await sdk.inboxes.drafts.send(
            ann, draft.draft_id, add_labels=["launch"], idempotency_key="send-1"
        )
        assert again.message_id == sent.message_id
        received = await waiting
        assert received.subject == "Plan B" and received.text and "The plan." in received.text
        with pytest.raises(NotFoundError):
            await sdk.inboxes.drafts.get(ann, draft.draft_id)
        message = await sdk.inboxes.messages.get(ann, sent.message_id)
        assert {"sent", "launch"} <= set(message.labels) and message.thread_id == sent.thread_id

        # Idempotent create: the same client_id returns the first draft, 200.
        first = await sdk.inboxes.drafts.create(ann, to=[bob], subject="Once", client_id="draft-once")
        second = await sdk.inboxes.drafts.create(ann, to=[bob], subject="Twice", client_id="draft-once")
        assert (
            second.draft_id == first.draft_id
            and second.subject == "Once"
            and second.client_id == "draft-once"
        )

        # Delete; afterwards it is unknown everywhere.
        await sdk.inboxes.drafts.delete(ann, first.draft_id)
        for gone in (
            sdk.inboxes.drafts.get(ann, first.draft_id),
            sdk.drafts.get(first.draft_id),
            sdk.pods.drafts.get(pod.pod_id, first.draft_id),
            sdk.inboxes.drafts.delete(ann, first.draft_id),
            sdk.inboxes.drafts.send(ann, first.draft_id),
            sdk.inboxes.drafts.update(ann, first.draft_id, subject="x"),
            sdk.drafts.get_attachment(first.draft_id, "att_missing"),
            sdk.pods.drafts.list("pod_missing"),
        ):
            with pytest.raises(NotFoundError):
                await gone


async def test_draft_errors(database_url: str) -> None:
    async with serving(database_url) as served:
        sdk = served.sdk()
        ann = (await sdk.inboxes.create()).inbox_id
        draft = await sdk.inboxes.drafts.create(ann, to=["carol@example.com"], subject="Hello")
        for bad in (
            sdk.inboxes.drafts.update(ann, draft.draft_id, add_labels=["sent"]),
            sdk.inboxes.drafts.update(ann, draft.draft_id, add_labels=["scheduled"]),
            sdk.inboxes.drafts.update(ann, draft.draft_id),
            sdk.inboxes.drafts.create(ann, labels=["delivered"]),
            sdk.inboxes.drafts.create(ann, in_reply_to="<a@b>", forward_of="<c@d>"),
            sdk.inboxes.drafts.create(ann, to=["not an address"]),
            sdk.inboxes.drafts.send(ann, draft.draft_id, add_labels=["bounced"]),
        ):
            with pytest.raises(ValidationError) as refused:
                await bad
            assert refused.value.status_code == 400 and refused.value.body.errors
        async with _http(served) as http:
            base = f"/v0/inboxes/{ann}/drafts"
            as_json = {"Content-Type": "application/json"}
            await _assert_bad_request(await http.post(base, content=b"{not json", headers=as_json))
            await _assert_bad_request(
                await http.patch(f"{base}/{draft.draft_id}", content=b"{", headers=as_json)
            )
            await _assert_bad_request(await http.post(base, json={"send_at": "next week"}), "send_at")
            await _assert_bad_request(await http.post(base, json={"to": [1, 2]}), "to")
            await _assert_bad_request(await http.get(base, params={"ascending": "maybe"}), "ascending")
            # Nulls on create mean "not given" (the agent toolkits send every field).
            response = await http.post(
                base, json={"to": None, "subject": "Nulls", "attachments": None, "send_at": None}
            )
            assert response.status_code == 200, response.text
            assert response.json()["subject"] == "Nulls" and "send_at" not in response.json()
            # Sending with no body at all.
            response = await http.post(f"{base}/{response.json()['draft_id']}/send")
            assert response.status_code == 422, response.text  # no recipients
            for odd in ("100%", "%3Cd%3E", "a+b"):
                assert (await http.get(f"{base}/{odd}")).status_code == 404
                assert (await http.get(f"/v0/drafts/{odd}")).status_code == 404


async def test_pods(database_url: str) -> None:
    async with serving(database_url) as served:
        sdk = served.sdk()
        named = await sdk.pods.create(name="Sales", client_id="sales-v1")
        assert named.name == "Sales" and named.client_id == "sales-v1" and named.pod_id
        again = await sdk.pods.create(name="Sales again", client_id="sales-v1")
        assert again.pod_id == named.pod_id and again.name == "Sales"
        unnamed = await sdk.pods.create()
        assert unnamed.name and unnamed.pod_id != named.pod_id
        async with _http(served) as http:
            response = await http.post("/v0/pods")  # no body at all
            assert response.status_code == 200 and response.json()["pod_id"], response.text
            bodiless = response.json()["pod_id"]
            await _assert_bad_request(
                await http.post("/v0/pods", content=b"[", headers={"Content-Type": "application/json"})
            )
            await _assert_bad_request(await http.post("/v0/pods", json={"name": ["x"]}), "name")
            assert (await http.get("/v0/pods/100%25x")).status_code == 404

        listed = await sdk.pods.list()
        ids = [pod.pod_id for pod in listed.pods]
        assert {named.pod_id, unnamed.pod_id, bodiless} <= set(ids) and listed.count == len(ids)
        assert ids.index(bodiless) < ids.index(named.pod_id)  # newest first
        oldest_first = [pod.pod_id for pod in (await sdk.pods.list(ascending=True)).pods]
        assert oldest_first == ids[::-1]
        page = await sdk.pods.list(limit=1)
        assert page.count == 1 and page.next_page_token
        assert (await sdk.pods.list(limit=1, page_token=page.next_page_token)).pods[0].pod_id == ids[1]
        assert (await sdk.pods.get(named.pod_id)).name == "Sales"

        with pytest.raises(ValidationError):
            await sdk.pods.create(name="   ")
        # A pod that still has inboxes is not deleted; an empty one is.
        await sdk.pods.inboxes.create(named.pod_id, username="seller")
        with pytest.raises(ApiError) as refused:
            await sdk.pods.delete(named.pod_id, request_options={"max_retries": 0})
        assert refused.value.status_code in (403, 409) and refused.value.body["code"] == "cannot_delete"
        await sdk.pods.delete(unnamed.pod_id)
        for gone in (
            sdk.pods.get(unnamed.pod_id),
            sdk.pods.delete(unnamed.pod_id),
            sdk.pods.get("pod_missing"),
        ):
            with pytest.raises(NotFoundError):
                await gone
        assert unnamed.pod_id not in [pod.pod_id for pod in (await sdk.pods.list()).pods]

        # A pod's key sees only its pod, and cannot create or delete pods.
        key = await served.engine.pods.api_keys.create(pod_id=named.pod_id)
        scoped: AsyncAgentMail = served.sdk(api_key=key.api_key)
        assert [pod.pod_id for pod in (await scoped.pods.list()).pods] == [named.pod_id]
        with pytest.raises(NotFoundError):
            await scoped.pods.get(bodiless)
        with pytest.raises(ApiError) as forbidden:
            await scoped.pods.create(name="mine")
        assert forbidden.value.status_code == 403
