"""``agentinbox send`` and ``agentinbox import`` (mbox, Maildir, .eml), through the public client."""

from __future__ import annotations

import asyncio
import base64
import itertools
import mailbox
import mimetypes
import sys
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..client import AsyncAgentInbox
from ..errors import AgentInboxError
from ..models import (
    SendMessageResponse,
)
from ._app import (
    DatabaseUrl,
    DefaultDomain,
    JsonFlag,
    app,
    client_settings,
    option,
    print_json,
    run,
)

ExistingFile = dict(exists=True, file_okay=True, dir_okay=False, readable=True, resolve_path=True)


def _attachment(path: Path) -> dict[str, str]:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    content = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"filename": path.name, "content": content, "content_type": content_type}


@app.command()
def send(
    from_: Annotated[str, typer.Option("--from", help="The inbox to send from.", show_default=False)],
    to: Annotated[list[str], typer.Option("--to", help="A recipient (repeat for more).", show_default=False)],
    subject: Annotated[str, typer.Option(help="The subject.", show_default=False)],
    cc: Annotated[
        list[str] | None, typer.Option(help="A Cc recipient (repeat for more).", show_default=False)
    ] = None,
    bcc: Annotated[
        list[str] | None, typer.Option(help="A Bcc recipient (repeat for more).", show_default=False)
    ] = None,
    text: Annotated[
        str | None, option("The plain-text body (else --text-file, else read from stdin).")
    ] = None,
    text_file: Annotated[
        Path | None,
        typer.Option(help="Read the plain-text body from this file.", show_default=False, **ExistingFile),
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option(help="Read an HTML body from this file.", show_default=False, **ExistingFile),
    ] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option(help="Attach this file (repeat for more).", show_default=False, **ExistingFile),
    ] = None,
    as_json: JsonFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a new message from one of the inboxes and print its message_id and thread_id.

    Recipients that are inboxes of this engine get it at once. Mail to other addresses is queued, and
    goes out while `agentinbox serve` runs (through --relay-url, or straight to the recipients' MX hosts).
    """
    if text is not None and text_file is not None:
        raise typer.BadParameter("give --text or --text-file, not both", param_hint="--text")
    if text is None and text_file is not None:
        text = text_file.read_text(encoding="utf-8", errors="replace")
    elif text is None and not sys.stdin.isatty():
        text = sys.stdin.read() or None
    elif text is None and html_file is None:
        raise typer.BadParameter(
            "give --text, --text-file or --html-file, or pipe the text on stdin", param_hint="--text"
        )
    html = html_file.read_text(encoding="utf-8", errors="replace") if html_file is not None else None
    attachments = [_attachment(path) for path in attach or []]
    recipients = [address for _, address in getaddresses([*to, *(cc or []), *(bcc or [])]) if address]

    async def work(client: AsyncAgentInbox) -> tuple[SendMessageResponse, list[str]]:
        sent = await client.inboxes.messages.send(
            inbox_id=from_,
            to=to,
            cc=cc or None,
            bcc=bcc or None,
            subject=subject,
            text=text,
            html=html,
            attachments=attachments or None,
        )
        # Local recipients were delivered in the send's own transaction; only the others wait for serve.
        remote = []
        for address in dict.fromkeys(a.lower() for a in recipients):
            try:
                await client.inboxes.get(inbox_id=address)
            except AgentInboxError:
                remote.append(address)
        return sent, remote

    sent, remote = run(client_settings(database_url), work)
    if as_json:
        print_json(sent)
    else:
        typer.echo(f"message_id: {sent.message_id}")
        typer.echo(f"thread_id: {sent.thread_id}")
    if remote:
        typer.echo(
            f"queued for {', '.join(remote)}: remote mail goes out while `agentinbox serve` runs", err=True
        )


# ---- import ----

_CONCURRENT_DELIVERIES = 8


@dataclass
class _Source:
    """A mailbox to import: what it is, how many messages, and (label, raw bytes) read one at a time."""

    kind: str
    count: int
    messages: Generator[tuple[str, bytes], None, None]


def _open_source(path: Path) -> _Source:
    """Detect an mbox file, a Maildir (cur/ and new/), a directory of .eml files or one .eml file."""
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            maildir = mailbox.Maildir(path, factory=None, create=False)
            keys = sorted(maildir.keys())
            # get_bytes returns each file's bytes as stored (no re-serialising).
            return _Source("Maildir", len(keys), ((key, maildir.get_bytes(key)) for key in keys))
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
        if not files:
            raise typer.BadParameter(
                f"{path} is neither a Maildir (with cur/ and new/) nor a directory of .eml files",
                param_hint="PATH",
            )
        return _Source(".eml files", len(files), ((f.name, f.read_bytes()) for f in files))
    with path.open("rb") as file:
        head = file.read(5)
    if not head:
        raise typer.BadParameter(f"{path} is empty", param_hint="PATH")
    if head == b"From ":
        box = mailbox.mbox(path, factory=None, create=False)
        keys = list(box.keys())  # scans for the From_ lines once; keeps offsets, not messages

        def read() -> Generator[tuple[str, bytes], None, None]:
            try:
                for position, key in enumerate(keys, start=1):
                    # get_bytes returns the message as stored, without its From_ line (no re-serialising).
                    yield f"#{position}", box.get_bytes(key)
            finally:
                box.close()

        return _Source("mbox", len(keys), read())
    return _Source("message", 1, ((path.name, path.read_bytes()) for _ in (1,)))


@dataclass
class _Tally:
    imported: int = 0
    duplicates: int = 0
    failed: int = 0


async def _import(
    client: AsyncAgentInbox, source: _Source, *, inbox_id: str | None, limit: int | None, progress: Progress
) -> _Tally:
    """Deliver each message, a bounded number at a time; failures are reported and counted, not fatal."""
    if inbox_id is not None:
        await client.inboxes.get(inbox_id=inbox_id)  # an unknown inbox stops the import before it starts
    total = source.count if limit is None else min(limit, source.count)
    task = progress.add_task(f"importing {source.kind}", total=total)
    tally = _Tally()
    started = datetime.now(UTC)
    seen: set[tuple[str, str]] = set()
    slots = asyncio.Semaphore(_CONCURRENT_DELIVERIES)
    running: set[asyncio.Task[None]] = set()

    def report(label: str, problem: str) -> None:
        tally.failed += 1
        progress.console.print(f"failed: message {label}: {problem}", markup=False, highlight=False)

    async def one(label: str, raw: bytes) -> None:
        try:
            stored = await client.deliver(raw, rcpt_to=None if inbox_id is None else [inbox_id])
        except AgentInboxError as exc:
            report(label, exc.message)
        except Exception as exc:  # a fault on one message must not end the import of the rest
            report(label, f"{type(exc).__name__}: {exc}")
        else:
            # deliver returns the copy already stored for a message seen before (here or in an earlier run).
            copies = {(m.inbox_id, m.message_id) for m in stored}
            new = any(m.created_at >= started for m in stored) and not copies <= seen
            seen.update(copies)
            if new:
                tally.imported += 1
            else:
                tally.duplicates += 1
        finally:
            slots.release()
            progress.advance(task)

    messages = itertools.islice(source.messages, total)
    try:
        while True:
            await slots.acquire()  # before reading the next message: at most this many are held in memory
            item = next(messages, None)
            if item is None:
                slots.release()
                break
            job = asyncio.create_task(one(*item))
            running.add(job)
            job.add_done_callback(running.discard)
        await asyncio.gather(*running)
    finally:
        source.messages.close()  # closes the mbox file when --limit stopped before its end
    return tally


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="An mbox file, a Maildir, a directory of .eml files or one .eml file.",
            exists=True,
            resolve_path=True,
            show_default=False,
        ),
    ],
    inbox_id: Annotated[
        str | None,
        option("Put every message into this inbox (default: the inboxes among each message's To/Cc)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Import only the first N messages.", show_default=False)
    ] = None,
    database_url: DatabaseUrl = None,
    default_domain: DefaultDomain = None,
) -> None:
    """Import existing mail, byte for byte, through the same pipeline as received mail.

    Messages already imported count as duplicates, so running it again is safe. A message that cannot be
    imported is reported with its position and the import goes on; the exit status is 1 if any failed.
    """
    source = _open_source(path)
    settings = client_settings(database_url, default_domain)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        tally = run(
            settings,
            lambda client: _import(client, source, inbox_id=inbox_id, limit=limit, progress=progress),
        )
    typer.echo(f"imported {tally.imported}, duplicates {tally.duplicates}, failed {tally.failed}")
    if tally.failed:
        raise typer.Exit(1)
