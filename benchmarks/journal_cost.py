"""Scenario 6: what the journal costs. Scenario 1's migrator run with its SQLite journal on a disk file versus
on tmpfs (``/dev/shm``, as close to an in-memory journal as the CLI allows). Best of ``repeats`` each,
alternating, so that a burst of load on the machine does not land on one side only."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Outcome, Sandbox
from benchmarks.contenders import run_contender

SHM = Path("/dev/shm")


def journal_cost(workdir: Path, *, users: int, repeats: int, log: Any) -> dict[str, Any]:
    work = workdir / "journal"
    log(f"== 6 · journal cost: {users:,} users, journal on disk vs on tmpfs")
    memdir = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=SHM if SHM.is_dir() else None))
    on: list[Outcome] = []
    mem: list[Outcome] = []
    try:
        with Sandbox(work / "sandbox", scale=users) as sandbox:
            log(f"   {sandbox.ready_line}")
            for i in range(repeats):
                disk_journal = work / f"disk-{i}" / "journal.sqlite"
                o = run_contender(
                    "migrator", sandbox, work / f"disk-{i}", expected=users, timeout=3600, journal=disk_journal
                )
                log("   disk:  " + o.describe())
                on.append(o)
                o = run_contender(
                    "migrator",
                    sandbox,
                    work / f"mem-{i}",
                    expected=users,
                    timeout=3600,
                    journal=memdir / f"journal-{i}.sqlite",
                )
                log("   tmpfs: " + o.describe())
                mem.append(o)
    finally:
        shutil.rmtree(memdir, ignore_errors=True)
    best_on = max((o.rec_s or 0 for o in on), default=0) or None
    best_mem = max((o.rec_s or 0 for o in mem), default=0) or None
    return {
        "key": "journal",
        "users": users,
        "journal_dir_disk": str(work),
        "journal_dir_memory": str(memdir),
        "on_rec_s": best_on,
        "memory_rec_s": best_mem,
        "runs": {"disk": [o.rec_s for o in on], "memory": [o.rec_s for o in mem]},
    }
