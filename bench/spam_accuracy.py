"""Spam scanners on a labelled sample: precision, recall and time per message for builtin, spamd and rspamd.

    .venv/bin/python bench/spam_accuracy.py [--spamd HOST:PORT] [--rspamd HOST:PORT] [--no-start] [-v]

The sample is ``tests/spam_corpus.load_sample()``: ham read in place from ../shared/corpora (R-devel list
mail, notmuch's list corpora, talon's replies, CPython's email test messages, SpamAssassin's non-spam
sample) and spam from SpamAssassin's samples plus the hand-written messages of tests/spam_sample/spam,
whose ``dev`` part was looked at while the built-in rules were checked and whose ``heldout`` part was
written afterwards and never used to change a rule; recall is shown for each part.

Each scanner is called once per message, one at a time, as the pipeline calls it (the built-in one on the
already parsed message), and timed around that call. spamd and rspamd are the ones at --spamd/--rspamd;
without them, the bench starts its own on loopback (as tests/spam_daemons.py does) unless --no-start,
and skips a scanner it cannot reach or start. The built-in scanner is also shown at a lower threshold (3),
to show what its threshold trades.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from spam_corpus import Sample, load_sample
from spam_daemons import ScannerMissing, run_rspamd, run_spamd

from agentinbox.mail.parse import parse_message
from agentinbox.security.inspection import Inspection
from agentinbox.security.spam import BuiltinSpamCheck, RspamdCheck, SpamdCheck

Judge = Callable[[Inspection], Awaitable[tuple[bool, str | None, list[str]]]]


@dataclass
class Tally:
    """One scanner's results: true and false positives, misses by part, timings and errors."""

    name: str
    caught: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    false_positives: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, sample: Sample, spam: bool, elapsed: float) -> None:
        self.seconds.append(elapsed)
        self.total[sample.part] = self.total.get(sample.part, 0) + 1
        if spam:
            self.caught[sample.part] = self.caught.get(sample.part, 0) + 1
            if not sample.spam:
                self.false_positives.append(sample.name)
        elif sample.spam:
            self.missed.append(sample.name)

    def recall(self, *parts: str) -> tuple[int, int]:
        return sum(self.caught.get(p, 0) for p in parts), sum(self.total.get(p, 0) for p in parts)


def _check(check: BuiltinSpamCheck | SpamdCheck | RspamdCheck) -> Judge:
    async def judge(inspection: Inspection) -> tuple[bool, str | None, list[str]]:
        verdict = (await check(inspection)).verdicts["spam"]
        return bool(verdict["spam"]), verdict["error"], list(verdict["rules"])

    return judge


async def _measure(name: str, judge: Judge, samples: list[tuple[Sample, Inspection]]) -> Tally:
    tally = Tally(name)
    for sample, inspection in samples:
        started = time.perf_counter()
        spam, error, _ = await judge(inspection)
        elapsed = time.perf_counter() - started
        if error:
            tally.errors.append(f"{sample.name}: {error}")
            continue
        tally.add(sample, spam, elapsed)
    return tally


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def _daemons(args: argparse.Namespace, stack: ExitStack) -> Iterator[tuple[str, str, int]]:
    for name, given, run in (("spamd", args.spamd, run_spamd), ("rspamd", args.rspamd, run_rspamd)):
        if given:
            yield (name, *_address(given))
        elif not args.no_start:
            try:
                print(f"starting {name} on loopback ...", file=sys.stderr)
                yield (name, *stack.enter_context(run()))
            except (ScannerMissing, RuntimeError) as exc:
                print(f"{name}: skipped ({exc})", file=sys.stderr)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}% ({part}/{whole})" if whole else "   n/a"


def _report(tallies: list[Tally], verbose: bool) -> None:
    head = (
        f"{'scanner':<20} {'precision':>17} {'recall (all)':>17} {'dev':>14} {'held-out':>14} "
        f"{'SA samples':>11} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6}"
    )
    print(head)
    print("-" * len(head))
    for tally in tallies:
        caught, spam_total = tally.recall("spamassassin", "dev", "heldout")
        flagged = caught + len(tally.false_positives)
        times = sorted(tally.seconds)
        p50 = statistics.median(times) * 1000 if times else float("nan")
        p95 = times[int(0.95 * (len(times) - 1))] * 1000 if times else float("nan")
        print(
            f"{tally.name:<20} {_percent(caught, flagged):>17} {_percent(caught, spam_total):>17} "
            f"{_percent(*tally.recall('dev')):>14} {_percent(*tally.recall('heldout')):>14} "
            f"{'{}/{}'.format(*tally.recall('spamassassin')):>11} {p50:8.3f} {p95:8.3f} {len(tally.errors):>6}"
        )
    for tally in tallies:
        if tally.false_positives:
            print(f"\n{tally.name}: ham flagged as spam: {', '.join(tally.false_positives)}")
        if verbose and tally.missed:
            print(f"\n{tally.name}: spam missed: {', '.join(tally.missed)}")
        if tally.errors:
            print(f"\n{tally.name}: {len(tally.errors)} errors, e.g. {tally.errors[0]}")


async def _run(args: argparse.Namespace) -> None:
    try:
        sample = load_sample()
    except FileNotFoundError as exc:
        print(f"{exc}; nothing to measure")
        return
    parsed = [(s, Inspection(s.raw, parse_message(s.raw))) for s in sample]
    ham = sum(not s.spam for s in sample)
    print(f"sample: {ham} ham, {len(sample) - ham} spam ({', '.join(_parts(sample))})\n")
    tallies = [
        await _measure("builtin", _check(BuiltinSpamCheck(threshold=5.0)), parsed),
        await _measure("builtin threshold 3", _check(BuiltinSpamCheck(threshold=3.0)), parsed),
    ]
    with ExitStack() as stack:
        for name, host, port in _daemons(args, stack):
            check = (SpamdCheck if name == "spamd" else RspamdCheck)(host=host, port=port, seconds=30.0)
            tallies.append(await _measure(name, _check(check), parsed))
    _report(tallies, args.verbose)


def _parts(sample: list[Sample]) -> list[str]:
    counts: dict[str, int] = {}
    for s in sample:
        counts[s.part] = counts.get(s.part, 0) + 1
    return [f"{part} {count}" for part, count in counts.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spamd", help="HOST:PORT of a running spamd (default: start one)")
    parser.add_argument("--rspamd", help="HOST:PORT of a running rspamd normal worker (default: start one)")
    parser.add_argument("--no-start", action="store_true", help="do not start daemons; skip those not given")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every missed spam message")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
