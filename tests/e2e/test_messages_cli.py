"""Messages of the real CLI under hostile conditions: one clear line and the documented exit code, never a
traceback.

- ``report --out`` onto a file (exit 2) or under one (exit 1), instead of ``internal error: FileExistsError``;
- a platform that cannot be reached (a closed port): the URL (no secret, no query string), what was tried and
  what to check, after a few quick tries (not the minutes of backoff a 5xx gets), exit 1;
- ``--format json`` output that parses: logs (a token obtained) go to stderr, never into the JSON;
- a Ctrl-C while a command is still starting (its modules being imported: the first ~0.15 s of every
  command): a real SIGINT, delivered by an import hook when the chosen module is imported, so the moment is
  exact; ``migrator: interrupted`` and exit 130 instead of Python's traceback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.cli import COMMANDS
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, ROOT, migrator, write_env

PLAN = """
[plan]
name = "files-to-files"
[connections.export]
platform = "files"
path = "data"
[connections.staging]
platform = "files"
path = "staging"
[steps.people]
read = { from = "export", entity = "people" }
write = { to = "staging", entity = "people", mode = "create", match = "id" }
map.id = "id"
map.name = "name"
"""


@pytest.fixture
def ran(tmp_path: Path) -> Path:
    """A folder where ``plan.toml`` has run (journal ``journal.sqlite``)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "people.csv").write_text("id,name\n1,Ada\n2,Bob\n")
    (tmp_path / "plan.toml").write_text(PLAN)
    done = migrator("run", "plan.toml", "--journal", "journal.sqlite", "--plain", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path


def _report(folder: Path, out: str) -> subprocess.CompletedProcess[str]:
    return migrator("report", "plan.toml", "--journal", "journal.sqlite", "--out", out, cwd=folder)


def test_report_out_onto_a_file_is_a_usage_error(ran: Path) -> None:
    (ran / "report.html").write_text("mine")
    done = _report(ran, "report.html")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "plan.toml: --out 'report.html' is a file, not a folder: the reports are five files written into a "
        "folder. Give a folder (a missing one is created), e.g. --out reports/"
    )
    assert (ran / "report.html").read_text() == "mine"


def test_report_out_under_a_file_says_which_path_is_not_a_folder(ran: Path) -> None:
    (ran / "taken").write_text("mine")
    done = _report(ran, "taken/reports")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "report: taken is not a folder, so the reports cannot be written into taken/reports; choose a folder "
        "(--out DIR; a missing one is created)"
    )


#: runs ``python -m migrator ARGS`` with a real SIGINT sent to itself when module ``argv[1]`` is imported;
#: with ``argv[2] == "wrapped"`` the SIGINT lands in a ``__set_name__`` call, which Python 3.11 wraps in a
#: RuntimeError (a class body of the module being imported)
LAUNCH = """
import os, runpy, signal, sys
from importlib.abc import MetaPathFinder

target, how = sys.argv[1], sys.argv[2]
del sys.argv[1:3]


class Interrupted:
    def __set_name__(self, owner, name):
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(10))  # a call: the pending signal is raised here


class CtrlC(MetaPathFinder):
    def find_spec(self, name, path=None, module=None):
        if name == target:
            sys.meta_path.remove(self)
            if how == "wrapped":
                type("Model", (), {"field": Interrupted()})
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10))
        return None


sys.meta_path.insert(0, CtrlC())
runpy.run_module("migrator", run_name="__main__", alter_sys=True)
"""

STARTS = [("migrator.cli", "validate", "plain")] + [(c.module, c.name, "plain") for c in COMMANDS]


@pytest.mark.parametrize(("module", "command", "how"), [*STARTS, ("migrator.commands.run", "run", "wrapped")])
def test_ctrl_c_while_a_command_starts_is_one_line_and_exit_130(
    tmp_path: Path, module: str, command: str, how: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, module, how, command, "plan.toml"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stderr == "migrator: interrupted\n", done.stderr
    assert done.returncode == 130 and done.stdout == ""


def test_a_closed_port_fails_fast_with_the_url_and_what_to_check(tmp_path: Path) -> None:
    with socket.socket() as unused:  # a loopback port nothing listens on once it is closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = tmp_path / "closed.env"
    env.write_text(
        f"VELPIC_BASE_URL=http://127.0.0.1:{port}/velpic/api/v2\n"
        "VELPIC_SOURCE_ACCESS_KEY=vk-source-secret-0001\nVELPIC_TARGET_ACCESS_KEY=vk-target-secret-0002\n"
    )
    done = migrator("run", str(PLANS / "demo.toml"), "--env-file", str(env), "--plain", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    url = f"http://127.0.0.1:{port}/velpic/api/v2/group"
    assert f"cannot connect to {url}: connection refused (tried 3 times in " in done.stdout, (
        done.stdout
    )  # three quick tries, where a 5xx gets eight with backoff
    assert "Check the host and port of the connection's base URL, that the service is up" in done.stdout
    assert "secret" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_explain_probe_json_parses_when_a_source_takes_a_token(tmp_path: Path) -> None:
    config = SandboxConfig(seed=29, scale=30, platforms=("velpic", "accessplanit"), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        done = migrator(
            "explain",
            str(PLANS / "accessplanit-to-velpic.toml"),
            "--env-file",
            str(env),
            "--probe",
            "--format",
            "json",
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)  # the accessplanit token request logs nothing onto stdout
    assert any(count is not None for count in data["probed"].values()), data["probed"]
