"""``AgentInboxToolSpec``: agentinbox's agent tool set (``agentinbox.tools.TOOLS``) as LlamaIndex tools.

The tools are not written again here: each ``AgentTool`` becomes a ``FunctionTool`` with the tool's own name,
description and pydantic args model, calling ``run_tool_sync`` (blocking) or ``run_tool`` (async), so bad
arguments and unknown ids come back to the model as ``"Error: ..."`` text, as in every other adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec
from llama_index.core.tools.types import ToolMetadata

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox.tools import TOOLS, AgentTool, get_tool, run_tool, run_tool_sync

__all__ = ["AgentInboxToolSpec"]


class AgentInboxToolSpec(BaseToolSpec):
    """Every agentinbox tool (or the ``tools`` named) over one client; ``to_tool_list()`` gives them.

    With an ``AgentInbox`` the tools work through ``call`` and ``acall`` (the latter in a worker thread).
    With an ``AsyncAgentInbox`` they are async: ``acall``, which is what LlamaIndex agents use; ``call``
    raises a TypeError, since that client's work belongs to its own event loop.
    """

    spec_functions: list[SPEC_FUNCTION_TYPE]

    def __init__(self, client: AgentInbox | AsyncAgentInbox, *, tools: Sequence[str] | None = None) -> None:
        if not isinstance(client, AgentInbox | AsyncAgentInbox):
            raise TypeError(f"client must be an AgentInbox or AsyncAgentInbox, not {type(client).__name__}")
        if isinstance(tools, str):
            raise TypeError("tools must be a list of tool names")
        self.client = client
        chosen = TOOLS if tools is None else tuple(get_tool(name) for name in tools)
        self._tools = {tool.name: tool for tool in chosen}
        self.spec_functions = [(tool.name, f"a{tool.name}") for tool in chosen]
        for tool in chosen:
            setattr(self, tool.name, self._blocking(tool))
            setattr(self, f"a{tool.name}", self._awaitable(tool))

    def get_metadata_from_fn_name(
        self, fn_name: str, spec_functions: list[SPEC_FUNCTION_TYPE] | None = None
    ) -> ToolMetadata | None:
        """The tool's own name, model-facing description and args model (not ones guessed from a signature)."""
        tool = self._tools.get(fn_name) or self._tools.get(fn_name.removeprefix("a"))
        if tool is None:
            return None
        return ToolMetadata(name=tool.name, description=tool.description, fn_schema=tool.args_schema)

    def _blocking(self, tool: AgentTool) -> Callable[..., str]:
        client = self.client

        def call(**arguments: Any) -> str:
            if not isinstance(client, AgentInbox):
                raise TypeError(
                    f"{tool.name} over an AsyncAgentInbox is async: use `await tool.acall(...)` "
                    "(or give AgentInboxToolSpec a blocking AgentInbox)"
                )
            return run_tool_sync(client, tool, arguments)

        call.__name__ = call.__qualname__ = tool.name
        call.__doc__ = tool.description
        return call

    def _awaitable(self, tool: AgentTool) -> Callable[..., Awaitable[str]]:
        client = self.client

        async def acall(**arguments: Any) -> str:
            if isinstance(client, AgentInbox):
                return await asyncio.to_thread(run_tool_sync, client, tool, arguments)
            return await run_tool(client, tool, arguments)

        acall.__name__ = acall.__qualname__ = f"a{tool.name}"
        acall.__doc__ = tool.description
        return acall
