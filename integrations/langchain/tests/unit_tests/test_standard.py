"""langchain-tests' standard unit tests (``ToolsUnitTests``) for every tool of the toolkit.

One test class per tool of ``agentinbox.tools.TOOLS``, made below, so a tool added there is tested here
(and needs an entry in ``tests.mailbox.EXAMPLES``). These tests build tools and check their schemas: the
client is never opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_agentinbox import AgentInboxTool
from langchain_tests.unit_tests import ToolsUnitTests

from agentinbox import AgentInbox
from agentinbox.tools import TOOLS
from tests.mailbox import EXAMPLES, Mailbox, placeholder


@pytest.fixture(scope="module")
def unopened_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentInbox]:
    folder: Path = tmp_path_factory.mktemp("unit")
    client = AgentInbox(database_url=f"sqlite+aiosqlite:///{folder / 'never-opened.db'}")
    yield client
    client.close()


class _AgentInboxToolUnitTests(ToolsUnitTests):
    tool_name: str

    @pytest.fixture(autouse=True)
    def _mailbox(self, unopened_client: AgentInbox) -> None:
        self.box: Mailbox = placeholder(unopened_client)

    @property
    def tool_constructor(self) -> type[AgentInboxTool]:
        return AgentInboxTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"client": self.box.client, "agent_tool": self.tool_name}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return EXAMPLES[self.tool_name](self.box)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


for _tool in TOOLS:
    _name = f"Test{_camel(_tool.name)}Unit"
    globals()[_name] = type(_name, (_AgentInboxToolUnitTests,), {"tool_name": _tool.name})
