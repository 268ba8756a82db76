"""Helpers for tests: where the shared test corpora are, and asserting typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agentinbox import AgentInboxError

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
