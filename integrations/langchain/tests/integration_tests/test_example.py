"""examples/support_agent.py runs as a user runs it, in a process of its own, offline, and does what it says."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_agent.py"


def test_support_agent_answers_mail_end_to_end() -> None:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.count("agent woken by message.received") == 2
    # Each time: the thread read, the answer sent in it, the mail marked answered.
    assert out.count("get_thread [success]") == 2
    assert out.count("reply_to_message [success]") == 2
    assert out.count("update_message [success]") == 2
    # The answers follow what the customer wrote (read through get_thread, quoted history left out).
    assert "text='Your parcel is at the local depot" in out
    assert "text=\"You're welcome! I'm closing this ticket" in out
    assert "now has 4 messages" in out
    final = out.split("now has 4 messages")[1]
    assert final.count("['answered', 'received']") == 2 and final.count("['sent']") == 2
    assert "unread" not in final
    assert elapsed < 60, f"the example took {elapsed:.1f} s"
