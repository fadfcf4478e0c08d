"""What the journal e2e tests share: a sandbox whose writes are slow (150 ms each), so a run is still writing
when a test sees its first journaled batch, and the wait for that batch (read as any reader would)."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

from migrator.sandbox.config import SandboxConfig

__all__ = ["SLOW_WRITES", "wait_for_a_sent_batch"]

#: every write takes 150 ms: the run is still writing when the test sees its first batch in the journal
SLOW_WRITES = SandboxConfig(
    seed=12,
    scale=60,
    platforms=("velpic",),
    default_limits=False,
    faults="velpic:methods=POST,latency=150ms",
)


def _batches_sent(journal: Path) -> int:
    """Batches the run has journaled so far (0 before the journal exists), read as any reader would."""
    if not journal.exists():
        return 0
    conn = sqlite3.connect(f"{journal.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM batches").fetchone()[0])
    except sqlite3.OperationalError:  # the journal is being created
        return 0
    finally:
        conn.close()


def wait_for_a_sent_batch(proc: subprocess.Popen[str], journal: Path) -> None:
    deadline = time.monotonic() + 60
    while _batches_sent(journal) == 0:
        assert proc.poll() is None, "the run ended before the test saw it write"
        assert time.monotonic() < deadline, "the run journaled no batch within 60 s"
        time.sleep(0.005)
