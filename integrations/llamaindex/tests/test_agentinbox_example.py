"""The example runs as a user would run it, in its own process, and retrieves the right threads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "index_and_query.py"


def test_index_and_query_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "loaded 3 thread documents" in out
    answers = {}
    for block in out.split("\nQ: ")[1:]:
        question, top = block.splitlines()[:2]
        answers[question] = top
    assert "'Charged twice for my subscription'" in answers["customer charged twice wants a refund"]
    assert "'Cannot log in after password reset'" in answers["account locked after password reset"]
    assert "1 changed thread(s) since the cursor; refreshed in the index: [True]" in out
    assert "'Where is my parcel?'" in answers["parcel returned to the warehouse by the courier"]
    assert list(tmp_path.iterdir()) == []  # the example cleans up after itself
