"""Reply extraction: how often agentinbox's extraction, and talon's alone, give the expected new text, and
how long agentinbox's takes.

    .venv/bin/python bench/extraction.py          (add -v to list every miss)

Accuracy is scored on the ground truth of ../shared/corpora (see each folder's SOURCE.txt) and on the labelled
cases of tests/extraction_cases (see its README.md), every case an exact match after normalising whitespace
(trailing spaces of each line dropped, runs of blank lines made one, the whole stripped). Each corpus defines
"the new content" its own way, so each is compared with the matching output:

- talon's corpora expect everything new in the message, signature and forwarded message included: agentinbox
  is scored with ``extract_reply`` (the whole new content), talon with ``extract_from_plain``/``_html``.
  plain_text_reply_extraction leaves out test_too_many_lines (it holds only with talon's MAX_LINES_COUNT
  patched to 1); standard_replies takes the first text/plain part of each .eml; html_replies compares
  the HTML made text with all whitespace removed, as talon's own test does.
- email_reply_parser (``parse_reply``: visible text, signature and quotes gone) and mail_parser_reply
  (reply 0's ``body``: the latest reply without header block and signature) expect the reply without its
  signature: agentinbox is scored with ``extract_message(...).text``. mail_parser_reply's
  ``contains``/``not_contains`` assertions on reply 0's body are a second row, as checks rather than cases.
- The labelled set: agentinbox's text, signature and forwarded fields must all match; talon alone is scored
  against the whole new content (the case's ``full``, else expected text and signature together), which is
  all it claims to return. The held-out row repeats the cases written after the rules were tuned (their
  first score, before any rule changed for them, was 22/25 for agentinbox and 19/25 for talon alone).

Timing: ``extract_reply(body, None)`` on each of the 1,833 bodies of the R-devel 2015 mbox (split on the
Pipermail separator, body = ``get_payload(decode=True)``), after talon has been imported once; then talon's
``extract_from_plain`` alone on the same bodies, for comparison (with the faster ``is_splitter`` agentinbox
installs when it imports talon: the same patterns, the same results; unpatched, talon alone took p50 1.3 ms,
p99 18 ms, max 40 ms here). One pass first, then each message's best of three passes, which leaves out the
load of other processes on a shared machine.
"""

from __future__ import annotations

import email
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _corpus import CORPORA, mbox_messages, require_corpora

from agentinbox.mail import extract
from agentinbox.mail.extract import extract_message, extract_reply, html_to_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from extraction_cases.labelled import agentinbox_result, load_cases, no_space, normalise, talon_result

VERBOSE = "-v" in sys.argv[1:]
Row = tuple[str, list[bool], list[bool], list[str]]  # name, talon ok per case, agentinbox ok per case, ids


