"""The OpenAPI schema the server publishes at ``/v0/openapi.json``, checked against the server itself:
schemathesis generates requests for every operation (valid ones and invalid ones, path ids drawn from
seeded data half the time so reads hit real rows) and checks that none fails with a 5xx, that every
response matches its declared schema, and that every status code is a declared one. The schema must also
list every endpoint of the core API (reference §12).

The server runs on the sync client's own loop thread; outbound mail goes to a closed loopback port and DNS
to a loopback server, so nothing generated here can reach beyond 127.0.0.1. Webhook creates and updates
are left out of the fuzzing, since their URLs would be resolved (and called) through the system's resolver.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from dnsserver import LoopbackDNS
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from peers import free_port
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from agentinbox import AgentInbox

DOMAIN = "agents.test"
ORG_KEY = "am_schema_organization_key_0123456789"
AUTH = {"Authorization": f"Bearer {ORG_KEY}"}
#: Examples per operation: valid requests, and invalid ones (wrong types, missing fields, bad JSON). About
#: 80 ms each (generation included), so the whole schema takes about a minute.
EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
#: Operations not fuzzed, and why (see the module docstring).
NOT_FUZZED = re.compile(r"^(POST|PATCH) .*/webhooks(/\{webhook_id\})?$")

#: Reference §12 (with the pod- and inbox-scoped variants it names), as (method, path) pairs.
_SCOPES_THREADS = ["/v0/inboxes/{inbox_id}", "/v0", "/v0/pods/{pod_id}"]
_SCOPES_LISTS = ["/v0", "/v0/pods/{pod_id}", "/v0/inboxes/{inbox_id}"]
CORE_ENDPOINTS: set[tuple[str, str]] = {
    ("GET", "/v0/inboxes"),
    ("GET", "/v0/inboxes/search"),
    ("GET", "/v0/inboxes/{inbox_id}"),
    ("POST", "/v0/inboxes"),
    ("PATCH", "/v0/inboxes/{inbox_id}"),
    ("DELETE", "/v0/inboxes/{inbox_id}"),
    ("GET", "/v0/inboxes/{inbox_id}/messages"),
    ("GET", "/v0/inboxes/{inbox_id}/messages/search"),
    ("GET", "/v0/inboxes/{inbox_id}/messages/{message_id}"),
    ("PATCH", "/v0/inboxes/{inbox_id}/messages/{message_id}"),
    ("DELETE", "/v0/inboxes/{inbox_id}/messages/{message_id}"),
    ("POST", "/v0/inboxes/{inbox_id}/messages/batch-get"),
    ("POST", "/v0/inboxes/{inbox_id}/messages/batch-update"),
    ("GET", "/v0/inboxes/{inbox_id}/messages/{message_id}/attachments/{attachment_id}"),
    ("GET", "/v0/inboxes/{inbox_id}/messages/{message_id}/raw"),
    ("POST", "/v0/inboxes/{inbox_id}/messages/send"),
    ("POST", "/v0/inboxes/{inbox_id}/messages/{message_id}/reply"),
    ("POST", "/v0/inboxes/{inbox_id}/messages/{message_id}/reply-all"),
    ("POST", "/v0/inboxes/{inbox_id}/messages/{message_id}/forward"),
    *(
        (method, scope + path)
        for scope in _SCOPES_THREADS
        for method, path in [
            ("GET", "/threads"),
            ("GET", "/threads/search"),
            ("GET", "/threads/{thread_id}"),
            ("GET", "/threads/{thread_id}/attachments/{attachment_id}"),
            ("PATCH", "/threads/{thread_id}"),
            ("DELETE", "/threads/{thread_id}"),
            ("GET", "/drafts"),
            ("GET", "/drafts/{draft_id}"),
            ("GET", "/drafts/{draft_id}/attachments/{attachment_id}"),
        ]
    ),
    ("POST", "/v0/inboxes/{inbox_id}/drafts"),
    ("PATCH", "/v0/inboxes/{inbox_id}/drafts/{draft_id}"),
    ("DELETE", "/v0/inboxes/{inbox_id}/drafts/{draft_id}"),
    ("POST", "/v0/inboxes/{inbox_id}/drafts/{draft_id}/send"),
    ("GET", "/v0/pods"),
    ("GET", "/v0/pods/{pod_id}"),
    ("POST", "/v0/pods"),
    ("DELETE", "/v0/pods/{pod_id}"),
    ("GET", "/v0/pods/{pod_id}/inboxes"),
    ("POST", "/v0/pods/{pod_id}/inboxes"),
    ("GET", "/v0/pods/{pod_id}/inboxes/search"),
    ("GET", "/v0/pods/{pod_id}/inboxes/{inbox_id}"),
    ("PATCH", "/v0/pods/{pod_id}/inboxes/{inbox_id}"),
    ("DELETE", "/v0/pods/{pod_id}/inboxes/{inbox_id}"),
    *(
        (method, scope + path)
        for scope in _SCOPES_LISTS
        for method, path in [
            ("GET", "/lists/{direction}/{type}"),
            ("GET", "/lists/{direction}/{type}/{entry}"),
            ("POST", "/lists/{direction}/{type}"),
            ("DELETE", "/lists/{direction}/{type}/{entry}"),
            ("GET", "/webhooks"),
            ("GET", "/webhooks/{webhook_id}"),
            ("POST", "/webhooks"),
            ("PATCH", "/webhooks/{webhook_id}"),
            ("DELETE", "/webhooks/{webhook_id}"),
        ]
    ),
    *(
        (method, scope + path)
        for scope in ["/v0", "/v0/pods/{pod_id}"]
        for method, path in [
            ("GET", "/domains"),
            ("GET", "/domains/{domain_id}"),
            ("POST", "/domains"),
            ("PATCH", "/domains/{domain_id}"),
            ("DELETE", "/domains/{domain_id}"),
            ("POST", "/domains/{domain_id}/verify"),
        ]
    ),
}


@dataclass
class Seeded:
    """A served engine with data in it, and the ids that data has (to put into generated paths)."""

    base_url: str
    ids: dict[str, list[str]] = field(default_factory=dict)


def _seed(client: AgentInbox) -> dict[str, list[str]]:
    """Two inboxes in a pod, mail both ways with attachments, a draft, list entries, domains (the
    organization's and the pod's) and a key."""
    pod = client.pods.create(name="Fuzz pod", client_id="fuzz-pod")
    alpha = client.inboxes.create(username="alpha", display_name="Alpha")
    beta = client.pods.inboxes.create(pod_id=pod.pod_id, username="beta")
    report = {"filename": "report.txt", "content": base64.b64encode(b"numbers\n").decode()}
    sent = client.inboxes.messages.send(
        inbox_id=alpha.inbox_id,
        to=[beta.inbox_id],
        subject="Numbers",
        text="See attached.",
        attachments=[report],
    )
    raw = (
        "From: Carol <carol@outside.test>\r\nTo: alpha@agents.test\r\nSubject: Hello\r\n"
        "Message-ID: <hello+1@outside.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi there\r\n'
        '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    inbound = client.deliver(raw.encode(), mail_from="carol@outside.test", rcpt_to=[alpha.inbox_id])
    draft = client.inboxes.drafts.create(
        inbox_id=alpha.inbox_id, to=["dave@outside.test"], subject="Later", text="Draft", attachments=[report]
    )
    client.lists.create(direction="receive", type="block", entry="spam.test")
    client.inboxes.lists.create(
        inbox_id=alpha.inbox_id, direction="send", type="allow", entry="ok@outside.test"
    )
    domain = client.domains.create(domain="fuzz.test")
    pod_domain = client.pods.domains.create(pod_id=pod.pod_id, domain="pod.fuzz.test")
    key = client.api_keys.create(name="fuzz")
    message = client.inboxes.messages.get(inbox_id=alpha.inbox_id, message_id=inbound[0].message_id)
    attachments = [a.attachment_id for a in message.attachments or []] + [
        a.attachment_id for a in draft.attachments or []
    ]
    return {
        "inbox_id": [alpha.inbox_id, beta.inbox_id],
        "pod_id": [pod.pod_id],
        "message_id": [sent.message_id, inbound[0].message_id],
        "thread_id": [sent.thread_id, inbound[0].thread_id],
        "draft_id": [draft.draft_id],
        "attachment_id": attachments,
        "direction": ["receive", "send", "reply"],
        "type": ["allow", "block"],
        "entry": ["spam.test", "ok@outside.test"],
        "domain_id": [domain.domain_id, pod_domain.domain_id],
        "api_key_id": [key.api_key_id],
    }


@pytest.fixture
def seeded(database_url: str) -> Iterator[Seeded]:
    dns = LoopbackDNS()
    dns.start()
    try:
        with AgentInbox(
            database_url=database_url,
            default_domain=DOMAIN,
            http_listen="127.0.0.1:0",
            api_key=ORG_KEY,
            relay_url=f"smtp://127.0.0.1:{free_port()}",  # a closed port: deliveries wait and retry
            dns_resolver=dns.address,
        ) as client:
            client.start()
            address = client.async_client.http_address
            assert address is not None
            yield Seeded(f"http://{address[0]}:{address[1]}", _seed(client))
    finally:
        dns.stop()


def test_openapi_lists_every_core_endpoint(seeded: Seeded) -> None:
    spec = requests.get(f"{seeded.base_url}/v0/openapi.json", timeout=10).json()
    published = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert sorted(CORE_ENDPOINTS - published) == []
    # Every operation declares its success body (or none, for 204) and the error bodies the SDKs parse.
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert codes & {"200", "204"}, f"{method.upper()} {path} declares no success response"
            assert {"400", "401", "404"} <= codes, f"{method.upper()} {path}: {sorted(codes)}"


def test_schema_holds_for_generated_requests(seeded: Seeded) -> None:
    schema = schemathesis.openapi.from_url(f"{seeded.base_url}/v0/openapi.json", timeout=10)
    session = requests.Session()
    answered: list[int] = []
    session.hooks["response"].append(lambda response, *args, **kwargs: answered.append(response.status_code))
    failures: list[str] = []
    reached: set[str] = set()  # operations that answered 2xx at least once: real rows were read or written
    # Deletes last, so the seeded rows are there for every other operation.
    every = sorted(
        (r.ok() for r in schema.get_all_operations()), key=lambda op: op.method.upper() == "DELETE"
    )
    fuzzed = [op for op in every if not NOT_FUZZED.match(f"{op.method.upper()} {op.path}")]
    for operation in fuzzed:
        label = f"{operation.method.upper()} {operation.path}"
        answered.clear()
        for mode, examples in EXAMPLES.items():
            failure = _fuzz(operation, mode, examples, seeded, session)
            if failure:
                failures.append(f"{label} [{mode.value}]: {failure}")
        if any(200 <= status < 300 for status in answered):
            reached.add(label)
    assert not failures, "\n\n".join(failures)
    assert len(fuzzed) > 100
    assert len(reached) > len(fuzzed) // 3, sorted(reached)


def _fuzz(
    operation: Any, mode: GenerationMode, examples: int, seeded: Seeded, session: requests.Session
) -> str | None:
    """Run the generated cases of one operation; the first failure found (minimized), or None."""
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    @hypothesis.given(case=strategy, data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            known = seeded.ids.get(name)
            if known and data.draw(st.booleans(), label=f"use a seeded {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(known), label=name)
        case.call_and_validate(session=session, headers=AUTH, checks=CHECKS, timeout=30)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None
    except (AssertionError, BaseExceptionGroup) as exc:  # the checks' report: request, response, what failed
        return str(exc)[:3000]
    return None
