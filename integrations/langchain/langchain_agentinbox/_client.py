"""Which agentinbox client a component was given, and the error for using an async one from sync code.

An ``AsyncAgentInbox`` lives on the event loop that opened it (its database pool and event bus are bound
to that loop), so sync code cannot drive it from here: a sync caller gets ``AgentInbox``, which runs the
same engine on a private loop thread.
"""

from __future__ import annotations

from typing import TypeAlias

from agentinbox import AgentInbox, AsyncAgentInbox

__all__ = ["Client", "sync_client"]

Client: TypeAlias = AgentInbox | AsyncAgentInbox


def sync_client(client: Client, what: str) -> AgentInbox:
    """``client`` when it is the blocking ``AgentInbox``; a clear error for an ``AsyncAgentInbox``."""
    if isinstance(client, AgentInbox):
        return client
    raise RuntimeError(
        f"{what} was given an AsyncAgentInbox, which only async code can use: call it through its async "
        "API (ainvoke / alazy_load, e.g. `await agent.ainvoke(...)`), or give it an AgentInbox for sync use"
    )
