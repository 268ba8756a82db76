"""The labelled reply-extraction cases (the TOML files beside this one, see README.md): loading, and scoring
agentinbox's extraction and talon's alone against them. Shared by tests/test_mail_extract.py and
bench/extraction.py."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentinbox.mail.extract import extract_message, html_to_text

FOLDER = Path(__file__).resolve().parent
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n\s*\n+")


def normalise(text: str | None) -> str:
    """Whitespace-insensitive form for comparing: no trailing spaces, single blank lines, stripped."""
    text = (text or "").replace("\r\n", "\n")
    return _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("", text)).strip()


def no_space(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


@dataclass
class Case:
    category: str
    id: str
    data: dict[str, Any]

    @property
    def is_html(self) -> bool:
        return "html" in self.data

    def same(self, got: str | None, want: str | None) -> bool:
        if self.is_html:
            return no_space(got) == no_space(want)
        return normalise(got) == normalise(want)

    def talon_target(self) -> str:
        full = self.data.get("full")
        if full == "input":
            return str(self.data.get("text") or self.data.get("html"))
        if full is not None:
            return str(full)
        return "\n\n".join(part for part in (self.data["expected"], self.data.get("signature")) if part)


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(FOLDER.glob("*.toml")):
        for data in tomllib.loads(path.read_text(encoding="utf-8"))["case"]:
            cases.append(Case(path.stem, data["id"], data))
    return cases


def agentinbox_result(case: Case) -> tuple[bool, str]:
    """Whether agentinbox's extraction matches the case exactly, and what it gave (for reports)."""
    data = case.data
    extraction = extract_message(data.get("text"), data.get("html"))
    problems = []
    if not case.same(extraction.text, data["expected"]):
        problems.append(f"text={extraction.text!r}")
    if not case.same(extraction.signature, data.get("signature")):
        problems.append(f"signature={extraction.signature!r}")
    forwarded = extraction.forwarded
    for field, attribute in (("forwarded_from", "from_"), ("forwarded_subject", "subject")):
        if field in data:
            got = getattr(forwarded, attribute) if forwarded else None
            if " ".join((got or "").split()) != " ".join(data[field].split()):
                problems.append(f"{field}={got!r}")
    if "forwarded_body" in data and not case.same(
        forwarded.body if forwarded else None, data["forwarded_body"]
    ):
        problems.append(f"forwarded_body={forwarded.body if forwarded else None!r}")
    return not problems, "; ".join(problems)


def talon_result(case: Case, quotations: Any) -> bool:
    """Whether talon alone gives the case's whole new content (reply, signature and forward together)."""
    data = case.data
    if case.is_html:
        got = html_to_text(quotations.extract_from_html(data["html"]))
    else:
        got = quotations.extract_from_plain(data["text"])
    return case.same(got, case.talon_target())
