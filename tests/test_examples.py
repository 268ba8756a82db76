"""The examples run as a new user runs them, each in a process of its own, and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_quickstart_makes_a_real_round_trip() -> None:
    out = _run("quickstart.py")
    assert "agent woken by message.received" in out
    assert "customer's server received the reply" in out
    assert "message.delivered" in out


def test_agent_loop_answers_mail_that_arrived_while_it_was_down_and_in_the_thread() -> None:
    out = _run("agent_loop.py")
    assert "while no agent was running" in out
    assert out.count("agent woke for") == 2
    assert 'customer wrote (extracted reply): "Thank you, that\'s great news!"' in out
    assert "now has 4 messages" in out
    assert "unread" not in out.split("now has 4 messages")[1]


def test_webhook_receiver_verifies_a_signed_delivery() -> None:
    out = _run("webhook_receiver.py")
    assert "verified" in out.lower()
    assert '"event_type": "message.received"' in out
