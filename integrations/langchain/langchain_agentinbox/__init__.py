"""LangChain integration of agentinbox: the tool set as a toolkit, and threads as documents.

``AgentInboxToolkit(client).get_tools()`` gives an agent the agentinbox tools (read threads, reply, send,
label, search, drafts, wait for a reply); ``AgentInboxLoader`` loads threads as one Document each.
"""

from __future__ import annotations

from .loader import AgentInboxLoader, thread_document
from .toolkit import AgentInboxTool, AgentInboxToolkit

__version__ = "0.1.0"

__all__ = ["AgentInboxLoader", "AgentInboxTool", "AgentInboxToolkit", "thread_document"]
