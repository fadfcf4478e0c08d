"""``python -m benchmarks.cpu_sample [--json FILE] ARGS…``: run ``migrator ARGS…`` in this process under a
sampling profiler and print each stage's share of the process's CPU time, then the functions that spent the
most themselves (with ``--json``, also written to ``FILE``: what ``benchmarks/client_profile.py`` reads).
Every millisecond of CPU the process uses (``ITIMER_PROF``), the main thread's stack is taken and charged
the CPU time used since the last sample, so a long call into C (SQLite, JSON) is charged in full to the
Python function that made it. cProfile (``benchmarks/cpu_profile.py``) charges each Python call its
own overhead as well, which inflates the stages made of many small calls (the map stage: twice its share
here) and hides the C work: shares are read here, call counts there.

A sample's stage is the first one its stack meets from the innermost frame out: journal writes (the step's
ledger), the target's current values (match values, lookups, created vs updated, pre-images), write requests
and their answers, the map stage, page fetches, the report, and start-up (the parser and the command's
imports); anything else (the event loop, the run's set-up and end) is "other"."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections import Counter
from types import FrameType

from migrator.cli import main as migrator

#: (stage, file, function names: empty for every function of the file), looked for from the innermost frame
STAGES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("write: journal", "migrator/runtime/ledger.py", frozenset()),
    (
        "write: the target's current values",
        "migrator/runtime/write.py",
        frozenset({"_match_values", "_against_current", "_as_the_target_held", "_pre_images"}),
    ),
    ("write: the target's current values", "migrator/runtime/target_index.py", frozenset()),
    ("write: requests and their answers", "migrator/runtime/write.py", frozenset({"_write_calls", "_send"})),
    ("map: mapping, row checks, keys, hashes, batches", "migrator/runtime/mapper.py", frozenset()),
    ("fetch: page requests and decode", "migrator/runtime/fetch.py", frozenset()),
    ("report: CSVs with identity columns, HTML", "migrator/report.py", frozenset({"write_reports"})),
    ("start-up (imports, parser)", "migrator/cli.py", frozenset({"build_parser"})),
)
ORDER = [*dict.fromkeys(stage for stage, _, _ in STAGES), "other"]


class Sampler:
    def __init__(self) -> None:
        self.stages: Counter[str] = Counter()
        self.own: Counter[str] = Counter()
        self._last = time.process_time()

    def __call__(self, _signal: int, frame: FrameType | None) -> None:
        now = time.process_time()
        spent, self._last = now - self._last, now
        if frame is not None:
            code = frame.f_code
            self.own[f"{code.co_filename}:{code.co_firstlineno} {code.co_name}"] += spent
        self.stages[_stage(frame)] += spent


def _stage(frame: FrameType | None) -> str:
    while frame is not None:
        code = frame.f_code
        for stage, path, names in STAGES:
            if code.co_filename.endswith(path) and (not names or code.co_name in names):
                return stage
        frame = frame.f_back
    return "other"


def main(argv: list[str]) -> int:
    out = None
    if argv[:1] == ["--json"]:
        out, argv = argv[1], argv[2:]
    sys.argv = ["migrator", *argv]
    sampler = Sampler()
    signal.signal(signal.SIGPROF, sampler)
    signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
    try:
        code = migrator(argv)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
    total = sum(sampler.stages.values())
    print(f"\nCPU sampled: {total:.2f} s", file=sys.stderr)
    print("| Stage | Share of the client's CPU | Seconds |\n|---|---:|---:|", file=sys.stderr)
    for stage in ORDER:
        spent = sampler.stages[stage]
        print(f"| {stage} | {spent / total:.0%} | {spent:.2f} s |", file=sys.stderr)
    print("\nSpent in the function itself (and the C it called):", file=sys.stderr)
    for where, spent in sampler.own.most_common(25):
        print(f"{spent:6.2f} s  {where}", file=sys.stderr)
    if out is not None:
        profile = {
            "exit": code,
            "stages": [[stage, sampler.stages[stage]] for stage in ORDER],
            "own": sampler.own.most_common(25),
        }
        with open(out, "w") as f:
            json.dump(profile, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
