"""DATA path throughput: stock aiosmtpd against agentinbox's ``SMTPProtocol``, both with a no-op handler.

Each server runs in a process of its own (so client and server use different cores) and is measured
alternately with the other, in rounds; the table shows the median messages/s over the rounds. One
connection carries every message (5 kB by default), the way a busy peer reuses its connection. Clients:

- ``python``: a small asyncio client in this process, one transaction at a time (MAIL, RCPT and DATA in
  one write, then the body and its dot), for three kinds of body: ``text`` (prose lines, a third of them
  ending in a dot), ``base64`` (an attachment's 76-character lines) and ``stuffed`` (every line starts with
  a dot, the worst case for dot-unstuffing);
- ``smtp-source``: Postfix's load generator (``-s 1 -d``), when installed, with its own body of X lines.

    .venv/bin/python bench/smtp_data.py [--messages N] [--rounds R] [--size BYTES]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SERVERS = ("aiosmtpd", "SMTPProtocol")
LIMIT = 25 * 1024 * 1024
_TICKS = os.sysconf("SC_CLK_TCK")
_TICKS = os.sysconf("SC_CLK_TCK")


# --- the servers (run as `smtp_data.py --serve KIND`) ------------------------------------------------------


class NoOp:
    """A handler that accepts every message and keeps nothing."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def serve(kind: str) -> None:
    """Serve on an ephemeral loopback port, print it, and run until stdin closes."""
    sys.path.insert(0, str(HERE.parent))
    from aiosmtpd.smtp import SMTP

    from agentinbox.smtp.protocol import SMTPProtocol

    options: dict[str, Any] = {
        "hostname": "bench.test",
        "enable_SMTPUTF8": True,
        "decode_data": False,
        "data_size_limit": LIMIT,
        "timeout": 300,
    }
    handler = NoOp()
    if kind == "aiosmtpd":
        factory: Any = lambda: SMTP(handler, **options)  # noqa: E731
    else:
        factory = lambda: SMTPProtocol(handler, data_timeout=600, **options)  # noqa: E731
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


# --- bodies and clients -----------------------------------------------------------------------------------


def body(kind: str, size: int) -> bytes:
    """A dot-stuffed message body of about ``size`` bytes, ending with the terminating dot line."""
    rng = random.Random(size)
    head = b"From: <load@client.test>\r\nTo: <bench@agents.test>\r\nSubject: load\r\n\r\n"
    lines: list[bytes] = []
    total = len(head)
    while total < size:
        if kind == "text":
            words = " ".join(
                rng.choice(["mail", "agent", "inbox", "reply", "thread", "the", "a"]) for _ in range(11)
            )
            line = (words.capitalize() + ("." if rng.random() < 0.33 else ",")).encode()
        elif kind == "base64":
            line = base64.b64encode(rng.randbytes(57))
        else:  # stuffed: every line starts with a dot, which goes on the wire doubled
            line = b".." + b"s" * 70
        lines.append(line)
        total += len(line) + 2
    return head + b"\r\n".join(lines) + b"\r\n.\r\n"


async def python_client(port: int, data: bytes, count: int) -> float:
    """Messages/s for ``count`` transactions over one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"EHLO client.test\r\n")
    while not (await reader.readline()).startswith(b"250 "):
        pass
    envelope = b"MAIL FROM:<load@client.test>\r\nRCPT TO:<bench@agents.test>\r\nDATA\r\n"
    start = time.perf_counter()
    for _ in range(count):
        writer.write(envelope)
        for _ in range(3):
            await reader.readline()
        writer.write(data)
        reply = await reader.readline()
        if not reply.startswith(b"250"):
            raise RuntimeError(f"message refused: {reply!r}")
    elapsed = time.perf_counter() - start
    writer.write(b"QUIT\r\n")
    await reader.read()
    writer.close()
    return count / elapsed


def smtp_source(port: int, size: int, count: int) -> float:
    command = [SMTP_SOURCE, "-s", "1", "-d", "-m", str(count), "-l", str(size)]
    command += ["-f", "load@client.test", "-t", "bench@agents.test", f"127.0.0.1:{port}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return count / (time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def measure(server: str, client: str, size: int, count: int) -> tuple[float, float]:
    """Messages/s, and the server's CPU microseconds per message."""
    command = [sys.executable, __file__, "--serve", server]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        if client != "smtp-source":
            asyncio.run(python_client(port, body(client, size), count // 10))  # warm up
        cpu = cpu_seconds(process.pid)
        if client == "smtp-source":
            rate = smtp_source(port, size, count)
        else:
            rate = asyncio.run(python_client(port, body(client, size), count))
        return rate, (cpu_seconds(process.pid) - cpu) / count * 1e6
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=5 * 1024)
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    clients = ["text", "base64", "stuffed"]
    if os.access(SMTP_SOURCE, os.X_OK):
        clients.append("smtp-source")
    rates: dict[tuple[str, str], list[float]] = {}
    costs: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for client in clients:
            for server in SERVERS:  # alternating, so drift in machine load hits both alike
                rate, cost = measure(server, client, args.size, args.messages)
                rates.setdefault((client, server), []).append(rate)
                costs.setdefault((client, server), []).append(cost)
    print(
        f"{args.messages} messages of {args.size} bytes over one connection, median of {args.rounds} rounds"
    )
    print("msg/s: throughput; CPU: the server process's CPU time per message, in microseconds")
    header = f"{'body / client':<14} {'aiosmtpd msg/s':>15} {'ours msg/s':>11} {'ratio':>6}"
    print(header + f" {'aiosmtpd CPU':>13} {'ours CPU':>9} {'ratio':>6}")
    for client in clients:
        stock, ours = (statistics.median(rates[(client, server)]) for server in SERVERS)
        stock_cpu, ours_cpu = (statistics.median(costs[(client, server)]) for server in SERVERS)
        line = f"{client:<14} {stock:>15.0f} {ours:>11.0f} {ours / stock:>5.2f}x"
        print(line + f" {stock_cpu:>13.0f} {ours_cpu:>9.0f} {stock_cpu / ours_cpu:>5.2f}x")


if __name__ == "__main__":
    main()
