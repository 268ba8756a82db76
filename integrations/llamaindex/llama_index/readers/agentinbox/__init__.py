"""LlamaIndex reader and tool spec for agentinbox, the embeddable email engine for AI agents."""

from llama_index.readers.agentinbox.base import AgentInboxReader

__all__ = ["AgentInboxReader"]
