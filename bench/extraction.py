"""Reply extraction: how often ``extract_reply`` gives the expected new text, and how long it takes.

    .venv/bin/python bench/extraction.py

Accuracy is scored on the ground truth of ../shared/corpora (see each folder's SOURCE.txt), every case an
exact match after normalising whitespace (trailing spaces of each line dropped, runs of blank lines made
one, the whole stripped). How each corpus maps onto "the new content of the latest message":

- talon, plain_text_reply_extraction: ``extract_reply(input, None)[0] == expected_reply``. test_too_many_lines
  is left out: it holds only with talon's MAX_LINES_COUNT patched to 1.
- talon, standard_replies: the first text/plain part of each .eml, decoded, against its expected text.
- talon, html_replies: ``extract_reply(None, html)[1]``, made text with ``html_to_text``, compared with all
  whitespace removed on both sides (as talon's own test does).
- email_reply_parser: each body file against ``expected_reply_text`` (``parse_reply``: the visible text,
  so with signatures and quotes both gone).
- mail_parser_reply: the ``equals`` assertions on reply 0's ``body`` (the latest reply without its header
  block and signature) are the exact cases. Its ``contains``/``not_contains`` assertions on reply 0's body
  are scored in a second row, as checks rather than cases. Reply counts and the other replies' fields have no
  counterpart here.

Timing: ``extract_reply(body, None)`` on each of the 1,833 bodies of the R-devel 2015 mbox (split on the
Pipermail separator, body = ``get_payload(decode=True)``), after talon has been imported once; then talon's
``extract_from_plain`` alone on the same bodies, for comparison.
"""

from __future__ import annotations

import email
import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from _corpus import CORPORA, mbox_messages, require_corpora

from agentinbox.mail import extract
from agentinbox.mail.extract import extract_reply, html_to_text

_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n\s*\n+")


def normalise(text: str | None) -> str:
    """Whitespace-insensitive form for comparing: no trailing spaces, single blank lines, stripped."""
    text = (text or "").replace("\r\n", "\n")
    return _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("", text)).strip()


def no_space(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


def first_text_part(raw: bytes) -> str:
    for part in email.message_from_bytes(raw).walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def talon_plain() -> list[bool]:
    cases = json.loads((CORPORA / "talon" / "expectations.json").read_text())["plain_text_reply_extraction"]
    return [
        normalise(extract_reply(case["input"], None)[0]) == normalise(case["expected_reply"])
        for case in cases["cases"]
        if case["test"] != "test_too_many_lines"
    ]


def talon_standard() -> list[bool]:
    cases = json.loads((CORPORA / "talon" / "expectations.json").read_text())["standard_replies"]["cases"]
    return [
        normalise(extract_reply(first_text_part((CORPORA / "talon" / case["file"]).read_bytes()), None)[0])
        == normalise(case["expected_reply_text"])
        for case in cases
    ]


def talon_html() -> list[bool]:
    cases = json.loads((CORPORA / "talon" / "expectations.json").read_text())["html_replies"]["cases"]
    results = []
    for case in cases:
        html = (CORPORA / "talon" / case["file"]).read_text(encoding="utf-8", errors="replace")
        extracted = extract_reply(None, html)[1] or ""
        results.append(no_space(html_to_text(extracted)) == no_space(case["expected_reply_text"]))
    return results


def email_reply_parser() -> list[bool]:
    folder = CORPORA / "email_reply_parser"
    cases = json.loads((folder / "expected_reply_text.json").read_text())
    return [
        normalise(extract_reply(read_body(folder / case["file"]), None)[0])
        == normalise(case["expected_reply_text"])
        for case in cases
    ]


def mail_parser_reply() -> tuple[list[bool], list[bool]]:
    """(exact cases, contains/not_contains checks) on reply 0's body."""
    folder = CORPORA / "mail_parser_reply"
    exact: list[bool] = []
    checks: list[bool] = []
    for record in json.loads((folder / "expectations.json").read_text()):
        extracted = None
        for assertion in record["assertions"]:
            if assertion.get("reply") != 0 or assertion.get("field") != "body":
                continue
            if extracted is None:
                extracted = normalise(extract_reply(read_body(folder / record["file"]), None)[0])
            value = normalise(assertion["value"])
            if assertion["check"] == "equals":
                exact.append(extracted == value)
            elif assertion["check"] == "contains":
                checks.append(value in extracted)
            elif assertion["check"] == "not_contains":
                checks.append(value not in extracted)
    return exact, checks


def read_body(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


def print_accuracy() -> None:
    mpr_exact, mpr_checks = mail_parser_reply()
    rows = [
        ("talon plain_text_reply_extraction", talon_plain()),
        ("talon standard_replies", talon_standard()),
        ("talon html_replies (no whitespace)", talon_html()),
        ("email_reply_parser expected_reply_text", email_reply_parser()),
        ("mail_parser_reply reply 0 body equals", mpr_exact),
        ("mail_parser_reply reply 0 body (contains checks)", mpr_checks),
    ]
    print(f"{'corpus':<50} {'cases':>6} {'exact':>6} {'accuracy':>9}")
    for name, results in rows:
        matches = sum(results)
        print(f"{name:<50} {len(results):>6} {matches:>6} {100 * matches / max(len(results), 1):>8.1f}%")


def mbox_bodies() -> list[str]:
    bodies = []
    for raw in mbox_messages():
        message = email.message_from_bytes(raw)
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)  # the archive's bodies are all single-part text
        bodies.append(payload.decode(message.get_content_charset() or "utf-8", "replace"))
    return bodies


def time_per_message(function: Callable[[str], object], bodies: list[str]) -> list[float]:
    timings = []
    for body in bodies:
        start = time.perf_counter()
        function(body)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def print_timing() -> None:
    bodies = mbox_bodies()
    talon = extract._quotations()
    skipped = sum(extract._unchanged_by_talon(body) for body in bodies)
    print(f"\nR-devel 2015 mbox: {len(bodies)} bodies, {skipped} skip talon (the pre-check finds no quote)")
    for name, function in (
        ("extract_reply(body, None)", lambda body: extract_reply(body, None)),
        ("talon extract_from_plain alone", talon.extract_from_plain),
    ):
        timings = sorted(time_per_message(function, bodies))
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99)]
        print(f"{name:<32} p50 {p50:.3f} ms   p99 {p99:.3f} ms   max {timings[-1]:.3f} ms")


def main() -> None:
    require_corpora()
    start = time.perf_counter()
    extract._quotations()  # the one-time import, kept out of the per-message figures
    print(f"talon import: {(time.perf_counter() - start) * 1000:.0f} ms (once, on first use)\n")
    print_accuracy()
    print_timing()


if __name__ == "__main__":
    main()
