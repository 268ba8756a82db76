"""LlamaIndex reader and tool spec for agentinbox, the embeddable email engine for AI agents."""

from llama_index.readers.agentinbox.base import AgentInboxReader
from llama_index.readers.agentinbox.tool_spec import AgentInboxToolSpec

__all__ = ["AgentInboxReader", "AgentInboxToolSpec"]
