"""The event stream over a WebSocket at ``/v0``: the official agentmail SDK (async and sync) subscribes and gets
typed events, filtered and kept within the API key's scope; a bad key is a 401 at the handshake; raw
``websockets`` clients check the protocol details (error frames, no extra frame types, a slow reader cut off,
disconnects and server shutdown releasing everything)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from agentmail.core.api_error import ApiError
from agentmail.events.types.message_received_event import MessageReceivedEvent
from agentmail.events.types.message_sent_event import MessageSentEvent
from agentmail.websockets.types.subscribe import Subscribe
from agentmail.websockets.types.subscribed import Subscribed
from http_api import ORG_KEY, Served, serving
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from agentinbox.server import http as http_server
from agentinbox.server import websocket as ws_server

WAIT = 10.0


def mail(to: str, subject: str = "hello", body: str = "Hi there.") -> bytes:
    return (
        f"From: Ann Example <ann@example.com>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}.{time.monotonic_ns()}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


@asynccontextmanager
async def served_with_inboxes(database_url: str, count: int = 2) -> AsyncIterator[tuple[Served, list[str]]]:
    # Nothing may leave loopback: DNS questions (there should be none) go to a port where nobody answers.
    async with serving(database_url, default_domain="agents.test", dns_resolver="127.0.0.1:9") as served:
        inboxes = [(await served.engine.inboxes.create(username=f"box{i}")).inbox_id for i in range(count)]
        yield served, inboxes


def raw_socket(served: Served, *, key: str | None = ORG_KEY, query: str = "", **options: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return connect(f"{served.ws_url}/v0{query}", additional_headers=headers, **options)


async def frame(ws: ClientConnection) -> dict[str, Any]:
    data = await asyncio.wait_for(ws.recv(), WAIT)
    assert isinstance(data, str), "the server sends text frames only"
    decoded: dict[str, Any] = json.loads(data)
    return decoded


def subscribers(served: Served) -> int:
    """How many subscribers the engine's event bus holds (each socket's subscription is one)."""
    return len(served.engine._bus._subscribers)


async def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


# -- the official SDK ------------------------------------------------------------------------------------


async def test_sdk_gets_typed_received_and_sent_events(database_url: str) -> None:
    async with (
        served_with_inboxes(database_url) as (served, (first, second)),
        served.sdk().websockets.connect() as socket_client,
    ):
        await socket_client.send_subscribe(Subscribe())
        assert await socket_client.recv() == Subscribed()

        await served.engine.deliver(mail(first, "inbound"))
        event = await asyncio.wait_for(socket_client.recv(), WAIT)
        assert isinstance(event, MessageReceivedEvent)
        assert event.event_type == "message.received"
        assert event.message.from_ == "Ann Example <ann@example.com>"
        assert event.message.inbox_id == first
        assert event.message.subject == "inbound"
        assert event.thread.thread_id == event.message.thread_id

        await served.engine.inboxes.messages.send(
            inbox_id=first, to=[second], subject="between", text="Across."
        )
        seen: dict[str, Any] = {}
        while not {"message.sent", "message.received"} <= seen.keys():
            event = await asyncio.wait_for(socket_client.recv(), WAIT)
            seen.setdefault(event.event_type, event)
        sent = seen["message.sent"]
        assert isinstance(sent, MessageSentEvent)
        assert sent.send.inbox_id == first and sent.send.recipients == [second]
        received = seen["message.received"]
        assert isinstance(received, MessageReceivedEvent)
        assert received.message.inbox_id == second and first in received.message.from_
        assert received.message.subject == "between"


async def test_sdk_filters_by_inbox_and_event_type_and_resubscribes(database_url: str) -> None:
    async with (
        served_with_inboxes(database_url) as (served, (first, second)),
        served.sdk().websockets.connect() as socket_client,
    ):
        await socket_client.send_subscribe(Subscribe(event_types=["message.received"], inbox_ids=[second]))
        assert await socket_client.recv() == Subscribed(event_types=["message.received"], inbox_ids=[second])
        # Filtered out: message.sent by the type, its copy received in ``first`` by the inbox.
        await served.engine.inboxes.messages.send(inbox_id=second, to=[first], text="across")
        await served.engine.deliver(mail(first, "not this one"))
        await served.engine.deliver(mail(second, "this one"))
        event = await asyncio.wait_for(socket_client.recv(), WAIT)
        assert isinstance(event, MessageReceivedEvent)
        assert (event.message.inbox_id, event.message.subject) == (second, "this one")

        # A second subscribe replaces the first.
        await socket_client.send_subscribe(Subscribe(inbox_ids=[first]))
        assert await socket_client.recv() == Subscribed(inbox_ids=[first])
        await served.engine.deliver(mail(second, "old filter"))
        await served.engine.deliver(mail(first, "new filter"))
        event = await asyncio.wait_for(socket_client.recv(), WAIT)
        assert isinstance(event, MessageReceivedEvent)
        assert (event.message.inbox_id, event.message.subject) == (first, "new filter")


async def test_inbox_key_never_sees_another_inbox(database_url: str) -> None:
    async with served_with_inboxes(database_url) as (served, (mine, other)):
        key = (await served.engine.inboxes.api_keys.create(inbox_id=mine)).api_key
        # ``connect(api_key=…)`` puts the key in the query, where it overrides the client's own header key.
        async with served.sdk(api_key="am_not_a_key").websockets.connect(api_key=key) as socket_client:
            await socket_client.send_subscribe(Subscribe(inbox_ids=[other]))
            assert await socket_client.recv() == Subscribed(inbox_ids=[other])
            await served.engine.deliver(mail(other, "hidden"))
            await socket_client.send_subscribe(Subscribe())
            assert await socket_client.recv() == Subscribed()
            await served.engine.deliver(mail(other, "hidden too"))
            await served.engine.deliver(mail(mine, "visible"))
            event = await asyncio.wait_for(socket_client.recv(), WAIT)
            assert isinstance(event, MessageReceivedEvent)
            assert (event.message.inbox_id, event.message.subject) == (mine, "visible")


async def test_a_revoked_key_ends_the_stream_at_its_next_subscribe(database_url: str) -> None:
    async with served_with_inboxes(database_url) as (served, (mine, _)):
        created = await served.engine.inboxes.api_keys.create(inbox_id=mine)
        async with raw_socket(served, key=created.api_key) as ws:
            await ws.send('{"type": "subscribe"}')
            assert await frame(ws) == {"type": "subscribed"}
            await served.engine.inboxes.api_keys.delete(inbox_id=mine, api_key_id=created.api_key_id)
            assert served.engine._http is not None
            served.engine._http.app.state.keys.forget()  # as a revocation through the API does
            await ws.send('{"type": "subscribe"}')
            error = await frame(ws)
            assert error["type"] == "error" and error["name"] == "UnauthorizedError"
            with pytest.raises(ConnectionClosed) as closed:
                await frame(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_unknown_or_missing_key_is_401(database_url: str) -> None:
    async with served_with_inboxes(database_url) as (served, _):
        for sdk, query_key in ((served.sdk(api_key="am_wrong"), None), (served.sdk(), "am_wrong")):
            with pytest.raises(ApiError) as refused:
                async with sdk.websockets.connect(api_key=query_key):
                    pass
            assert refused.value.status_code == 401

        for key, query in ((None, ""), ("am_wrong", ""), (None, "?api_key="), (ORG_KEY, "?api_key=nope")):
            with pytest.raises(InvalidStatus) as denied:
                async with raw_socket(served, key=key, query=query):
                    pass
            response = denied.value.response
            assert response.status_code == 401
            body = json.loads(response.body)
            assert body["name"] == "UnauthorizedError" and body["message"]
        with pytest.raises(InvalidStatus) as basic:
            async with connect(f"{served.ws_url}/v0", additional_headers={"Authorization": "Basic eDp5"}):
                pass
        assert basic.value.response.status_code == 401


async def test_sync_sdk_streams_and_refuses_bad_keys(database_url: str) -> None:
    async with served_with_inboxes(database_url) as (served, (first, _)):
        subscribed = threading.Event()

        def listen() -> Any:
            with served.sync_sdk().websockets.connect() as socket_client:
                socket_client.send_subscribe(Subscribe(inbox_ids=[first]))
                ack = socket_client.recv()
                subscribed.set()
                return ack, socket_client.recv()

        listening = asyncio.create_task(asyncio.to_thread(listen))
        await until(subscribed.is_set, "the sync client's subscription")
        await served.engine.deliver(mail(first, "to sync"))
        ack, event = await asyncio.wait_for(listening, WAIT)
        assert ack == Subscribed(inbox_ids=[first])
        assert isinstance(event, MessageReceivedEvent) and event.message.subject == "to sync"

        def refused() -> None:
            with served.sync_sdk(api_key="am_wrong").websockets.connect():
                pass

        # The sync SDK's own catch misses websockets >= 14's exception: the raw InvalidStatus comes out.
        with pytest.raises(InvalidStatus) as denied:
            await asyncio.to_thread(refused)
        assert denied.value.response.status_code == 401


# -- protocol details over a raw websockets client --------------------------------------------------------


async def test_bad_frames_get_error_frames_and_the_socket_stays_usable(database_url: str) -> None:
    bad: list[tuple[str | bytes, str]] = [
        ("not json", "a frame must be JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"event_types": []}', "unknown frame type None"),
        ('{"type": "ping"}', "unknown frame type 'ping'"),
        ('{"type": "subscribe", "event_types": "message.received"}', "event_types: "),
        ('{"type": "subscribe", "inbox_ids": [1]}', "inbox_ids.0: "),
        ('{"type": "subscribe", "pod_ids": {"a": 1}}', "pod_ids: "),
        ('{"type": "subscribe", "event_types": ["message.nope"]}', "unknown event type 'message.nope'"),
        (b"\x00\x01", "binary frames are not understood"),
    ]
    async with served_with_inboxes(database_url) as (served, (_first, second)), raw_socket(served) as ws:
        for data, expected in bad:
            await ws.send(data)
            answer = await frame(ws)
            assert answer.keys() == {"type", "name", "message"}, answer
            assert answer["type"] == "error" and answer["name"] == "ValidationError"
            assert expected in answer["message"], (data, answer)

        # Nulls are absent filters, keys a newer client may send are ignored; the ack omits what is unset.
        await ws.send(
            json.dumps(
                {"type": "subscribe", "event_types": ["message.received"], "inbox_ids": None, "new": 1}
            )
        )
        assert await frame(ws) == {"type": "subscribed", "event_types": ["message.received"]}
        # A bad subscribe leaves the subscription in force.
        await ws.send('{"type": "subscribe", "event_types": ["message.nope"]}')
        assert (await frame(ws))["type"] == "error"
        await served.engine.deliver(mail(second, "still subscribed"))
        event = await frame(ws)
        assert event["type"] == "event" and event["event_type"] == "message.received"
        assert event["message"]["subject"] == "still subscribed"
        assert event["message"]["from"] == "Ann Example <ann@example.com>"
        assert "from_" not in event["message"] and None not in event["message"].values()


async def test_disconnect_and_shutdown_release_sockets(database_url: str) -> None:
    async with served_with_inboxes(database_url) as (served, _):
        before = subscribers(served)
        async with raw_socket(served) as ws:
            await ws.send('{"type": "subscribe"}')
            await frame(ws)
            await ws.send('{"type": "subscribe", "pod_ids": []}')
            await frame(ws)
            assert subscribers(served) == before + 1  # the second replaced the first
        await until(lambda: subscribers(served) == before, "the subscription to be closed")

        async with raw_socket(served) as ws:
            await ws.send('{"type": "subscribe"}')
            await frame(ws)
            started = time.monotonic()
            await asyncio.wait_for(served.engine.close(), WAIT)
            assert time.monotonic() - started < 2.0
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # service restart


class StuckClient:
    """A WebSocket client that subscribes and then stops reading (a tiny receive buffer, so the server's
    send buffers fill soon); ``read_all`` later reads what was sent, up to the close frame or EOF."""

    def __init__(self, served: Served) -> None:
        self._served = served
        self._protocol = ClientProtocol(parse_uri(f"{served.ws_url}/v0"))

    async def open(self) -> StuckClient:
        host, port = self._served.engine.http_address or ("", 0)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, port))
        sock.setblocking(False)
        self._reader, self._writer = await asyncio.open_connection(sock=sock, limit=4096)
        request = self._protocol.connect()
        request.headers["Authorization"] = f"Bearer {ORG_KEY}"
        self._protocol.send_request(request)
        self._flush()
        while not self._protocol.events_received():
            self._protocol.receive_data(await asyncio.wait_for(self._reader.read(4096), WAIT))
        self._protocol.send_text(b'{"type": "subscribe"}')
        self._flush()
        return self

    def _flush(self) -> None:
        self._writer.write(b"".join(self._protocol.data_to_send()))

    async def read_all(self) -> list[Frame]:
        frames: list[Frame] = []
        while not frames or frames[-1].opcode != Opcode.CLOSE:
            data = await asyncio.wait_for(self._reader.read(1 << 16), WAIT)
            if not data:
                break
            self._protocol.receive_data(data)
            frames.extend(event for event in self._protocol.events_received() if isinstance(event, Frame))
        return frames

    def close(self) -> None:
        self._writer.close()


async def flood(served: Served, inboxes: list[str], size: int) -> None:
    """One message to every inbox at once: as many ``message.received`` events, each about ``size`` long."""
    raw = mail(", ".join(inboxes), "flood", "word " * (size // 5))
    await served.engine.deliver(raw, mail_from="ann@example.com", rcpt_to=inboxes)


async def test_a_reader_that_stays_behind_is_cut_off_and_does_not_hold_shutdown(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_server, "MAX_BEHIND_FRAMES", 3)
    monkeypatch.setattr(ws_server, "BEHIND_SECONDS", 0.2)
    monkeypatch.setattr(ws_server, "HARD_FACTOR", 1000)
    monkeypatch.setattr(http_server, "STOP_GRACE", 0.5)
    async with served_with_inboxes(database_url, count=20) as (served, inboxes):
        before = subscribers(served)
        slow, stuck = await StuckClient(served).open(), await StuckClient(served).open()
        try:
            await until(lambda: subscribers(served) == before + 2, "the subscriptions")
            await flood(served, inboxes, 250_000)
            await until(lambda: subscribers(served) == before, "the slow readers to be cut off")
            frames = await slow.read_all()
            # ``stuck`` still has unsent bytes in the server's buffers: closing must not wait for them.
            started = time.monotonic()
            await asyncio.wait_for(served.engine.close(), WAIT)
            assert time.monotonic() - started < 2.0
        finally:
            slow.close()
            stuck.close()
        texts = [json.loads(f.data) for f in frames if f.opcode == Opcode.TEXT]
        assert texts[0] == {"type": "subscribed"}
        events = texts[1:]
        assert all(event["event_type"] == "message.received" for event in events)
        assert len(events) < len(inboxes), "the frames still waiting were dropped"
        assert frames[-1].opcode == Opcode.CLOSE
        assert frames[-1].data[:2] == (1013).to_bytes(2, "big")  # try again later
        assert b"too far behind" in frames[-1].data


async def test_a_burst_the_reader_keeps_up_with_is_delivered(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_server, "MAX_BEHIND_FRAMES", 3)
    async with served_with_inboxes(database_url, count=12) as (served, inboxes):
        async with raw_socket(served) as ws:
            await ws.send('{"type": "subscribe"}')
            await frame(ws)
            await flood(served, inboxes, 2_000)
            received = {(await frame(ws))["message"]["inbox_id"] for _ in inboxes}
            assert received == set(inboxes)

        # Far beyond the hard limit in one burst, the socket is closed at once.
        monkeypatch.setattr(ws_server, "HARD_FACTOR", 1)
        async with raw_socket(served) as ws:
            await ws.send('{"type": "subscribe"}')
            await frame(ws)
            await flood(served, inboxes, 2_000)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await frame(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