def first_text_part(raw: bytes) -> str:
    for part in email.message_from_bytes(raw).walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def read_body(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


def _talon_corpus() -> dict[str, Any]:
    return json.loads((CORPORA / "talon" / "expectations.json").read_text())


def talon_plain(talon: Any) -> Row:
    cases = [
        c
        for c in _talon_corpus()["plain_text_reply_extraction"]["cases"]
        if c["test"] != "test_too_many_lines"
    ]
    want = [normalise(c["expected_reply"]) for c in cases]
    return (
        "talon plain_text_reply_extraction",
        [normalise(talon.extract_from_plain(c["input"])) == w for c, w in zip(cases, want, strict=True)],
        [normalise(extract_reply(c["input"], None)[0]) == w for c, w in zip(cases, want, strict=True)],
        [c["test"] for c in cases],
    )


def talon_standard(talon: Any) -> Row:
    cases = _talon_corpus()["standard_replies"]["cases"]
    bodies = [first_text_part((CORPORA / "talon" / c["file"]).read_bytes()) for c in cases]
    want = [normalise(c["expected_reply_text"]) for c in cases]
    return (
        "talon standard_replies",
        [normalise(talon.extract_from_plain(b)) == w for b, w in zip(bodies, want, strict=True)],
        [normalise(extract_reply(b, None)[0]) == w for b, w in zip(bodies, want, strict=True)],
        [c["file"] for c in cases],
    )


def talon_html(talon: Any) -> Row:
    cases = _talon_corpus()["html_replies"]["cases"]
    htmls = [(CORPORA / "talon" / c["file"]).read_text(encoding="utf-8", errors="replace") for c in cases]
    want = [no_space(c["expected_reply_text"]) for c in cases]
    return (
        "talon html_replies (no whitespace)",
        [no_space(html_to_text(talon.extract_from_html(h))) == w for h, w in zip(htmls, want, strict=True)],
        [
            no_space(html_to_text(extract_reply(None, h)[1] or "")) == w
            for h, w in zip(htmls, want, strict=True)
        ],
        [c["file"] for c in cases],
    )


def email_reply_parser(talon: Any) -> Row:
    folder = CORPORA / "email_reply_parser"
    cases = json.loads((folder / "expected_reply_text.json").read_text())
    bodies = [read_body(folder / c["file"]) for c in cases]
    want = [normalise(c["expected_reply_text"]) for c in cases]
    return (
        "email_reply_parser expected_reply_text",
        [normalise(talon.extract_from_plain(b)) == w for b, w in zip(bodies, want, strict=True)],
        [normalise(extract_message(b, None).text) == w for b, w in zip(bodies, want, strict=True)],
        [c["file"] for c in cases],
    )


def mail_parser_reply(talon: Any) -> tuple[Row, Row]:
    """(exact cases, contains/not_contains checks) on reply 0's body."""
    folder = CORPORA / "mail_parser_reply"
    rows: dict[str, tuple[list[bool], list[bool], list[str]]] = {
        "exact": ([], [], []),
        "checks": ([], [], []),
    }
    for record in json.loads((folder / "expectations.json").read_text()):
        body = read_body(folder / record["file"])
        ours = talons = None
        for assertion in record["assertions"]:
            if assertion.get("reply") != 0 or assertion.get("field") != "body":
                continue
            if ours is None:
                ours = normalise(extract_message(body, None).text)
                talons = normalise(talon.extract_from_plain(body))
            value = normalise(assertion["value"])
            check = assertion["check"]
            kind = "exact" if check == "equals" else "checks"
            for results, got in ((rows[kind][0], talons), (rows[kind][1], ours)):
                if check == "equals":
                    results.append(got == value)
                elif check == "contains":
                    results.append(value in (got or ""))
                elif check == "not_contains":
                    results.append(value not in (got or ""))
            if check in ("equals", "contains", "not_contains"):
                rows[kind][2].append(f"{record['test']} {check} {value[:30]!r}")
    return (
        ("mail_parser_reply reply 0 body equals", *rows["exact"]),
        ("mail_parser_reply reply 0 body (contains checks)", *rows["checks"]),
    )


def labelled(talon: Any) -> list[Row]:
    rows: dict[str, tuple[list[bool], list[bool], list[str]]] = {}
    heldout: tuple[list[bool], list[bool], list[str]] = ([], [], [])
    misses = []
    for case in load_cases():
        talon_ok, ours, ids = rows.setdefault(case.category, ([], [], []))
        ok, problem = agentinbox_result(case)
        talon_ok.append(talon_result(case, talon))
        ours.append(ok)
        ids.append(case.id)
        if case.data.get("heldout"):
            heldout[0].append(talon_ok[-1])
            heldout[1].append(ok)
            heldout[2].append(case.id)
        if not ok:
            misses.append(f"  {case.category}/{case.id}: {problem[:300]}")
    if VERBOSE and misses:
        print("labelled misses:\n" + "\n".join(misses) + "\n")
    return [(f"labelled: {category}", *results) for category, results in rows.items()] + [
        ("labelled: held-out cases (in the rows above)", *heldout)
    ]


def _pct(results: list[bool]) -> str:
    return f"{sum(results):>4}/{len(results):<4} {100 * sum(results) / max(len(results), 1):5.1f}%"


def print_accuracy(talon: Any) -> None:
    exact, checks = mail_parser_reply(talon)
    rows = [
        talon_plain(talon),
        talon_standard(talon),
        talon_html(talon),
        email_reply_parser(talon),
        exact,
        checks,
    ]
    rows += labelled(talon)
    all_labelled = [r for r in rows if r[0].startswith("labelled") and "held-out" not in r[0]]
    rows.append(
        (
            "labelled: all",
            [x for r in all_labelled for x in r[1]],
            [x for r in all_labelled for x in r[2]],
            [i for r in all_labelled for i in r[3]],
        )
    )
    print(f"{'corpus / category':<50} {'talon alone':>17} {'agentinbox':>17}")
    regressions = []
    for name, talons, ours, ids in rows:
        print(f"{name:<50} {_pct(talons):>17} {_pct(ours):>17}")
        if name != "labelled: all" and "held-out" not in name:
            regressions += [f"{name}: {i}" for t, o, i in zip(talons, ours, ids, strict=True) if t and not o]
        if VERBOSE:
            for ok, case_id in zip(ours, ids, strict=True):
                if not ok:
                    print(f"    miss: {case_id}")
    print(f"\ncases talon gets right and agentinbox does not: {len(regressions)}")
    for line in regressions:
        print("  " + line)


def mbox_bodies() -> list[tuple[str, str]]:
    """(Message-ID, body) of every message of the mbox."""
    bodies = []
    for raw in mbox_messages():
        message = email.message_from_bytes(raw)
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)  # the archive's bodies are all single-part text
        body = payload.decode(message.get_content_charset() or "utf-8", "replace")
        bodies.append((str(message.get("Message-ID", "?")), body))
    return bodies


