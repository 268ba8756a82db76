"""``agentinbox serve`` as a real process: it receives over SMTP, stores, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from peers import free_port

from agentinbox import AgentInbox

AGENTINBOX = str(Path(sys.executable).with_name("agentinbox"))


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTINBOX, *args], capture_output=True, text=True, timeout=60, env=env)


def test_help_lists_the_serve_options() -> None:
    done = _run("serve", "--help")
    assert done.returncode == 0
    for option in (
        "--smtp-listen",
        "--submission-listen",
        "--relay-url",
        "--database-url",
        "--inbound-processes",
        "--http-listen",
        "--api-key",
    ):
        assert option in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--smtp-listen", "nonsense"], "smtp_listen"),
        (["--relay-url", "http://x"], "relay_url"),
        (["--database-url", "nope://"], "database"),
        (["--inbound-processes", "-1"], "inbound_processes"),
    ],
)
def test_bad_settings_are_reported_without_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    base = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"]
    done = _run("serve", *base, *args)
    assert done.returncode != 0
    assert message in done.stderr.lower() or message in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_environment_settings_are_reported(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTINBOX_MAX_MESSAGE_SIZE": "-5"}
    done = _run("serve", "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", env=env)
    assert done.returncode == 2 and "max_message_size" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed (.ci/run installs it)")
@pytest.mark.parametrize("extra", [[], ["--inbound-processes", "1"]], ids=["one-process", "child-process"])
def test_serve_receives_mail_over_smtp_and_stops_on_sigterm(tmp_path: Path, extra: list[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"
    with AgentInbox(database_url=url, default_domain="agents.test") as client:
        client.inboxes.create(username="desk")
    port = free_port()
    process = subprocess.Popen(
        [
            AGENTINBOX,
            "serve",
            "--database-url",
            url,
            "--default-domain",
            "agents.test",
            "--smtp-listen",
            f"127.0.0.1:{port}",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "ready" in line or not line:
                break
        assert any(f"127.0.0.1:{port}" in line for line in lines), lines
        sent = subprocess.run(
            [
                "swaks",
                "--server",
                f"127.0.0.1:{port}",
                "--from",
                "carol@example.com",
                "--to",
                "desk@agents.test",
                "--header",
                "Subject: Via the CLI",
                "--body",
                "Hello, served process.",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "250 2.0.0" in sent.stdout
        with AgentInbox(database_url=url, default_domain="agents.test") as client:
            for _ in range(100):
                listed = client.inboxes.messages.list(inbox_id="desk@agents.test")
                if listed.count:
                    break
                time.sleep(0.05)
            assert listed.count == 1 and listed.messages[0].subject == "Via the CLI"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_runs_the_http_api_and_mcp_together(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"
    with AgentInbox(database_url=url, default_domain="agents.test") as client:
        client.inboxes.create(username="desk")
    http_port, mcp_port = free_port(), free_port()
    key = "am_cli_served_organization_key"
    process = subprocess.Popen(
        [
            AGENTINBOX,
            "serve",
            "--database-url",
            url,
            "--http-listen",
            f"127.0.0.1:{http_port}",
            "--mcp-listen",
            f"127.0.0.1:{mcp_port}",
            "--api-key",
            key,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "ready" in line or not line:
                break
        assert any(f"http://127.0.0.1:{http_port}/v0" in line for line in lines), lines
        assert any(f"http://127.0.0.1:{mcp_port}/mcp" in line for line in lines), lines
        listed = httpx.get(
            f"http://127.0.0.1:{http_port}/v0/inboxes", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert [i["inbox_id"] for i in listed.json()["inboxes"]] == ["desk@agents.test"]
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "cli-test", "version": "1"},
            },
        }
        answer = httpx.post(
            f"http://127.0.0.1:{mcp_port}/mcp",
            json=initialize,
            headers={"Accept": "application/json, text/event-stream"},
            timeout=10,
        )
        assert answer.status_code == 200 and "agentinbox" in answer.text, answer.text
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_serve_refuses_a_bad_mcp_address(tmp_path: Path) -> None:
    done = _run(
        "serve", "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "--mcp-listen", "8000"
    )
    assert done.returncode == 2 and "--mcp-listen" in done.stderr and "Traceback" not in done.stderr
