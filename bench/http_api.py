"""HTTP API throughput: requests/s and p50/p99 latency of GET message, list threads and send (to a local
inbox) on one uvicorn worker, side by side with a FastAPI endpoint that returns a constant (the framework's
own floor), measured by ``wrk`` on loopback. ``GET auth/me`` answers from the caller's key alone (no
database query), so it shows what routing, authentication and JSON cost in the full app.

Each server is its own process (uvicorn, one worker, the same loop and HTTP implementation), so the load
generator and the server under test get one core each. The engine runs on SQLite in a temporary folder (or
``--database-url``), seeded with two inboxes and ``--messages`` received messages in threads. Every request
carries the organization key as a bearer token. Rounds alternate floor and endpoint so drift on a shared
machine hits them alike; the table gives medians over the rounds and each endpoint's rate as a ratio of the
floor's rate. Target: GET message at least 0.5 of the floor.

    apt-get install wrk        # the load generator
    .venv/bin/python bench/http_api.py [--seconds 5] [--rounds 3] [--connections 16] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

API_KEY = "am_bench_organization_key_0123456789"


def _message(to: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n % 17} <customer{n % 17}@client.example>"
    msg["To"] = to
    msg["Subject"] = f"Order question {n % 50}"
    msg["Message-ID"] = f"<bench-{n}@client.example>"
    msg.set_content(f"Hello,\n\nwhere is my order number {n}? It was due last week.\n\nThanks,\nA customer\n")
    return bytes(msg)


async def seed(database_url: str, messages: int) -> dict[str, str]:
    from agentinbox import AsyncAgentInbox

    async with AsyncAgentInbox(database_url=database_url, default_domain="agents.test") as client:
        sender = await client.inboxes.create(username="sender")
        inbox = await client.inboxes.create(username="support")
        for n in range(messages):
            await client.deliver(_message(inbox.inbox_id, n), rcpt_to=[inbox.inbox_id])
        listed = await client.inboxes.messages.list(inbox_id=inbox.inbox_id, limit=1)
        return {
            "inbox": inbox.inbox_id,
            "sender": sender.inbox_id,
            "message": listed.messages[0].message_id,
        }


# -- the servers (each run as ``python bench/http_api.py --serve KIND PORT [DATABASE_URL]``) ---------------


async def serve_engine(database_url: str, port: int) -> None:
    from agentinbox import AsyncAgentInbox

    async with AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        http_listen=f"127.0.0.1:{port}",
        api_key=API_KEY,
    ) as client:
        await client.start()
        print("ready", flush=True)
        await asyncio.Event().wait()


async def serve_floor(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()
    body = json.dumps({"inbox_id": "support@agents.test", "count": 0}).encode()

    @app.get("/v0/constant")
    async def constant() -> Response:
        return Response(body, media_type="application/json")

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  # uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await task


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(kind: str, port: int, database_url: str = "") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, str(port), database_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise SystemExit(f"the {kind} server did not start: {line!r}")
    return process


# -- the load generator -----------------------------------------------------------------------------------

_LUA = """
wrk.method = {method}
wrk.body = {body}
wrk.headers["Authorization"] = "Bearer {key}"
wrk.headers["Content-Type"] = "application/json"
"""


def _unit(value: str) -> float:
    """A wrk duration ("812.00us", "1.20ms", "2.00s") in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, *, method: str, body: str, seconds: float, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            _LUA.format(method=json.dumps(method), body=json.dumps(body) if body else "nil", key=API_KEY)
        )
    try:
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    out = done.stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{method} {url} answered {errors.group(1)} errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _unit(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _unit(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return {"rate": rate, "p50": p50, "p99": p99}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        kind, port, *rest = args.serve
        with_loop = asyncio.run
        if kind == "engine":
            with_loop(serve_engine(rest[0], int(port)))
        else:
            with_loop(serve_floor(int(port)))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk (apt-get install wrk)")

    folder = tempfile.mkdtemp(prefix="agentinbox-http-bench-")
    database_url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
    ids = asyncio.run(seed(database_url, args.messages))
    engine_port, floor_port = _free_port(), _free_port()
    engine = _start("engine", engine_port, database_url)
    floor = _start("floor", floor_port)
    base = f"http://127.0.0.1:{engine_port}/v0"
    inbox = quote(ids["inbox"], safe="@")
    send_body = json.dumps({"to": [ids["inbox"]], "subject": "Bench", "text": "A short message.\n"})
    cases = [
        ("floor: constant endpoint", "GET", f"http://127.0.0.1:{floor_port}/v0/constant", ""),
        ("GET auth/me (no query)", "GET", f"{base}/auth/me", ""),
        ("GET message", "GET", f"{base}/inboxes/{inbox}/messages/{quote(ids['message'], safe='@<>')}", ""),
        ("list threads (limit 10)", "GET", f"{base}/inboxes/{inbox}/threads?limit=10", ""),
        (
            "send (local recipient)",
            "POST",
            f"{base}/inboxes/{quote(ids['sender'], safe='@')}/messages/send",
            send_body,
        ),
    ]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in cases}
    try:
        for _name, method, url, body in cases:  # warm-up: caches, key views, prepared statements
            run_wrk(url, method=method, body=body, seconds=1, connections=args.connections)
        for _ in range(args.rounds):
            for name, method, url, body in cases:
                results[name].append(
                    run_wrk(url, method=method, body=body, seconds=args.seconds, connections=args.connections)
                )
                time.sleep(0.5)
    finally:
        for process in (engine, floor):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)

    floor_rate = statistics.median(r["rate"] for r in results[cases[0][0]])
    print(
        f"\nuvicorn, 1 worker; wrk -t1 -c{args.connections}, {args.seconds:g} s x {args.rounds} rounds; "
        f"{'SQLite' if not args.database_url else args.database_url.split(':')[0]}, {args.messages} messages\n"
    )
    print(f"{'endpoint':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x floor':>8}   rounds (req/s)")
    for name, *_ in cases:
        rows = results[name]
        rate = statistics.median(r["rate"] for r in rows)
        p50 = statistics.median(r["p50"] for r in rows)
        p99 = statistics.median(r["p99"] for r in rows)
        each = ", ".join(f"{r['rate']:.0f}" for r in rows)
        print(f"{name:<28} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} {rate / floor_rate:>8.2f}   {each}")


if __name__ == "__main__":
    main()
