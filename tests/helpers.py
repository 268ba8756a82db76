"""Helpers for tests: where the shared test corpora are."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def corpus(*parts: str) -> Path:
    """A path inside the shared corpora, or a skip with the reason when they are not there."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test corpus {path} is not present (the shared corpora live beside the project)")
    return path
