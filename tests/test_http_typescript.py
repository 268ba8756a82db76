"""The official ``agentmail`` TypeScript SDK (npm, pinned in tests/typescript/package.json) runs a short
scenario against a served engine: idempotent inbox create, an idempotent send, threads listed by label, the
message read and relabelled, and the SDK's typed errors (NotFoundError, ValidationError)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from http_api import Served, serving

HERE = Path(__file__).parent / "typescript"
DOMAIN = "agents.test"

if shutil.which("node") is None or shutil.which("npm") is None:
    pytest.skip("node and npm are not on PATH: the TypeScript SDK cannot run", allow_module_level=True)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """tests/typescript/node_modules, installed from package-lock.json by ``npm ci`` when missing."""
    installed = HERE / "node_modules" / "agentmail" / "package.json"
    if not installed.exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["agentmail"]
    assert json.loads(installed.read_text())["version"] == pinned
    return HERE / "node_modules"


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[Served]:
    async with serving(database_url, default_domain=DOMAIN) as running:
        yield running


async def run_scenario(*arguments: str) -> tuple[int, str, str]:
    """``node scenario.mjs ARGS`` without blocking the loop the server runs on."""
    process = await asyncio.create_subprocess_exec(
        "node",
        "scenario.mjs",
        *arguments,
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_typescript_sdk_scenario(served: Served, node_modules: Path) -> None:
    code, out, err = await run_scenario(served.base_url, served.api_key)
    assert code == 0, f"the scenario failed:\n{err}"
    result: dict[str, Any] = json.loads(out)
    agent, partner = f"ts-agent@{DOMAIN}", f"ts-partner@{DOMAIN}"

    assert result["agent"] == {"inboxId": agent, "clientId": "ts-1", "displayName": "TS Agent"}
    assert result["againInboxId"] == agent and result["partnerInboxId"] == partner
    assert (
        result["resent"] == result["sent"]
    )  # same Idempotency-Key: the first send's ids, nothing sent twice
    assert [t["subject"] for t in result["threads"]] == ["From TypeScript"]
    assert result["threads"][0]["senders"] == [f"TS Agent <{agent}>"]
    message = result["message"]
    assert message["messageId"] == result["sent"]["messageId"]
    assert message["from"] == f"TS Agent <{agent}>" and message["to"] == [partner]
    assert message["subject"] == "From TypeScript" and message["text"].strip() == "Hello from node."
    assert sorted(message["labels"]) == ["received", "unread"]
    assert message["timestamp"].endswith("Z")
    assert sorted(result["updatedLabels"]) == ["received", "seen-by-ts"]
    assert result["unreadAfter"] == 0
    assert result["sentThreads"] == [result["sent"]["threadId"]]

    not_found = {"errorClass": "NotFoundError", "isNotFound": True, "isValidation": False, "statusCode": 404}
    assert result["notFound"] == {**not_found, "name": "NotFoundError", "code": "not_found"}
    assert result["unknownInbox"] == result["notFound"]
    assert result["invalid"] == {
        "errorClass": "ValidationError",
        "isNotFound": False,
        "isValidation": True,
        "statusCode": 400,
        "name": "ValidationError",
        "code": "validation_error",
    }

    # One message went out, one came in, whatever the retry.
    outbox = await served.sdk().inboxes.messages.list(agent, labels=["sent"])
    assert outbox.count == 1


async def test_typescript_sdk_with_a_wrong_key_is_refused(served: Served, node_modules: Path) -> None:
    code, out, err = await run_scenario(served.base_url, "am_not_a_key")
    assert code != 0 and out == ""
    assert "401" in err and "unknown_api_key" in err


async def test_scenario_script_without_arguments_says_how_to_run_it(node_modules: Path) -> None:
    code, out, err = await run_scenario()
    assert out == ""
    assert code == 2 and "usage: node scenario.mjs BASE_URL API_KEY" in err
