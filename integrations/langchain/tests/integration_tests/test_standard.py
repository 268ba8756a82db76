"""langchain-tests' standard integration tests (``ToolsIntegrationTests``) for every tool of the toolkit,
against a real engine (one seeded SQLite file per module, through the blocking ``AgentInbox``).

One test class per tool of ``agentinbox.tools.TOOLS``. The standard tests check that ``invoke`` and
``ainvoke`` work with and without a ``ToolCall``; ``test_example_succeeds`` adds that the example call does
what it should rather than returning one of the tool set's error texts.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_agentinbox import AgentInboxTool
from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests

from agentinbox.tools import TOOLS
from tests.mailbox import EXAMPLES, Mailbox

# What a successful example call's text starts with.
EXPECTED = {
    "list_inboxes": "inbox_id: ",
    "get_inbox": '{"inbox_id": "support@agents.test"',
    "create_inbox": "Created inbox ",
    "list_threads": "thread_id: ",
    "get_thread": "Thread ",
    "get_attachment": "Attachment receipt.txt",
    "send_message": "Sent: message_id ",
    "reply_to_message": "Replied: message_id ",
    "forward_message": "Forwarded: message_id ",
    "update_message": "Updated message ",
    "search_messages": "message_id: ",
    "list_drafts": "draft_id: ",
    "create_draft": "Created draft draft_id: ",
    "send_draft": "Sent draft: message_id ",
}


class _AgentInboxToolIntegrationTests(ToolsIntegrationTests):
    tool_name: str

    @pytest.fixture(autouse=True)
    def _mailbox(self, shared_mailbox: Mailbox) -> None:
        self.box = shared_mailbox

    @property
    def tool_constructor(self) -> type[AgentInboxTool]:
        return AgentInboxTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"client": self.box.client, "agent_tool": self.tool_name}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return EXAMPLES[self.tool_name](self.box)

    def test_example_succeeds(self, tool: BaseTool) -> None:
        if self.tool_name == "list_drafts":
            self.box.new_draft()
        call = ToolCall(name=tool.name, args=self.tool_invoke_params_example, id="call-1", type="tool_call")
        message = tool.invoke(call)
        assert isinstance(message, ToolMessage) and message.tool_call_id == "call-1"
        assert isinstance(message.content, str)
        if self.tool_name == "wait_for_reply":  # nothing arrives: the timeout, as a text the model reads
            assert message.status == "error" and message.content.startswith("Error: "), message.content
            return
        assert message.status == "success", message.content
        assert message.content.startswith(EXPECTED[self.tool_name]), message.content


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


for _tool in TOOLS:
    _name = f"Test{_camel(_tool.name)}Integration"
    globals()[_name] = type(_name, (_AgentInboxToolIntegrationTests,), {"tool_name": _tool.name})