def time_per_message(function: Callable[[str], object], bodies: list[str]) -> list[float]:
    timings = []
    for body in bodies:
        start = time.perf_counter()
        function(body)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def best_of(function: Callable[[str], object], bodies: list[str], runs: int) -> list[float]:
    """Each message's fastest of ``runs`` passes: its own cost, without other processes' load."""
    passes = [time_per_message(function, bodies) for _ in range(runs)]
    return [min(times) for times in zip(*passes, strict=True)]


def print_timing(talon: Any) -> None:
    messages = mbox_bodies()
    bodies = [body for _, body in messages]
    print(f"\nR-devel 2015 mbox: {len(bodies)} bodies (one pass; then each message's best of three)")
    for name, function, runs in (
        ("agentinbox extract_message", lambda body: extract_message(body, None), 1),
        ("talon extract_from_plain alone", talon.extract_from_plain, 1),
        ("agentinbox, best of 3", lambda body: extract_message(body, None), 3),
        ("talon alone, best of 3", talon.extract_from_plain, 3),
    ):
        timings = best_of(function, bodies, runs)
        ordered = sorted(timings)
        p50 = statistics.median(ordered)
        p99 = ordered[int(len(ordered) * 0.99)]
        slowest = max(range(len(timings)), key=timings.__getitem__)
        message_id, body = messages[slowest]
        print(
            f"{name:<32} p50 {p50:.3f} ms   p99 {p99:.3f} ms   max {ordered[-1]:.3f} ms "
            f"({message_id}, {len(body.splitlines())} lines)"
        )


def main() -> None:
    require_corpora()
    start = time.perf_counter()
    talon = extract._quotations()  # the one-time import, kept out of the per-message figures
    print(f"talon import: {(time.perf_counter() - start) * 1000:.0f} ms (once, on first use)\n")
    print_accuracy(talon)
    print_timing(talon)


if __name__ == "__main__":
    main()
