"""The HTTP API's inbox and message routes and its wire conventions, driven by the official ``agentmail``
SDK and, for what the SDK never sends, raw httpx: bearer auth, error bodies, JSON-array query parameters,
nulls meaning "not given", a create with no body, percent-encoded ids, idempotency keys, and signed
download links that need no key but cannot be forged, altered or used after they expire."""

from __future__ import annotations

import asyncio
import base64
import json
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from agentmail import SendAttachment
from agentmail.core.api_error import ApiError
from agentmail.errors import NotFoundError, ValidationError
from agentmail.inboxes import CreateInboxRequest
from http_api import Served, serving

from agentinbox.server.downloads import DownloadSigner

PDF = b"%PDF-1.4\n% a tiny file\n" + bytes(range(256))


def _http(served: Served, api_key: str | None = None) -> httpx.AsyncClient:
    headers = {} if api_key == "" else {"Authorization": f"Bearer {api_key or served.api_key}"}
    return httpx.AsyncClient(base_url=served.base_url, headers=headers, timeout=10)


def _raw(
    to: str, subject: str, *, sender: str = "Carol <carol@client.example>", body: str = "Hi.\n"
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return bytes(msg)


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["name"] and body["message"], body
    if status == 400:
        assert isinstance(body["errors"], list) and body["errors"], body
        assert all({"path", "message"} <= set(error) for error in body["errors"]), body
    return body


async def test_inboxes_through_the_sdk(database_url: str) -> None:
    async with serving(database_url) as served:
        sdk = served.sdk()
        created = await sdk.inboxes.create()  # no body at all: every default
        assert created.inbox_id == created.email and created.pod_id
        request = CreateInboxRequest(username="support", display_name="Support", client_id="support-v1")
        first = await sdk.inboxes.create(request=request)
        again = await sdk.inboxes.create(request=request)
        assert again.inbox_id == first.inbox_id == "support@agentinbox.localhost"
        assert first.display_name == "Support" and first.client_id == "support-v1"

        listed = await sdk.inboxes.list(limit=1)
        assert listed.count == 1 and listed.next_page_token
        rest = await sdk.inboxes.list(limit=10, page_token=listed.next_page_token)
        assert {i.inbox_id for i in [*listed.inboxes, *rest.inboxes]} == {created.inbox_id, first.inbox_id}
        assert rest.next_page_token is None
        found = await sdk.inboxes.search(q="supp")
        assert [i.inbox_id for i in found.inboxes] == [first.inbox_id]

        updated = await sdk.inboxes.update(
            first.inbox_id, display_name="Help desk", metadata={"tier": "gold"}
        )
        assert updated.display_name == "Help desk" and updated.metadata == {"tier": "gold"}
        assert (await sdk.inboxes.get(first.inbox_id)).display_name == "Help desk"

        await sdk.inboxes.delete(created.inbox_id)
        with pytest.raises(NotFoundError):
            await sdk.inboxes.get(created.inbox_id)
        with pytest.raises(NotFoundError):
            await sdk.inboxes.delete(created.inbox_id)


async def test_inbox_bodies_full_of_nulls_and_bad_bodies(database_url: str) -> None:
    async with serving(database_url) as served, _http(served) as http:
        nulls = {"username": None, "domain": None, "display_name": None, "client_id": None, "metadata": None}
        response = await http.post("/v0/inboxes", json=nulls)
        assert response.status_code == 200 and response.json()["inbox_id"]

        _error(
            await http.post(
                "/v0/inboxes", content=b"{not json", headers={"content-type": "application/json"}
            ),
            400,
            "validation_error",
        )
        _error(await http.post("/v0/inboxes", json={"username": 5}), 400, "validation_error")
        _error(await http.post("/v0/inboxes", json=["a"]), 400, "validation_error")
        _error(await http.post("/v0/inboxes", json={"status": "sleeping"}), 400, "validation_error")
        _error(await http.post("/v0/inboxes", json={"username": "a b"}), 400, "validation_error")
        _error(
            await http.post("/v0/inboxes", json={"username": "x", "domain": "not a domain"}),
            400,
            "validation_error",
        )
        await http.post("/v0/inboxes", json={"username": "taken"})
        _error(await http.post("/v0/inboxes", json={"username": "taken"}), 422, "already_exists")
        inbox = "taken@agentinbox.localhost"
        _error(await http.patch(f"/v0/inboxes/{inbox}", json={}), 400, "validation_error")
        _error(await http.patch(f"/v0/inboxes/{inbox}", json={"metadata": {}}), 400, "validation_error")
        _error(await http.get("/v0/inboxes", params={"limit": "lots"}), 400, "validation_error")
        _error(await http.get("/v0/inboxes", params={"limit": "0"}), 400, "validation_error")
        _error(await http.get("/v0/inboxes", params={"page_token": "forged"}), 400, "validation_error")
        _error(await http.get("/v0/inboxes", params={"ascending": "maybe"}), 400, "validation_error")
        _error(await http.get("/v0/inboxes/search"), 400, "validation_error")


async def test_authentication_and_unknown_routes(database_url: str) -> None:
    async with serving(database_url) as served:
        async with _http(served, api_key="") as anonymous:
            body = _error(await anonymous.get("/v0/inboxes"), 401, "missing_authorization")
            assert body["name"] == "UnauthorizedError"
            response = await anonymous.get("/v0/inboxes", headers={"Authorization": "Basic dXNlcjpwYXNz"})
            _error(response, 401, "missing_authorization")
        async with _http(served, api_key="am_not_a_key") as stranger:
            _error(await stranger.get("/v0/inboxes"), 401, "unknown_api_key")
        with pytest.raises(ApiError) as refused:
            await served.sdk(api_key="am_wrong").inboxes.list()
        assert refused.value.status_code == 401
        async with _http(served) as http:
            _error(await http.get("/v0/no-such-thing"), 404, "not_found")
            _error(await http.put("/v0/inboxes"), 405, "method_not_allowed")
            openapi = (await http.get("/v0/openapi.json")).json()
            assert "/v0/inboxes/{inbox_id}/messages/send" in openapi["paths"]


async def test_messages_send_list_read_label_and_delete(database_url: str) -> None:
    async with serving(database_url) as served:
        sdk = served.sdk()
        ann = (await sdk.inboxes.create(request=CreateInboxRequest(username="ann"))).inbox_id
        bob = (await sdk.inboxes.create(request=CreateInboxRequest(username="bob"))).inbox_id
        waiting = asyncio.create_task(served.engine.wait_for_message(inbox_id=bob, timeout=15))
        await asyncio.sleep(0.01)
        attachment = SendAttachment(filename="terms.pdf", content=base64.b64encode(PDF).decode())
        sent = await sdk.inboxes.messages.send(
            ann,
            to=bob,  # one string, as the SDK allows
            subject="Terms",
            text="Terms attached.\n",
            html="<p>Terms attached.</p>",
            labels=["Contracts"],
            attachments=[attachment],
            idempotency_key="terms-1",
        )
        again = await sdk.inboxes.messages.send(
            ann, to=bob, subject="Terms", text="Terms attached.\n", html="<p>Terms attached.</p>",
            labels=["Contracts"], attachments=[attachment], idempotency_key="terms-1",
        )  # fmt: skip
        assert again.message_id == sent.message_id and again.thread_id == sent.thread_id
        received = await waiting

        mine = await sdk.inboxes.messages.get(ann, sent.message_id)
        assert {"contracts", "sent"} <= set(mine.labels)  # and "delivered" once the local delivery is done
        message = await sdk.inboxes.messages.get(bob, received.message_id)
        assert message.from_ == ann and message.to == [bob] and message.subject == "Terms"
        assert message.text == "Terms attached.\n" and message.extracted_text
        assert set(message.labels) == {"received", "unread"}
        [attached] = message.attachments or []
        assert attached.filename == "terms.pdf" and attached.size == len(PDF)
        assert attached.content_type == "application/pdf"

        listed = await sdk.inboxes.messages.list(bob, labels=["unread", "received"])
        assert [m.message_id for m in listed.messages] == [received.message_id]
        assert (await sdk.inboxes.messages.list(bob, labels=["unread", "important"])).count == 0
        assert (await sdk.inboxes.messages.list(bob, from_=["ann@"], subject=["erm"])).count == 1
        assert (await sdk.inboxes.messages.list(bob, from_=["nobody"])).count == 0
        assert (await sdk.inboxes.messages.search(bob, q="terms")).count == 1

        updated = await sdk.inboxes.messages.update(
            bob, received.message_id, remove_labels="unread", add_labels=["Read"]
        )
        assert set(updated.labels) == {"received", "read"}
        assert (await sdk.inboxes.messages.list(bob, labels=["unread"])).count == 0
        with pytest.raises(ValidationError):
            await sdk.inboxes.messages.update(bob, received.message_id, add_labels=["sent"])

        batch = await sdk.inboxes.messages.batch_get(bob, message_ids=[received.message_id, "<missing@x>"])
        assert batch.count == 1 and batch.messages[0].message_id == received.message_id
        relabelled = await sdk.inboxes.messages.batch_update(
            bob, message_ids=[received.message_id], add_labels="archived"
        )
        assert "archived" in relabelled.updates[0].labels

        # The links: the attachment and the raw message, fetched without any key.
        link = await sdk.inboxes.messages.get_attachment(bob, received.message_id, attached.attachment_id)
        assert link.size == len(PDF) and link.expires_at is not None
        raw = await sdk.inboxes.messages.get_raw(bob, received.message_id)
        async with httpx.AsyncClient(timeout=10) as plain:
            fetched = await plain.get(link.download_url)
            assert fetched.status_code == 200 and fetched.content == PDF
            assert fetched.headers["content-type"] == "application/pdf"
            eml = await plain.get(raw.download_url)
            assert (
                eml.status_code == 200 and len(eml.content) == raw.size and b"Subject: Terms" in eml.content
            )

        await sdk.inboxes.messages.delete(bob, received.message_id)
        with pytest.raises(NotFoundError):
            await sdk.inboxes.messages.get(bob, received.message_id)


async def test_send_errors(database_url: str) -> None:
    async with serving(database_url) as served, _http(served) as http:
        inbox = (await http.post("/v0/inboxes", json={"username": "ann"})).json()["inbox_id"]
        send = f"/v0/inboxes/{inbox}/messages/send"
        _error(await http.post(send, json={"subject": "No one", "text": "x"}), 422, "unprocessable")
        _error(await http.post(send, json={"to": "not an address", "text": "x"}), 400, "validation_error")
        _error(await http.post(send, json={"to": 7}), 400, "validation_error")
        _error(
            await http.post(send, json={"to": ["b@x.example"], "headers": {"Bcc\r\nX": "y"}}),
            400,
            "validation_error",
        )
        bad_attachment = {"to": ["b@x.example"], "attachments": [{"filename": "a", "content": "***"}]}
        _error(await http.post(send, json=bad_attachment), 400, "validation_error")
        by_url = {"to": ["b@x.example"], "attachments": [{"filename": "a", "url": "https://example.com/a"}]}
        _error(await http.post(send, json=by_url), 400, "validation_error")
        _error(
            await http.post(
                "/v0/inboxes/nobody@agentinbox.localhost/messages/send", json={"to": "b@x.example"}
            ),
            404,
            "not_found",
        )

        # The toolkit's shape: every field present, most of them null.
        full_of_nulls = {
            "labels": None, "to": ["b@x.example"], "cc": None, "bcc": None, "reply_to": None, "subject": "s",
            "text": "hi", "html": None, "headers": None,
            "attachments": [{"filename": "a.txt", "content_id": None, "content": "aGk=", "url": None}],
        }  # fmt: skip
        response = await http.post(send, json=full_of_nulls)
        assert response.status_code == 200 and response.json()["message_id"].startswith("<")

        key = {"Idempotency-Key": "once"}
        first = await http.post(send, json={"to": "b@x.example", "text": "one"}, headers=key)
        assert first.status_code == 200
        repeat = await http.post(send, json={"to": "b@x.example", "text": "one"}, headers=key)
        assert repeat.json() == first.json()
        _error(await http.post(send, json={"to": "b@x.example", "text": "two"}, headers=key), 409, "conflict")


async def test_ids_with_awkward_characters_are_decoded_once_and_never_fail(database_url: str) -> None:
    async with serving(database_url) as served, _http(served) as http:
        sdk = served.sdk()
        inbox = (await sdk.inboxes.create(request=CreateInboxRequest(username="a+tag"))).inbox_id
        assert inbox == "a+tag@agentinbox.localhost"
        assert (await sdk.inboxes.get(inbox)).inbox_id == inbox  # '+' stays a plus
        [stored] = await served.engine.deliver(_raw(inbox, "Odd id"), rcpt_to=[inbox])
        message = await sdk.inboxes.messages.get(inbox, stored.message_id)  # '<', '>' and '@' in the path
        assert message.message_id == stored.message_id
        encoded = f"/v0/inboxes/{quote(inbox)}/messages/{quote(stored.message_id, safe='')}"
        assert (await http.get(encoded)).json()["message_id"] == stored.message_id
        for odd in ("%", "%zz", "<a%b>", "a+b@c", "%00", "x" * 2000, " "):
            response = await http.get(f"/v0/inboxes/{inbox}/messages/{quote(odd, safe='%<>+@')}")
            assert response.status_code in (400, 404), (odd, response.text)
            assert response.json()["code"] in ("not_found", "validation_error")


async def test_json_array_and_repeated_query_parameters(database_url: str) -> None:
    async with serving(database_url) as served, _http(served) as http:
        inbox = (await http.post("/v0/inboxes", json={"username": "ann"})).json()["inbox_id"]
        await served.engine.deliver(_raw(inbox, "First"), rcpt_to=[inbox])
        [second] = await served.engine.deliver(_raw(inbox, "Second"), rcpt_to=[inbox])
        await served.engine.inboxes.messages.update(
            inbox_id=inbox, message_id=second.message_id, add_labels=["vip"]
        )
        path = f"/v0/inboxes/{inbox}/messages"
        as_json = await http.get(path, params={"labels": json.dumps(["vip", "unread"])})
        assert [m["subject"] for m in as_json.json()["messages"]] == ["Second"]
        repeated = await http.get(path, params=[("labels", "vip"), ("labels", "unread")])
        assert repeated.json() == as_json.json()
        bare = await http.get(path, params={"labels": "unread"})
        assert bare.json()["count"] == 2
        _error(await http.get(path, params={"labels": '["vip"'}), 400, "validation_error")
        _error(await http.get(path, params={"labels": "[1, 2]"}), 400, "validation_error")
        after = await http.get(path, params={"after": "2000-01-01T00:00:00+02:00", "ascending": "true"})
        assert [m["subject"] for m in after.json()["messages"]] == ["First", "Second"]
        _error(await http.get(path, params={"after": "yesterday"}), 400, "validation_error")
        page = (await http.get(path, params={"limit": 1})).json()
        assert page["count"] == 1 and page["limit"] == 1 and page["next_page_token"]
        last = (await http.get(path, params={"limit": 1, "page_token": page["next_page_token"]})).json()
        assert last["count"] == 1 and "next_page_token" not in last


async def test_download_links_cannot_be_forged_altered_or_reused_after_expiry(database_url: str) -> None:
    async with serving(database_url) as served, _http(served) as http:
        inbox = (await http.post("/v0/inboxes", json={"username": "ann"})).json()["inbox_id"]
        [stored] = await served.engine.deliver(_raw(inbox, "Secret"), rcpt_to=[inbox])
        raw = (await http.get(f"/v0/inboxes/{inbox}/messages/{stored.message_id}/raw")).json()
        token = parse_qs(urlsplit(raw["download_url"]).query)["token"][0]
        async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as plain:
            assert (await plain.get("/v0/downloads", params={"token": token})).status_code == 200
            payload, signature = token.split(".")
            flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
            for bad in (f"{flipped}.{signature}", f"{payload}.{signature[:-1]}", payload, "", "a.b.c", "%%%"):
                _error(await plain.get("/v0/downloads", params={"token": bad}), 404, "not_found")
            # A token signed by another server's secret, and one of ours that has expired.
            other = DownloadSigner("another secret").token(["raw", inbox, stored.message_id], 4_000_000_000)
            _error(await plain.get("/v0/downloads", params={"token": other}), 404, "not_found")
            signer: DownloadSigner = served.engine._http.app.state.downloads  # type: ignore[union-attr]
            expired = signer.token(["raw", inbox, stored.message_id], 1_000_000_000)
            _error(await plain.get("/v0/downloads", params={"token": expired}), 404, "not_found")
            # A valid link to a message deleted since: gone, not an error of the server.
            await served.engine.inboxes.messages.delete(inbox_id=inbox, message_id=stored.message_id)
            _error(await plain.get("/v0/downloads", params={"token": token}), 404, "not_found")


async def test_a_scoped_key_reaches_only_its_inbox(database_url: str) -> None:
    async with serving(database_url) as served:
        engine = served.engine
        mine = await engine.inboxes.create(username="mine")
        other = await engine.inboxes.create(username="other")
        key = (await engine.inboxes.api_keys.create(inbox_id=mine.inbox_id)).api_key
        [theirs] = await engine.deliver(_raw(other.inbox_id, "Not yours"), rcpt_to=[other.inbox_id])
        sdk = served.sdk(api_key=key)
        assert [i.inbox_id for i in (await sdk.inboxes.list()).inboxes] == [mine.inbox_id]
        with pytest.raises(NotFoundError):
            await sdk.inboxes.messages.get(other.inbox_id, theirs.message_id)
        with pytest.raises(NotFoundError):
            await sdk.inboxes.messages.send(other.inbox_id, to="x@y.example", text="x")
        with pytest.raises(ApiError) as refused:
            await sdk.inboxes.create()
        assert refused.value.status_code == 403


async def test_bodies_over_the_limit_are_refused_before_they_are_read(database_url: str) -> None:
    async with serving(database_url, max_message_size=30_000) as served, _http(served) as http:
        inbox = (await http.post("/v0/inboxes", json={"username": "ann"})).json()["inbox_id"]
        send = f"/v0/inboxes/{inbox}/messages/send"
        big = {"to": "b@x.example", "text": "x" * 1_200_000}
        _error(await http.post(send, json=big), 413, "payload_too_large")

        async def chunks() -> Any:  # no Content-Length: the body arrives in chunks and is counted
            yield b'{"to": "b@x.example", "text": "'
            for _ in range(200):
                yield b"y" * 10_000
            yield b'"}'

        _error(
            await http.post(send, content=chunks(), headers={"content-type": "application/json"}),
            413,
            "payload_too_large",
        )
        # Within the limit, a message over max_message_size is the engine's refusal, not the server's.
        response = await http.post(send, json={"to": "b@x.example", "text": "z" * 60_000})
        assert response.status_code == 403 and response.json()["code"] == "message_rejected", response.text
        assert (await http.post(send, json={"to": "b@x.example", "text": "fine"})).status_code == 200
