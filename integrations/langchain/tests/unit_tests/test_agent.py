"""A LangChain agent (``langchain.agents.create_agent``) over the toolkit, driven by a scripted fake chat
model that supports ``bind_tools``: the tool calls reach the engine, results and errors reach the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_agentinbox import AgentInboxToolkit
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from agentinbox import AsyncAgentInbox
from tests.mailbox import Mailbox, customer_mail


class FakeToolCallingModel(GenericFakeChatModel):
    """Replies with its scripted messages in turn; ``bind_tools`` is what ``create_agent`` needs."""

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)


def call(name: str, call_id: str, **args: Any) -> AIMessage:
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}]
    )


def test_an_agent_reads_a_thread_and_replies_in_it(mailbox: Mailbox) -> None:
    model = FakeToolCallingModel(
        messages=iter(
            [
                call("get_thread", "c1", inbox_id=mailbox.support, thread_id=mailbox.refund_thread),
                call(
                    "reply_to_message",
                    "c2",
                    inbox_id=mailbox.support,
                    message_id=mailbox.refund_question,
                    text="Your refund is on its way.",
                ),
                AIMessage(content="Done: Bob's refund is confirmed."),
            ]
        )
    )
    agent = create_agent(model, tools=AgentInboxToolkit(mailbox.client).get_tools(), system_prompt="Support.")
    result = agent.invoke({"messages": [HumanMessage("Answer Bob's mail.")]})
    kinds = [type(m).__name__ for m in result["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "ToolMessage", "AIMessage"]
    read, replied = (m for m in result["messages"] if isinstance(m, ToolMessage))
    assert read.tool_call_id == "c1" and "Please refund my order." in read.content
    assert replied.tool_call_id == "c2" and replied.status == "success"
    thread = mailbox.client.threads.get(thread_id=mailbox.refund_thread)
    assert thread.message_count == 2 and thread.messages[-1].text.strip().startswith(
        "Your refund is on its way."
    )
    assert thread.messages[-1].subject == "Re: Refund for order #99"


def test_errors_and_bad_arguments_go_back_to_the_model(mailbox: Mailbox) -> None:
    model = FakeToolCallingModel(
        messages=iter(
            [
                call("get_thread", "c1", inbox_id=mailbox.support, thread_id="made-up"),
                call("get_thread", "c2", thread_id=mailbox.order_thread),  # inbox_id missing
                AIMessage(content="I could not read it."),
            ]
        )
    )
    agent = create_agent(model, tools=AgentInboxToolkit(mailbox.client).get_tools())
    result = agent.invoke({"messages": [HumanMessage("Read the thread.")]})
    unknown, invalid = (m for m in result["messages"] if isinstance(m, ToolMessage))
    assert unknown.status == "error" and str(unknown.content).startswith("Error: ")
    assert "made-up" in str(unknown.content)
    assert invalid.status == "error" and "inbox_id" in invalid.content
    assert result["messages"][-1].content == "I could not read it."


async def test_an_async_agent_on_the_async_client_woken_by_mail(async_client: AsyncAgentInbox) -> None:
    inbox = (await async_client.inboxes.create(username="support")).inbox_id
    (arrived,) = await async_client.deliver(
        customer_mail("ann@customer.test", inbox, "Broken lid", "The lid of my teapot is broken.")
    )
    model = FakeToolCallingModel(
        messages=iter(
            [
                call("get_thread", "c1", inbox_id=inbox, thread_id=arrived.thread_id),
                call(
                    "reply_to_message",
                    "c2",
                    inbox_id=inbox,
                    message_id=arrived.message_id,
                    text="A new lid ships today.",
                ),
                call(
                    "update_message",
                    "c3",
                    inbox_id=inbox,
                    message_id=arrived.message_id,
                    remove_labels=["unread"],
                ),
                AIMessage(content="Answered."),
            ]
        )
    )
    tools = AgentInboxToolkit(async_client, tool_names=["get_thread", "reply_to_message", "update_message"])
    agent = create_agent(model, tools=tools.get_tools())
    result = await agent.ainvoke({"messages": [HumanMessage(f"New mail {arrived.message_id}")]})
    results = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in results] == ["success"] * 3
    assert "The lid of my teapot is broken." in results[0].content
    thread = await async_client.threads.get(thread_id=arrived.thread_id)
    assert [m.labels for m in thread.messages] == [["received"], ["sent"]]
    assert (thread.messages[1].text or "").strip().startswith("A new lid ships today.")
