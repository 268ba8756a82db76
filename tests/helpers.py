"""Helpers for tests: where the shared test corpora are, asserting typed errors, started engines, swaks."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from agentinbox import AgentInboxError, AsyncAgentInbox, ValidationError
from agentinbox._clock import ManualClock

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def corpus(*parts: str) -> Path:
    """A path inside the shared corpora, or a skip with the reason when they are not there."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test corpus {path} is not present (the shared corpora live beside the project)")
    return path


@contextmanager
def expect(cls: type[AgentInboxError], code: str | set[str]) -> Iterator[Any]:
    """Assert the block raises ``cls`` with the given stable code(s) and a message a person can read."""
    with pytest.raises(cls) as info:
        yield info
    codes = {code} if isinstance(code, str) else code
    assert info.value.code in codes, info.value
    assert info.value.message.strip()
    assert str(info.value).strip()


@asynccontextmanager
async def serving(
    database_url: str, clock: ManualClock, *usernames: str, **settings: Any
) -> AsyncIterator[AsyncAgentInbox]:
    """An engine on ``agents.test`` with ``settings`` and an inbox per username, started; closed on exit."""
    engine = AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock, **settings)
    try:
        for username in usernames:
            await engine.inboxes.create(username=username)
        await engine.start()
        yield engine
    finally:
        await engine.close()


async def expect_start_refused(database_url: str, path: str, **settings: Any) -> None:
    """Starting an engine with ``settings`` is a ValidationError at the setting ``path``; nothing listens."""
    engine = AsyncAgentInbox(database_url=database_url, **settings)
    try:
        with pytest.raises(ValidationError) as caught:
            await engine.start()
        assert caught.value.errors[0]["path"] == [path], caught.value
        assert engine.smtp_address is None and engine.submission_address is None
    finally:
        await engine.close()


async def swaks(address: tuple[str, int] | None, *args: str, stdin: bytes | None = None) -> tuple[int, str]:
    """Run Debian's swaks against ``address`` (host, port) with ``args``: its exit status and transcript.

    ``stdin`` is what swaks reads for ``-`` arguments. Skips the test when swaks is not installed.
    """
    program = shutil.which("swaks")
    if program is None:
        pytest.skip("swaks is not installed (.ci/run installs it from Debian's packages)")
    host, port = address or ("", 0)
    process = await asyncio.create_subprocess_exec(
        program, "--server", host, "--port", str(port), *args,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(stdin), timeout=30)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")
