"""Inbound SMTP throughput: Postfix's smtp-source against agentinbox's receiver, a bare aiosmtpd and Haraka.

Every server runs in a process of its own, started fresh for each measurement, and the three are measured
alternately in one run, with a new connection per message and with connections reused (``smtp-source -d``):

- agentinbox: ``AsyncAgentInbox`` with ``smtp_listen`` on loopback and SQLite in a temporary folder. Besides
  the accept rate it reports how long after the load ended every accepted message was processed (the inbound
  queue empty), the processed rate over the whole run, and the stored count read back through
  ``client.inboxes.messages.list``, which must equal the count of 250 replies.
- aiosmtpd: a bare ``aiosmtpd.smtp.SMTP`` with the receiver's options, whose handler only answers 250.
- haraka: Haraka (npm, installed into bench/.haraka/ on first use) with two worker processes and the plugin
  bench/haraka/spool.js, which writes each message to a file and fsyncs it before the 250.

smtp-source aborts on the first reply that is not 2xx, so a run that exits 0 got a 250 for every message
(its counter, shown as "250s", counts DATA commands; in a run that stopped early it overcounts by up to
one message per session).

    ./dev bench smtp_accept [--messages N] [--rounds R] [--servers agentinbox,aiosmtpd,haraka]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARAKA_HOME = HERE / ".haraka"
SMTP_SOURCE = "/usr/sbin/smtp-source"
SERVERS = ("agentinbox", "aiosmtpd", "haraka")
DOMAIN = "agents.test"
RECIPIENT = f"bench@{DOMAIN}"
SENDER = "load@client.example"
_TICKS = os.sysconf("SC_CLK_TCK")
#: Set by --baseline-tree: another checkout whose agentinbox the kind ``agentinbox-baseline`` runs.
BASELINE_TREE = HERE.parent


# --- the servers under test (run as `smtp_accept.py --serve KIND --dir DIR`) -------------------------------


async def serve_agentinbox(folder: Path, *, mode: str, port: int, tree: Path) -> None:
    """agentinbox's receiver on a loopback port; answers ``count`` on stdin with the stored count.

    ``mode`` is ``full`` (receiver and inbound worker) or a comma-separated set of: ``accept`` (receiver
    only: the worker is kept from starting, so accepted mail stays queued), ``drain`` (no receiver:
    ``start`` on stdin starts the worker, which processes what other processes queue) and ``reuseport``
    (the receiver binds ``port`` with SO_REUSEPORT, so several processes share it and the kernel spreads
    connections over them) and ``processes=N`` (setting ``inbound_processes``: N child processes store what
    the receiver accepts). ``tree`` is the source tree whose agentinbox is imported.
    """
    sys.path.insert(0, str(tree))
    from agentinbox import AsyncAgentInbox
    from agentinbox.pipeline.inbound_worker import InboundWorker

    modes = set(mode.split(","))
    if "accept" in modes:
        InboundWorker.start = lambda self: None  # type: ignore[method-assign]
    if "reuseport" in modes:
        loop = asyncio.get_running_loop()
        create_server = loop.create_server
        loop.create_server = functools.partial(create_server, reuse_port=True)  # type: ignore[method-assign]
    url = f"sqlite+aiosqlite:///{folder / 'agentinbox.db'}"
    listen = "" if "drain" in modes else f"127.0.0.1:{port}"
    processes = [int(m.partition("=")[2]) for m in modes if m.startswith("processes=")]
    extra = {"inbound_processes": processes[-1]} if processes else {}
    async with AsyncAgentInbox(
        database_url=url, default_domain=DOMAIN, smtp_listen=listen, **extra
    ) as client:
        inbox = await client.inboxes.create(username="bench", client_id="bench")
        if "drain" not in modes:
            await client.start()
        assert "drain" in modes or client.smtp_address is not None
        _say(
            {
                "port": client.smtp_address[1] if client.smtp_address else 0,
                "database": str(folder / "agentinbox.db"),
            }
        )

        async def count() -> dict[str, int]:
            stored, token = 0, None
            while True:
                page = await client.inboxes.messages.list(
                    inbox_id=inbox.inbox_id, limit=100, page_token=token
                )
                stored += page.count
                token = page.next_page_token
                if token is None:
                    return {"stored": stored}

        async def start() -> dict[str, int]:
            await client.start()
            return {}

        await _obey({"count": count, "start": start})


async def serve_aiosmtpd(folder: Path) -> None:
    """aiosmtpd with the receiver's protocol options and a handler that does nothing but answer 250."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Accept:
        def __init__(self) -> None:
            self.accepted = 0

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            self.accepted += 1
            return "250 2.0.0 Message accepted"

    handler = Accept()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname=DOMAIN,
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=25 * 1024 * 1024,
            timeout=60,
        ),
        "127.0.0.1",
        0,
    )
    _say({"port": server.sockets[0].getsockname()[1]})

    async def count() -> dict[str, int]:
        return {"stored": handler.accepted}

    await _obey({"count": count})
    server.close()


