"""The management commands as real processes: inboxes, pods, domains, keys, send, import and tail.

Independent invocations run side by side (each process spends about a second starting Python), so the file
stays quick; every check reads the result back, through the CLI or the library, from the same database.
"""

from __future__ import annotations

import json
import mailbox
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from dnsserver import LoopbackDNS
from test_cli import AGENTINBOX

from agentinbox import AgentInbox

CORPUS_MBOX = (
    Path(__file__).resolve().parents[2] / "shared" / "corpora" / "mbox_r_devel" / "r-devel-2015.mbox"
)


def _run_all(*commands: Sequence[str], stdin: str | None = None) -> list[subprocess.CompletedProcess[str]]:
    """Run several ``agentinbox`` invocations at once; their results in order."""
    processes = [
        subprocess.Popen(
            [AGENTINBOX, *command],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = []
    for command, process in zip(commands, processes, strict=True):
        out, err = process.communicate(stdin, timeout=60)
        results.append(subprocess.CompletedProcess([AGENTINBOX, *command], process.returncode, out, err))
    return results


def _run(*command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return _run_all(command, stdin=stdin)[0]


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def _refused(done: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert done.returncode == status, (done.args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"


def test_help_teaches_the_commands() -> None:
    top, keys = _run_all(["--help"], ["keys", "create", "--help"])
    for command in ("inboxes", "pods", "domains", "keys", "send", "import", "tail", "serve"):
        assert command in _ok(top)
    assert "shown only this once" in _ok(keys) and "--expires-at" in keys.stdout


def test_inboxes_lifecycle(database_url: str) -> None:
    db = ["--database-url", database_url]
    create = [
        "inboxes",
        "create",
        "--username",
        "desk",
        "--display-name",
        "Desk",
        "--default-domain",
        "agents.test",
    ]
    created = json.loads(_ok(_run(*create, "--json", *db)))
    assert created["inbox_id"] == "desk@agents.test" and created["display_name"] == "Desk"
    with AgentInbox(database_url=database_url) as client:
        client.inboxes.create(username="other", domain="agents.test")
    listed, limited, got, missing, unconfirmed = _run_all(
        ["inboxes", "list", *db],
        ["inboxes", "list", "--limit", "1", "--json", *db],
        ["inboxes", "get", "desk@agents.test", "--json", *db],
        ["inboxes", "get", "nobody@agents.test", *db],
        ["inboxes", "delete", "other@agents.test", *db],
    )
    assert (
        "desk@agents.test" in _ok(listed) and "other@agents.test" in listed.stdout and "Desk" in listed.stdout
    )
    page = json.loads(_ok(limited))
    assert page["count"] == 1 and page["inboxes"][0]["inbox_id"] == "other@agents.test"
    assert json.loads(_ok(got)) == created
    _refused(missing, 1, "error: ", "nobody@agents.test")
    _refused(unconfirmed, 2, "--yes")
    assert "deleted inbox desk@agents.test" in _ok(
        _run("inboxes", "delete", "desk@agents.test", "--yes", *db)
    )
    with AgentInbox(database_url=database_url) as client:
        assert [i.inbox_id for i in client.inboxes.list().inboxes] == ["other@agents.test"]


def test_pods_hold_inboxes(sqlite_url: str) -> None:
    db = ["--database-url", sqlite_url]
    pod = json.loads(_ok(_run("pods", "create", "--name", "Team A", "--client-id", "team-a", "--json", *db)))
    _ok(
        _run(
            "inboxes", "create", "--username", "a1", "--domain", "agents.test", "--pod-id", pod["pod_id"], *db
        )
    )
    in_pod, pods, busy = _run_all(
        ["inboxes", "list", "--pod-id", pod["pod_id"], "--json", *db],
        ["pods", "list", *db],
        ["pods", "delete", pod["pod_id"], *db],
    )
    assert [i["inbox_id"] for i in json.loads(_ok(in_pod))["inboxes"]] == ["a1@agents.test"]
    assert "Team A" in _ok(pods) and "Default Pod" in pods.stdout
    _refused(busy, 1, "error: ")
    with AgentInbox(database_url=sqlite_url) as client:
        client.inboxes.delete(inbox_id="a1@agents.test")
    assert f"deleted pod {pod['pod_id']}" in _ok(_run("pods", "delete", pod["pod_id"], *db))
    with AgentInbox(database_url=sqlite_url) as client:
        assert [p.name for p in client.pods.list().pods] == ["Default Pod"]


def test_domains_show_records_and_verify_against_dns(sqlite_url: str, dns_server: LoopbackDNS) -> None:
    db = ["--database-url", sqlite_url]
    created = _ok(_run("domains", "create", "agents.example", *db))
    assert "NOT_STARTED" in created and "_domainkey" in created and "domains verify agents.example" in created
    shown, zone, bad = _run_all(
        ["domains", "get", "agents.example", "--json", *db],
        ["domains", "zone-file", "agents.example", *db],
        ["domains", "create", "not a domain", *db],
    )
    domain = json.loads(_ok(shown))
    assert "$ORIGIN agents.example." in _ok(zone)
    _refused(bad, 2, "error: ")
    for record in domain["records"]:
        name = "agents.example" if record["name"] == "@" else f"{record['name']}.agents.example"
        value = (record["priority"], record["value"]) if record["type"] == "MX" else record["value"]
        dns_server.zone.setdefault((name, record["type"]), []).append(value)
    verified, unknown = _run_all(
        ["domains", "verify", "agents.example", "--dns-resolver", dns_server.address, *db],
        ["domains", "get", "other.example", *db],
    )
    assert "agents.example: VERIFIED" in _ok(verified) and "MISSING" not in verified.stdout
    _refused(unknown, 1, "error: ")
    assert "deleted domain agents.example" in _ok(_run("domains", "delete", "agents.example", *db))
    with AgentInbox(database_url=sqlite_url) as client:
        assert client.domains.list().count == 0


def test_keys_show_the_secret_once_and_revoke(sqlite_url: str) -> None:
    db = ["--database-url", sqlite_url]
    with AgentInbox(database_url=sqlite_url) as client:
        client.inboxes.create(username="desk", domain="agents.test")
    org, scoped, bad_time, both = _run_all(
        ["keys", "create", "--name", "deploy", *db],
        [
            "keys",
            "create",
            "--inbox-id",
            "desk@agents.test",
            "--expires-at",
            "2099-01-01T00:00:00Z",
            "--json",
            *db,
        ],
        ["keys", "create", "--expires-at", "next tuesday", *db],
        ["keys", "create", "--pod-id", "p", "--inbox-id", "desk@agents.test", *db],
    )
    secret = _ok(org).splitlines()[-1]
    assert secret.startswith("am_") and "shown only once" in org.stderr
    key = json.loads(_ok(scoped))
    assert key["inbox_id"] == "desk@agents.test" and key["expires_at"].startswith("2099-01-01")
    _refused(bad_time, 2, "--expires-at")
    _refused(both, 2, "not both")
    listed, of_inbox, revoked, unknown = _run_all(
        ["keys", "list", *db],
        ["keys", "list", "--inbox-id", "desk@agents.test", "--json", *db],
        ["keys", "revoke", key["api_key_id"], *db],
        ["keys", "revoke", "no-such-key", *db],
    )
    assert "deploy" in _ok(listed) and "organization" in listed.stdout
    assert secret not in listed.stdout and key["api_key"] not in listed.stdout
    assert key["api_key"] not in _ok(of_inbox)
    assert f"revoked key {key['api_key_id']}" in _ok(revoked)
    _refused(unknown, 1, "error: ")
    with AgentInbox(database_url=sqlite_url) as client:
        assert [k.name for k in client.api_keys.list().api_keys] == ["deploy"]


def test_send_delivers_locally_and_queues_remote_mail(sqlite_url: str, tmp_path: Path) -> None:
    with AgentInbox(database_url=sqlite_url, default_domain="agents.test") as client:
        client.inboxes.create(username="desk")
        client.inboxes.create(username="team")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4 not much of a pdf")
    (tmp_path / "page.html").write_text("<p>Hello <b>team</b></p>")
    db = ["--database-url", sqlite_url]
    common = ["send", "--from", "desk@agents.test", "--subject", "Plans", *db]
    attach = ["--attach", str(tmp_path / "notes.pdf"), "--html-file", str(tmp_path / "page.html")]
    piped, unknown, bad_to = _run_all(
        [*common, "--to", "team@agents.test", "--to", "Carol <carol@example.com>", *attach],
        [
            "send",
            "--from",
            "nobody@agents.test",
            "--to",
            "team@agents.test",
            "--subject",
            "x",
            "--text",
            "x",
            *db,
        ],
        [*common, "--to", "not-an-address", "--text", "x"],
        stdin="Body from stdin.\n",
    )
    out = _ok(piped)
    assert "message_id: <" in out and "thread_id: " in out
    assert "carol@example.com" in piped.stderr and "agentinbox serve" in piped.stderr
    assert "team@agents.test" not in piped.stderr
    _refused(unknown, 1, "error: ", "nobody@agents.test")
    _refused(bad_to, 2, "error: ", "not-an-address")
    with AgentInbox(database_url=sqlite_url) as client:
        received = client.inboxes.messages.list(inbox_id="team@agents.test")
        assert received.count == 1
        message = client.inboxes.messages.get(
            inbox_id="team@agents.test", message_id=received.messages[0].message_id
        )
        assert message.subject == "Plans" and "Body from stdin." in (message.text or "")
        assert "<b>team</b>" in (message.html or "")
        assert [(a.filename, a.content_type) for a in message.attachments or []] == [
            ("notes.pdf", "application/pdf")
        ]


def _message(number: int, to: str = "list@agents.test") -> bytes:
    return (
        f"From: Poster {number} <poster{number}@example.org>\r\n"
        f"To: {to}\r\n"
        f"Subject: Post {number}\r\n"
        f"Message-ID: <post-{number}@example.org>\r\n"
        "Date: Thu, 01 Jan 2015 10:00:00 +0000\r\n"
        "\r\n"
        f"Body of post {number}.\r\n"
    ).encode()


def _write_sources(root: Path) -> dict[str, Path]:
    """The same three messages as an mbox, a Maildir, a directory of .eml files; and one .eml file."""
    raws = [_message(n) for n in (1, 2, 3)]
    box = mailbox.mbox(root / "archive.mbox")
    for raw in raws:
        box.add(raw)
    box.close()
    maildir = mailbox.Maildir(root / "Maildir")
    for raw in raws:
        maildir.add(raw)
    emls = root / "emls"
    emls.mkdir()
    for number, raw in enumerate(raws, start=1):
        (emls / f"{number}.eml").write_bytes(raw)
    (root / "single.eml").write_bytes(_message(4))
    return {
        "mbox": root / "archive.mbox",
        "maildir": root / "Maildir",
        "emls": emls,
        "eml": root / "single.eml",
    }


def test_import_detects_each_kind_of_source(tmp_path: Path) -> None:
    sources = _write_sources(tmp_path)
    urls = {kind: f"sqlite+aiosqlite:///{tmp_path / (kind + '.db')}" for kind in sources}
    for url in urls.values():
        with AgentInbox(database_url=url, default_domain="agents.test") as client:
            client.inboxes.create(username="list")
    # Without --inbox-id the To header names the inbox, as deliver() decides.
    results = _run_all(*(["import", str(sources[kind]), "--database-url", urls[kind]] for kind in sources))
    for kind, done in zip(sources, results, strict=True):
        count = 1 if kind == "eml" else 3
        assert f"imported {count}, duplicates 0, failed 0" in _ok(done), kind
        with AgentInbox(database_url=urls[kind]) as client:
            listed = client.inboxes.messages.list(inbox_id="list@agents.test")
            assert listed.count == count, kind
            # Stored byte for byte (mbox CRLF lines included): no re-serialising on the way in.
            raw = client.inboxes.messages.get_raw(
                inbox_id="list@agents.test",
                message_id="<post-1@example.org>" if count == 3 else "<post-4@example.org>",
            )
            assert raw.content == (_message(1) if count == 3 else _message(4)), kind


def test_import_goes_on_past_a_message_that_fails(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mixed.db'}"
    with AgentInbox(database_url=url, default_domain="agents.test") as client:
        client.inboxes.create(username="list")
    box = mailbox.mbox(tmp_path / "mixed.mbox")
    box.add(_message(1))
    box.add(_message(2, to="stranger@elsewhere.example"))  # no inbox here is among its recipients
    box.add(b"this is not really an email at all\n\n\x00\xff garbage")  # malformed; stored with --inbox-id
    box.add(_message(3))
    box.close()
    db = ["--database-url", url]
    done = _run("import", str(tmp_path / "mixed.mbox"), *db)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "imported 2, duplicates 0, failed 2" in done.stdout
    assert "message #2" in done.stderr and "message #3" in done.stderr
    forced = _ok(_run("import", str(tmp_path / "mixed.mbox"), "--inbox-id", "list@agents.test", *db))
    assert "imported 2, duplicates 2, failed 0" in forced
    with AgentInbox(database_url=url) as client:
        assert client.inboxes.messages.list(inbox_id="list@agents.test").count == 4


def test_import_refuses_bad_paths_and_unknown_inboxes(tmp_path: Path, sqlite_url: str) -> None:
    sources = _write_sources(tmp_path)
    (tmp_path / "empty").mkdir()
    db = ["--database-url", sqlite_url]
    missing, empty_dir, no_inbox = _run_all(
        ["import", str(tmp_path / "nowhere.mbox"), *db],
        ["import", str(tmp_path / "empty"), *db],
        ["import", str(sources["mbox"]), "--inbox-id", "nobody@agents.test", *db],
    )
    _refused(missing, 2, "nowhere.mbox")
    _refused(empty_dir, 2, "Maildir")
    _refused(no_inbox, 1, "error: ", "nobody@agents.test")


@pytest.mark.skipif(
    not CORPUS_MBOX.is_file(), reason=f"the shared corpora are absent ({CORPUS_MBOX} not found)"
)
def test_import_a_slice_of_the_mailing_list_corpus(sqlite_url: str) -> None:
    with AgentInbox(database_url=sqlite_url, default_domain="agents.test") as client:
        client.inboxes.create(username="r-devel")
    done = _run(
        "import",
        str(CORPUS_MBOX),
        "--inbox-id",
        "r-devel@agents.test",
        "--limit",
        "200",
        "--database-url",
        sqlite_url,
    )
    assert "imported 200, duplicates 0, failed 0" in _ok(done)
    with AgentInbox(database_url=sqlite_url) as client:
        first = client.inboxes.messages.list(inbox_id="r-devel@agents.test", limit=100, ascending=True)
        assert first.count == 100 and first.next_page_token
    box = mailbox.mbox(CORPUS_MBOX, create=False)
    try:
        original = box.get_bytes(0)
    finally:
        box.close()
    message_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in original.split(b"\n\n", 1)[0].splitlines()
        if line.lower().startswith(b"message-id:")
    )
    with AgentInbox(database_url=sqlite_url) as client:
        raw = client.inboxes.messages.get_raw(inbox_id="r-devel@agents.test", message_id=message_id)
    assert raw.content == original


def test_tail_follows_mail_delivered_by_another_process(database_url: str) -> None:
    with AgentInbox(database_url=database_url, default_domain="agents.test") as client:
        client.inboxes.create(username="desk")
    bad = _run("tail", "--event-type", "message.nonsense", "--database-url", database_url)
    _refused(bad, 2, "message.nonsense", "message.received")
    process = subprocess.Popen(
        [AGENTINBOX, "tail", "--json", "--event-type", "message.received", "--database-url", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        assert "following events" in process.stderr.readline()
        # Another process (this test's) writes the mail into the same database.
        with AgentInbox(database_url=database_url) as client:
            client.deliver(_message(7, to="desk@agents.test"))
        line = process.stdout.readline()
        event = json.loads(line)
        assert event["event_type"] == "message.received"
        assert event["message"]["inbox_id"] == "desk@agents.test"
        assert event["message"]["subject"] == "Post 7"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 10
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_tail_prints_one_line_per_event(sqlite_url: str) -> None:
    with AgentInbox(database_url=sqlite_url, default_domain="agents.test") as client:
        client.inboxes.create(username="desk")
        client.inboxes.create(username="team")
    process = subprocess.Popen(
        [AGENTINBOX, "tail", "--inbox-id", "team@agents.test", "--database-url", sqlite_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        assert "following events" in process.stderr.readline()
        with AgentInbox(database_url=sqlite_url) as client:
            client.inboxes.messages.send(
                inbox_id="desk@agents.test", to="team@agents.test", subject="Ping", text="hi"
            )
        line = process.stdout.readline()
        assert "message.received" in line and "team@agents.test" in line and "'Ping'" in line
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_key_from_keys_create_opens_the_http_api_of_serve(sqlite_url: str) -> None:
    with AgentInbox(database_url=sqlite_url) as client:
        client.inboxes.create(username="desk", domain="agents.test")
        client.inboxes.create(username="other", domain="agents.test")
    db = ["--database-url", sqlite_url]
    key = json.loads(_ok(_run("keys", "create", "--inbox-id", "desk@agents.test", "--json", *db)))
    process = subprocess.Popen(
        [AGENTINBOX, "serve", "--http-listen", "127.0.0.1:0", "--api-key", "org-key-for-the-cli-test", *db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        lines = []
        while not lines or ("ready" not in lines[-1] and lines[-1]):
            lines.append(process.stdout.readline())
        base = next(line.split(" on ", 1)[1].strip() for line in lines if line.startswith("HTTP API on "))
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v0")
        scoped = httpx.get(f"{base}/inboxes", headers={"Authorization": f"Bearer {key['api_key']}"})
        assert scoped.status_code == 200
        assert [i["inbox_id"] for i in scoped.json()["inboxes"]] == ["desk@agents.test"]
        organization = httpx.get(
            f"{base}/inboxes", headers={"Authorization": "Bearer org-key-for-the-cli-test"}
        )
        assert organization.status_code == 200 and organization.json()["count"] == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
