"""The public surface of langchain_agentinbox changes only on purpose."""

from __future__ import annotations

import langchain_agentinbox


def test_exported_members() -> None:
    assert langchain_agentinbox.__all__ == [
        "AgentInboxLoader",
        "AgentInboxTool",
        "AgentInboxToolkit",
        "thread_document",
    ]
    for name in langchain_agentinbox.__all__:
        assert getattr(langchain_agentinbox, name).__doc__
    assert langchain_agentinbox.__version__ == "0.1.0"
