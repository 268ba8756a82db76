"""A webhook receiver that verifies agentinbox's signatures with the ``svix`` package.

A standard-library HTTP server listens on loopback; an engine (a temporary SQLite file) gets a webhook for
``message.received`` pointing at it, a mail is delivered, and the receiver prints the verified event. A
request whose signature does not verify gets a 400 (and would be retried by the engine).

    .venv/bin/python examples/webhook_receiver.py
"""

from __future__ import annotations

import json
import queue
import tempfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

from svix.webhooks import Webhook, WebhookVerificationError

from agentinbox import AgentInbox

SECRET: list[str] = []  # the webhook's secret, known once it is created
received: queue.Queue[dict[str, Any]] = queue.Queue()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            Webhook(SECRET[0]).verify(body, dict(self.headers))  # raises unless signed with the secret
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        self.send_response(204)
        self.end_headers()
        received.put(json.loads(body))

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/agentinbox"
    folder = Path(tempfile.mkdtemp())
    # webhook_allow_private: this target is on loopback, which engines refuse by default.
    with AgentInbox(database_url=f"sqlite:///{folder / 'demo.db'}", webhook_allow_private=True) as client:
        inbox = client.inboxes.create(username="support")
        hook = client.webhooks.create(url=url, event_types=["message.received"])
        SECRET.append(hook.secret)
        client.start()
        client.deliver(
            b"From: Ann <ann@example.org>\r\nTo: " + inbox.inbox_id.encode() + b"\r\n"
            b"Subject: Where is my order?\r\n\r\nHi, order 1234 has not arrived yet.\r\n"
        )
        event = received.get(timeout=10)
        print(f"verified {event['event_type']} {event['event_id']}")
        print(f"  from {event['message']['from']}: {event['message']['subject']!r}")
        print(json.dumps(event, indent=2)[:600])
    server.shutdown()


if __name__ == "__main__":
    main()
