"""The distribution is a namespace package beside llama_index.core, as LlamaHub readers are."""

from __future__ import annotations

from pathlib import Path

import llama_index
import llama_index.core
import llama_index.readers.agentinbox as package

ROOT = Path(__file__).resolve().parents[1]


def test_namespace_layout() -> None:
    # An __init__.py in llama_index/ or llama_index/readers/ would hide llama_index.core once installed.
    assert not (ROOT / "llama_index" / "__init__.py").exists()
    assert not (ROOT / "llama_index" / "readers" / "__init__.py").exists()
    assert llama_index.__file__ is None and llama_index.core.__file__ is not None
    assert sorted(package.__all__) == ["AgentInboxReader", "AgentInboxToolSpec"]
    assert (Path(package.__file__ or "").parent / "py.typed").exists()
