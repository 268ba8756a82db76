"""AgentInboxToolSpec: every agentinbox tool as a LlamaIndex FunctionTool, called against a real engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.tools import FunctionTool
from llama_index.core.tools.tool_spec.base import BaseToolSpec
from llama_index.readers.agentinbox import AgentInboxToolSpec
from llamaindex_mail import DOMAIN, mail

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox.tools import TOOLS

DESK = f"desk@{DOMAIN}"


def by_name(tools: list[FunctionTool]) -> dict[str, FunctionTool]:
    return {tool.metadata.name or "": tool for tool in tools}


def test_every_tool_with_its_own_name_description_and_schema(engine: AgentInbox) -> None:
    spec = AgentInboxToolSpec(engine)
    assert isinstance(spec, BaseToolSpec)
    tools = spec.to_tool_list()
    assert [t.metadata.name for t in tools] == [t.name for t in TOOLS]
    for tool, source in zip(tools, TOOLS, strict=True):
        assert isinstance(tool, FunctionTool)
        assert tool.metadata.description == source.description
        assert tool.metadata.fn_schema is source.args_schema
        # What a function-calling LLM is sent: the args model's JSON schema, within OpenAI's limits.
        function = tool.metadata.to_openai_tool()["function"]
        assert function["name"] == source.name
        schema = source.args_schema.model_json_schema()
        assert set(function["parameters"]["properties"]) == set(schema.get("properties", {}))


def test_calling_tools_sync_and_async(engine: AgentInbox) -> None:
    engine.deliver(mail(1, body="Invoice 42 charges us twice."))
    tools = by_name(AgentInboxToolSpec(engine).to_tool_list())
    listed = tools["list_threads"].call(inbox_id=DESK)
    assert "Invoice question" in listed.content
    thread_id = engine.inboxes.threads.list(inbox_id=DESK).threads[0].thread_id
    thread = tools["get_thread"].call(inbox_id=DESK, thread_id=thread_id)
    assert "Invoice 42 charges us twice." in thread.content
    sent = tools["reply_to_message"].call(
        inbox_id=DESK, message_id="<m1@example.com>", text="Refund on its way."
    )
    assert "Error" not in sent.content
    assert engine.threads.get(thread_id=thread_id).message_count == 2


async def test_acall_with_either_client(engine: AgentInbox, aengine: AsyncAgentInbox) -> None:
    blocking = by_name(AgentInboxToolSpec(engine).to_tool_list())
    assert DESK in (await blocking["list_inboxes"].acall()).content
    tools = by_name(AgentInboxToolSpec(aengine).to_tool_list())
    await aengine.deliver(mail(1, body="Where is my parcel?"))
    out = await tools["search_messages"].acall(inbox_id=DESK, query="parcel")
    assert "<m1@example.com>" in out.content
    with pytest.raises(TypeError, match="acall"):
        tools["list_inboxes"].call()


def test_model_mistakes_come_back_as_text(engine: AgentInbox) -> None:
    tools = by_name(AgentInboxToolSpec(engine).to_tool_list())
    missing = tools["get_thread"].call()
    assert missing.content.startswith("Error: invalid arguments for get_thread")
    unknown = tools["get_thread"].call(inbox_id=DESK, thread_id="00000000-0000-0000-0000-000000000000")
    assert unknown.content.startswith("Error:")
    misspelt = tools["list_threads"].call(inbox=DESK)
    assert misspelt.content.startswith("Error: invalid arguments for list_threads")


def test_a_subset_of_tools_and_bad_construction(engine: AgentInbox) -> None:
    tools = AgentInboxToolSpec(engine, tools=["list_threads", "get_thread"]).to_tool_list()
    assert [t.metadata.name for t in tools] == ["list_threads", "get_thread"]
    with pytest.raises(ValueError, match="unknown tool"):
        AgentInboxToolSpec(engine, tools=["delete_everything"])
    with pytest.raises(TypeError, match="list of tool names"):
        AgentInboxToolSpec(engine, tools="get_thread")
    with pytest.raises(TypeError, match="AgentInbox"):
        AgentInboxToolSpec(object())  # type: ignore[arg-type]


# llama-index's workflow runtime inspects pydantic models with inspect.getmembers, touching deprecated attributes.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
async def test_a_llamaindex_agent_answers_mail_with_the_tools(aengine: AsyncAgentInbox) -> None:
    """A FunctionAgent, driven by a scripted function-calling model, lists the threads and replies."""
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
    from llama_index.core.llms import MockFunctionCallingLLM

    await aengine.deliver(mail(1, body="Invoice 42 charges us twice."))
    seen: list[str] = []

    def script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        results = [str(m.content) for m in messages if m.role == MessageRole.TOOL]
        seen[:] = results
        if not results:
            call = ToolCallBlock(tool_call_id="c1", tool_name="list_threads", tool_kwargs={"inbox_id": DESK})
        elif len(results) == 1:
            call = ToolCallBlock(
                tool_call_id="c2",
                tool_name="reply_to_message",
                tool_kwargs={
                    "inbox_id": DESK,
                    "message_id": "<m1@example.com>",
                    "text": "Refund on its way.",
                },
            )
        else:
            return ChatMessage(role=MessageRole.ASSISTANT, content="Replied to the invoice question.")
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])

    agent = FunctionAgent(
        tools=[*AgentInboxToolSpec(aengine).to_tool_list()],
        llm=MockFunctionCallingLLM(response_generator=script),
    )
    answer = await agent.run(user_msg="Answer the new support mail.")
    assert "Replied to the invoice question." in str(answer)
    assert "Invoice question" in seen[0] and "Error" not in seen[1]
    thread = (await aengine.inboxes.threads.list(inbox_id=DESK, labels=["sent"])).threads[0]
    assert thread.message_count == 2
