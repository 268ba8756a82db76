"""``AgentInboxToolkit``: the agentinbox tool set (``agentinbox.tools.TOOLS``) as LangChain tools.

Each tool keeps the name, description and pydantic args model of the shared tool set, so a LangChain agent
sees the same tools as a LlamaIndex or custom one. A tool's failures the model can act on (unknown id,
refused send, timeout) come back as its ``"Error: ..."`` text in a ``ToolMessage`` with ``status="error"``.

Sync and async: with an ``AgentInbox`` both ``invoke`` and ``ainvoke`` work (``ainvoke`` runs the blocking
call in a worker thread). With an ``AsyncAgentInbox`` use ``ainvoke`` (``await agent.ainvoke(...)``): that
client lives on the event loop that opened it, so a sync ``invoke`` raises a ``RuntimeError`` saying so
rather than blocking or deadlocking that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, BaseToolkit, ToolException
from pydantic import ConfigDict, Field, InstanceOf

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox.tools import TOOLS, AgentTool, get_tool, run_tool, run_tool_sync

from ._client import Client, sync_client

__all__ = ["AgentInboxTool", "AgentInboxToolkit"]


class AgentInboxTool(BaseTool):
    """One tool of the agentinbox tool set over a client: ``AgentInboxTool(client=c, agent_tool="get_thread")``.

    ``agent_tool`` is a tool name or an ``AgentTool``; the name, description and ``args_schema`` come from
    it unless given.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: AgentInbox | AsyncAgentInbox = Field(exclude=True)
    agent_tool: InstanceOf[AgentTool] = Field(exclude=True)
    handle_tool_error: bool = True  # the tool set's "Error: ..." text goes back to the model as it is

    def __init__(self, *, client: Client, agent_tool: AgentTool | str, **fields: Any) -> None:
        spec = get_tool(agent_tool) if isinstance(agent_tool, str) else agent_tool
        if isinstance(spec, AgentTool):
            fields.setdefault("name", spec.name)
            fields.setdefault("description", spec.description)
            fields.setdefault("args_schema", spec.args_schema)
        super().__init__(client=client, agent_tool=spec, **fields)

    @staticmethod
    def _result(text: str) -> str:
        if text.startswith("Error:"):
            raise ToolException(text)  # handle_tool_error turns it into the tool's (error) output
        return text

    def _run(self, run_manager: CallbackManagerForToolRun | None = None, **arguments: Any) -> str:
        client = sync_client(self.client, f"The {self.name!r} tool (called with invoke/run)")
        return self._result(run_tool_sync(client, self.agent_tool, arguments))

    async def _arun(self, run_manager: AsyncCallbackManagerForToolRun | None = None, **arguments: Any) -> str:
        if isinstance(self.client, AgentInbox):
            text = await asyncio.to_thread(run_tool_sync, self.client, self.agent_tool, arguments)
        else:
            text = await run_tool(self.client, self.agent_tool, arguments)
        return self._result(text)


class AgentInboxToolkit(BaseToolkit):
    """The agentinbox tools over one client, for an agent: ``AgentInboxToolkit(client).get_tools()``.

    ``tool_names`` picks a subset (for example a read-and-reply agent without ``send_message``); every
    tool of ``agentinbox.tools.TOOLS`` by default, in that order.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: AgentInbox | AsyncAgentInbox = Field(exclude=True)
    tool_names: tuple[str, ...] | None = None

    def __init__(self, client: Client, *, tool_names: Sequence[str] | None = None) -> None:
        if isinstance(tool_names, str):
            raise ValueError("tool_names is a list of tool names, not one string")
        names = None if tool_names is None else tuple(tool_names)
        for name in names or ():
            get_tool(name)  # a ValueError naming the known tools for a misspelt one
        fields: dict[str, Any] = {"client": client, "tool_names": names}
        super().__init__(**fields)

    def get_tools(self) -> list[BaseTool]:
        """One ``AgentInboxTool`` per selected tool."""
        specs = TOOLS if self.tool_names is None else tuple(get_tool(n) for n in self.tool_names)
        return [AgentInboxTool(client=self.client, agent_tool=spec) for spec in specs]
