"""The journal's disk refuses a write: a full disk in the middle of a run, and a journal on read-only storage.

Each scenario runs the real CLI inside a private mount namespace (``unshare -rm``: no privilege needed) whose
journal folder is a small tmpfs, so the disk really fills (ENOSPC) and really turns read-only; the sandbox runs
outside, on loopback. A full disk stops the run with exit 1 and a message that says what to do — no "internal
error" — the run is marked stopped, and once space is freed the next run resumes exactly: every source user on
the target once. A journal on read-only storage is refused before anything is sent, and `migrator status` still
reads it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_VELPIC, entity_stats, get_json, write_env

#: every source user, of every status, merged on email: the target ends with exactly the source's users
_PLAN_TEXT = (
    '[plan]\nname = "journal-storage"\n'
    + VELPIC_TO_VELPIC
    + """[steps.users]
read  = { from = "source", entity = "user", filter = { activeValue = "all" }, page_size = 200 }
write = { to = "target", entity = "user", mode = "bulk", match = "email", batch = 500 }
map = { firstName = "firstName", lastName = "lastName", emailAddress = "emailAddress", roles = [6] }
"""
)

#: enough users that the journal outgrows the tmpfs during the users step
_SCALE = 4000
#: room for the storage probe's 1 MiB at the start and the groups step, not for every user's batch
_SMALL_DISK = "1300k"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(seed=3, scale=_SCALE, platforms=("velpic",), default_limits=False)
    with SandboxThread(config) as sb:
        yield sb


def _in_namespace(tmp: Path, script: list[str]) -> None:
    """Run ``script`` (shell lines) in a private mount namespace; each command's output goes to files."""
    subprocess.run(
        ["unshare", "-rm", "sh", "-c", "\n".join(script)], cwd=tmp, check=True, timeout=600, env=_env()
    )


def _env() -> dict[str, str]:
    keep = ("PATH", "PYTHONPATH", "HOME", "LANG")
    return {k: v for k, v in os.environ.items() if k in keep}


def _cli(tmp: Path, name: str, *args: str) -> str:
    """One ``migrator`` command as a shell line writing ``<name>.out``, ``<name>.err`` and ``<name>.rc``."""
    cmd = shlex.join([sys.executable, "-m", "migrator", *args])
    out = tmp / name
    return f"{cmd} >{out}.out 2>{out}.err; echo $? >{out}.rc"


def _result(tmp: Path, name: str) -> tuple[int, str, str]:
    return (
        int((tmp / f"{name}.rc").read_text()),
        (tmp / f"{name}.out").read_text(),
        (tmp / f"{name}.err").read_text(),
    )


def _run_args(env: Path, journal: Path, tmp: Path, *extra: str) -> list[str]:
    return ["run", str(_plan(tmp)), "--env-file", str(env), "--journal", str(journal), "--log-file",
            str(tmp / "run.log.jsonl"), "--plain", *extra]  # fmt: skip


def _plan(tmp: Path) -> Path:
    plan = tmp / "plan.toml"
    plan.write_text(_PLAN_TEXT)
    return plan


def _writes(sb: SandboxThread) -> int:
    return sum(
        r["count"] for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"] if r["method"] != "GET"
    )


def _source_users(sb: SandboxThread) -> int:
    count: int = get_json(f"{sb.base_url}/_sandbox/stats")["records"]["velpic"]["source"]["user"]["count"]
    return count


def test_a_full_disk_mid_run_stops_the_run_cleanly_and_the_resume_is_exact(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    disk = tmp_path / "disk"
    disk.mkdir()
    journal = disk / "journal.sqlite"
    _in_namespace(
        tmp_path,
        [
            f"mount -t tmpfs -o size={_SMALL_DISK} tmpfs {disk}",
            _cli(tmp_path, "full", *_run_args(env, journal, tmp_path)),
            _cli(tmp_path, "status", "status", str(_plan(tmp_path)), "--journal", str(journal)),
            f"mount -o remount,size=64m {disk}",  # space freed
            _cli(tmp_path, "resume", *_run_args(env, journal, tmp_path)),
        ],
    )
    code, out, err = _result(tmp_path, "full")
    assert code == 1, out + err
    assert f"the journal {journal} could not be written: the disk holding it is full" in out
    assert "Free some space on that disk, then run `migrator run` again to resume." in out
    assert "internal error" not in err and "Traceback" not in err
    assert re.search(r"^  users +failed +read", out, re.M), out  # it stopped in the middle of the step

    code, out, err = _result(tmp_path, "status")
    assert code == 0, err
    assert "run 1:" in out and out.split("run 1:")[1].split("\n")[0].endswith("stopped"), out

    code, out, err = _result(tmp_path, "resume")
    assert code == 0, out + err
    users = entity_stats(sandbox.base_url, "velpic", "target", "user")
    assert users["count"] == _source_users(sandbox) and users["duplicates"] == 0, users


def test_a_journal_on_read_only_storage_is_refused_before_anything_is_sent_and_status_reads_it(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    disk = tmp_path / "disk"
    disk.mkdir()
    journal = disk / "journal.sqlite"
    _in_namespace(
        tmp_path,
        [
            f"mount -t tmpfs -o size=16m tmpfs {disk}",
            _cli(tmp_path, "first", *_run_args(env, journal, tmp_path)),
            f"mount -o remount,ro {disk}",
            _cli(tmp_path, "refused", *_run_args(env, journal, tmp_path)),
            _cli(tmp_path, "status", "status", str(_plan(tmp_path)), "--journal", str(journal)),
        ],
    )
    assert _result(tmp_path, "first")[0] == 0
    writes_before = _writes(sandbox)

    code, out, err = _result(tmp_path, "refused")
    assert code == 1, out + err
    assert f"the journal {journal} cannot be written in {disk}: Read-only file system" in err
    assert "Nothing was sent to any platform" in err and "Traceback" not in err
    assert _writes(sandbox) == writes_before

    code, out, err = _result(tmp_path, "status")
    assert code == 0, err
    assert "run 1:" in out and "users" in out and "done" in out, out
