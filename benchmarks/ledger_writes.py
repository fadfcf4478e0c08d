"""The journal's per-batch writes of a run, in-process: ``python -m benchmarks.ledger_writes [--users N]
[--batch B] [--runs R]``. For each batch of scenario 7's plan (Velpic users, bulk 500) it times, by the
process's CPU clock, what the write stage asks of the step's ledger (``runtime.ledger.JournalLedger``, as a
run does): ``pre_images`` (every record absent from the target, as on an empty one), ``batch_sent`` with the
payloads, ``batch_done``, and the WAL checkpoints a run makes in its worker thread (every 10 batches here).
Prints each stage's CPU seconds per run, then their minimum over the runs."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from migrator.journal import Journal, PreImage, SentRecord, WriteResult
from migrator.protocol.keys import batch_id, content_hash, record_key_function
from migrator.runtime.ledger import JournalLedger

PLAN, STEP = "bench-velpic-users", "users"
STAGES = ("pre_images", "batch_sent", "batch_done", "checkpoints")


def one_run(folder: Path, users: int, batch: int) -> dict[str, float]:
    """CPU seconds of each stage for ``users`` records in batches of ``batch``, on a fresh journal."""
    spent = dict.fromkeys(STAGES, 0.0)
    key = record_key_function(PLAN, STEP)
    journal = Journal.open(folder / "journal.sqlite", PLAN)
    try:
        journal.begin_run("bench")
        journal.defer_checkpoints()
        ledger = JournalLedger(journal, STEP)
        for n, start in enumerate(range(0, users, batch)):
            sent, done, images = [], [], []
            for i in range(start, min(start + batch, users)):
                source_key, number = str(i + 1), f"E{i:07d}"
                payload = {
                    "firstName": f"First{i}",
                    "lastName": f"Last{i}",
                    "emailAddress": f"user{i}@example.com",
                    "employeeNumber": number,
                    "roles": [6],
                    "sendWelcomeEmail": False,
                }
                idem = key(source_key)
                digest = content_hash(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
                sent.append(SentRecord(idem, source_key, digest, payload))
                done.append(WriteResult(idem, source_key, str(1_000_000 + i), "created"))
                images.append(PreImage(source_key, None, number, None))
            bid = batch_id(STEP, [r.idem_key for r in sent])
            clock = time.process_time()
            ledger.pre_images(images)
            spent["pre_images"] += time.process_time() - clock
            clock = time.process_time()
            ledger.batch_sent(bid, sent)
            spent["batch_sent"] += time.process_time() - clock
            clock = time.process_time()
            ledger.batch_done(bid, done, [])
            spent["batch_done"] += time.process_time() - clock
            if n % 10 == 9:
                clock = time.process_time()
                journal.checkpoint()
                spent["checkpoints"] += time.process_time() - clock
        journal.finish_run("done")
    finally:
        journal.close()
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ledger_writes")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.runs):
        folder = Path(tempfile.mkdtemp(prefix="migrator-ledger-writes-"))
        try:
            runs.append(one_run(folder, args.users, args.batch))
        finally:
            shutil.rmtree(folder)
        print("  ".join(f"{s} {runs[-1][s]:.3f} s" for s in STAGES), flush=True)
    print("min: " + "  ".join(f"{s} {min(r[s] for r in runs):.3f} s" for s in STAGES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