def _say(message: dict[str, object]) -> None:
    print(json.dumps(message), flush=True)


async def _obey(commands: dict[str, object]) -> None:
    """Answer commands read from stdin (one JSON line per answer) until ``quit`` or end of input."""
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "quit":
            return
        command = commands.get(line)
        _say(await command() if command is not None else {"error": f"unknown command {line!r}"})  # type: ignore[operator]


# --- starting and stopping them -----------------------------------------------------------------------------


@dataclass
class Server:
    """A running server process: its port, and how to ask it things and stop it."""

    kind: str
    process: subprocess.Popen[str]
    port: int
    folder: Path
    info: dict[str, object] = field(default_factory=dict)

    def ask(self, command: str) -> dict[str, object]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stored(self) -> int:
        if self.kind == "haraka":
            return sum(1 for _ in (self.folder / "spool").iterdir())
        return int(self.ask("count")["stored"])  # type: ignore[call-overload]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process and its children so far."""
        return _tree_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.kind == "haraka":
                os.killpg(self.process.pid, signal.SIGTERM)
            else:
                try:
                    self.ask("quit")
                except (BrokenPipeError, ValueError):
                    pass
                self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _tree_cpu(pid: int) -> float:
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / _TICKS
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _tree_cpu(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def start_python_server(kind: str, folder: Path, *, mode: str = "full", port: int = 0) -> Server:
    """A server of this script in a process of its own, once it listens (or, for ``drain``, has opened)."""
    serve = "aiosmtpd" if kind == "aiosmtpd" else "agentinbox"
    tree = BASELINE_TREE if kind == "agentinbox-baseline" else HERE.parent
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            serve,
            "--dir",
            str(folder),
            "--mode",
            mode,
            "--port",
            str(port),
            "--tree",
            str(tree),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the {kind} server did not start")
    info = json.loads(line)
    return Server(kind, process, int(info["port"]), folder, info)


def ensure_haraka() -> Path:
    """The haraka executable, installing the pinned version from bench/haraka/package.json on first use."""
    executable = HARAKA_HOME / "node_modules" / ".bin" / "haraka"
    if not executable.exists():
        if shutil.which("npm") is None:
            raise SystemExit("haraka needs npm (apt-get install npm), or leave it out with --servers")
        HARAKA_HOME.mkdir(exist_ok=True)
        shutil.copy(HERE / "haraka" / "package.json", HARAKA_HOME / "package.json")
        print("installing Haraka into bench/.haraka/ ...", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HARAKA_HOME, check=True
        )
    return executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_haraka(folder: Path) -> Server:
    """Haraka with two worker processes, only the spool plugin, and logging at error level."""
    executable = ensure_haraka()
    config = folder / "config"
    # Haraka's own defaults (connection.ini and the rest), then the settings of this run over them.
    shutil.copytree(HARAKA_HOME / "node_modules" / "Haraka" / "config", config)
    (folder / "plugins").mkdir()
    (folder / "spool").mkdir()
    shutil.copy(HERE / "haraka" / "spool.js", folder / "plugins" / "spool.js")
    port = free_port()
    (config / "smtp.ini").write_text(f"listen=127.0.0.1:{port}\nnodes=2\n")
    (config / "plugins").write_text("spool\n")
    (config / "log.ini").write_text("[main]\nlevel=error\n")
    (config / "me").write_text(f"{DOMAIN}\n")
    process = subprocess.Popen(
        [str(executable), "-c", str(folder)],
        env={**os.environ, "BENCH_SPOOL_DIR": str(folder / "spool")},
        stdout=open(folder / "haraka.log", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"haraka exited: {(folder / 'haraka.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(512).startswith(b"220"):
                    time.sleep(1)  # let the second worker come up too
                    return Server("haraka", process, port, folder)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("haraka did not start listening within 30 s")


# --- one measurement ----------------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    reuse: bool
    messages: int
    accepted: int
    seconds: float
    cpu_seconds: float
    stored: int
    drain_seconds: float | None = None  # load end → every accepted message processed (agentinbox)
    processed_rate: float | None = None  # accepted / (load start → all processed)
    error: str = ""

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds


def queue_length(database: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM inbound_queue").fetchone()[0])


def measure(kind: str, *, messages: int, sessions: int, size: int, reuse: bool) -> Result:
    """One smtp-source run against a fresh server of ``kind``, and for agentinbox the wait until processed.

    Kinds beyond the three compared: ``agentinbox-accept-only`` (the worker kept off during the load; then
    the server is stopped and a new process without a receiver drains the queue, as after a restart),
    ``agentinbox-xN`` (N processes sharing one port through SO_REUSEPORT and one SQLite database, each
    accepting and storing), ``agentinbox-xN+w`` (N processes that only accept, and one that stores) and
    ``agentinbox-pN`` (one engine with ``inbound_processes`` = N: its child processes store).
    """
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as name:
        folder = Path(name)
        servers: list[Server] = []
        try:
            if kind == "haraka":
                servers.append(start_haraka(folder))
            elif kind.startswith("agentinbox-x"):
                port = free_port()
                acceptors, separate = _acceptors(kind)
                mode = "accept,reuseport" if separate else "reuseport"
                for _ in range(acceptors):
                    servers.append(start_python_server(kind, folder, mode=mode, port=port))
                if separate:  # the one process that stores, polling the queue the acceptors fill
                    servers.append(start_python_server(kind, folder, mode="drain"))
                    servers[-1].ask("start")
            elif kind == "agentinbox-accept-only":
                servers.append(start_python_server(kind, folder, mode="accept"))
            elif _is_processes(kind):
                mode = f"processes={kind.removeprefix('agentinbox-p')}"
                servers.append(start_python_server(kind, folder, mode=mode))
            else:
                servers.append(start_python_server(kind, folder))
            server = servers[0]
            command = [SMTP_SOURCE, "-c", "-s", str(sessions), "-m", str(messages), "-l", str(size)]
            command += ["-d"] if reuse else []
            command += ["-f", SENDER, "-t", RECIPIENT, "-M", "client.example", f"127.0.0.1:{server.port}"]
            cpu_before = sum(s.cpu_seconds() for s in servers)
            start = time.monotonic()
            run = subprocess.run(command, capture_output=True, text=True, timeout=3600)
            end = time.monotonic()
            cpu = sum(s.cpu_seconds() for s in servers) - cpu_before
            counts = run.stdout.replace("\r", " ").split()
            accepted = int(counts[-1]) if counts and counts[-1].isdigit() else 0
            error = "" if run.returncode == 0 else (run.stderr.strip().splitlines() or ["failed"])[-1]
            drain = processed = None
            if kind.startswith("agentinbox"):
                database = str(server.info["database"])
                began = start
                if kind == "agentinbox-accept-only":
                    for s in servers:
                        s.stop()
                    servers = [start_python_server(kind, folder, mode="drain")]
                    server = servers[0]
                    cpu_before = server.cpu_seconds()
                    began = time.monotonic()
                    server.ask("start")
                while queue_length(database) > 0 and time.monotonic() - began < 1800:
                    time.sleep(0.02)
                done = time.monotonic()
                drain, processed = done - began, accepted / (done - began)
                if kind == "agentinbox-accept-only":
                    drain = done - began
                else:
                    drain = done - end
                    cpu = sum(s.cpu_seconds() for s in servers) - cpu_before
            elif kind == "haraka":
                time.sleep(0.2)  # the last fsync'd files are listed
            stored = server.stored()
            return Result(kind, reuse, messages, accepted, end - start, cpu, stored, drain, processed, error)
        finally:
            for s in servers:
                s.stop()


# --- the report ------------------------------------------------------------------------------------------------


def report(results: list[Result], rounds: int) -> None:
    def median(kind: str, reuse: bool, value: str) -> float | None:
        found = [getattr(r, value) for r in results if r.kind == kind and r.reuse == reuse]
        found = [v for v in found if v is not None]
        return statistics.median(found) if found else None

    print("\nEach run, in the order measured:")
    print(
        f"{'server':<22} {'conn':<6} {'sent':>6} {'250s':>6} {'stored':>6} {'s':>7} {'acc/s':>7} "
        f"{'cpu ms/msg':>10} {'drain s':>8} {'proc/s':>7}  error"
    )
    for r in results:
        drain = f"{r.drain_seconds:8.2f}" if r.drain_seconds is not None else " " * 8
        processed = f"{r.processed_rate:7.0f}" if r.processed_rate is not None else " " * 7
        print(
            f"{r.kind:<22} {'reuse' if r.reuse else 'new':<6} {r.messages:>6} {r.accepted:>6} {r.stored:>6} "
            f"{r.seconds:7.2f} {r.rate:7.0f} {1000 * r.cpu_seconds / max(r.accepted, 1):10.2f} {drain} "
            f"{processed}  {r.error}"
        )
    kinds = list(dict.fromkeys(r.kind for r in results))
    print(f"\nAccepted messages/s (median of {rounds} round(s)), and ratios:")
    print(
        f"{'server':<22} {'new conn':>9} {'reuse -d':>9} {'÷aiosmtpd new':>14} {'÷aiosmtpd -d':>13} "
        f"{'÷haraka new':>12} {'÷haraka -d':>11}"
    )
    for kind in kinds:
        cells = []
        for reuse in (False, True):
            rate = median(kind, reuse, "rate")
            cells.append(f"{rate:9.0f}" if rate else f"{'-':>9}")
        ratios = []
        for peer in ("aiosmtpd", "haraka"):
            for reuse, width in (
                (False, 14 if peer == "aiosmtpd" else 12),
                (True, 13 if peer == "aiosmtpd" else 11),
            ):
                mine, theirs = median(kind, reuse, "rate"), median(peer, reuse, "rate")
                ratios.append(f"{mine / theirs:{width}.2f}" if mine and theirs else f"{'-':>{width}}")
        print(f"{kind:<22} {cells[0]} {cells[1]} {' '.join(ratios)}")
    agent = [k for k in kinds if k.startswith("agentinbox")]
    if agent:
        print("\nagentinbox, fully processed (inbound queue empty, stored count read through the API):")
    for kind in agent:
        for reuse in (False, True):
            processed, drain = median(kind, reuse, "processed_rate"), median(kind, reuse, "drain_seconds")
            if processed is None or drain is None:
                continue
            if kind == "agentinbox-accept-only":
                how = f"drained by a fresh process in {drain:.2f} s"
            else:
                how = f"all visible {drain:.2f} s after the last 250"
            print(
                f"  {kind:<22} {'reuse -d' if reuse else 'new conn'}: {processed:5.0f} processed msgs/s, {how}"
            )
    lost = [r for r in results if r.stored != r.accepted and not r.error]
    print("\n250s == stored in every run that completed: " + ("yes" if not lost else "NO"))
    for r in lost:
        print(f"  LOST: {r.kind} {'reuse' if r.reuse else 'new'}: {r.accepted} accepted, {r.stored} stored")
    for r in results:
        if r.error:
            # smtp-source counts DATA commands answered 354, so after a refusal up to one message per
            # session was still in flight: the 250s are between the count less the sessions and the count.
            print(
                f"  {r.kind} {'reuse' if r.reuse else 'new'} stopped early ({r.error}); "
                f"{r.stored} stored of {r.accepted} started"
            )


def _acceptors(kind: str) -> tuple[int, bool]:
    """``agentinbox-xN``: N processes that accept and store; ``agentinbox-xN+w``: N that only accept and one
    more that stores (it finds new mail by polling, as it is not woken across processes)."""
    spec = kind.removeprefix("agentinbox-x")
    return int(spec.removesuffix("+w")), spec.endswith("+w")


def _is_processes(kind: str) -> bool:
    return kind.startswith("agentinbox-p") and kind.removeprefix("agentinbox-p").isdigit()


def _is_acceptors(kind: str) -> bool:
    spec = kind.removeprefix("agentinbox-x").removesuffix("+w")
    return kind.startswith("agentinbox-x") and spec.isdigit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--messages", type=int, default=10_000, help="messages per measurement (smtp-source -m)"
    )
    parser.add_argument("--sessions", type=int, default=10, help="parallel SMTP sessions (smtp-source -s)")
    parser.add_argument("--size", type=int, default=5_000, help="message payload bytes (smtp-source -l)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; the table shows medians")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="comma-separated, from "
        + ", ".join(SERVERS)
        + ", agentinbox-accept-only (then drained by a fresh process), agentinbox-xN (N processes on one "
        "port with SO_REUSEPORT), agentinbox-xN+w (N that only accept, one more that stores), agentinbox-pN "
        "(inbound_processes=N: N child processes store what the receiver accepts)",
    )
    parser.add_argument(
        "--modes", default="new,reuse", help="new (a connection per message), reuse (-d), or both"
    )
    parser.add_argument("--serve", choices=["agentinbox", "aiosmtpd"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=HERE.parent, help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="another checkout (e.g. a git worktree of an older commit) measured as agentinbox-baseline",
    )
    args = parser.parse_args()
    if args.serve:
        if args.serve == "agentinbox":
            asyncio.run(serve_agentinbox(args.dir, mode=args.mode, port=args.port, tree=args.tree))
        else:
            asyncio.run(serve_aiosmtpd(args.dir))
        return
    if not os.access(SMTP_SOURCE, os.X_OK):
        raise SystemExit(f"{SMTP_SOURCE} is missing: apt-get install postfix")
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    extra = ("agentinbox-accept-only", "agentinbox-baseline")
    unknown = {
        k for k in kinds if k not in (*SERVERS, *extra) and not _is_acceptors(k) and not _is_processes(k)
    }
    if unknown:
        raise SystemExit(f"unknown servers: {', '.join(sorted(unknown))}")
    if args.baseline_tree:
        global BASELINE_TREE
        BASELINE_TREE = args.baseline_tree.resolve()
        if "agentinbox-baseline" not in kinds:
            kinds.insert(1, "agentinbox-baseline")
    modes = [m.strip() == "reuse" for m in args.modes.split(",") if m.strip()]
    if "haraka" in kinds:
        ensure_haraka()
    print(
        f"smtp-source: {args.sessions} sessions, {args.messages} messages of {args.size} bytes per run; "
        f"{args.rounds} round(s) over {', '.join(kinds)}; {os.cpu_count()} CPUs"
    )
    results = []
    for round_number in range(args.rounds):
        for reuse in modes:
            for kind in kinds:
                result = measure(
                    kind, messages=args.messages, sessions=args.sessions, size=args.size, reuse=reuse
                )
                results.append(result)
                print(
                    f"round {round_number + 1} {kind:<11} {'reuse' if reuse else 'new':<5} "
                    f"{result.rate:7.0f} accepted/s{'  ' + result.error if result.error else ''}",
                    flush=True,
                )
    report(results, args.rounds)


if __name__ == "__main__":
    main()
