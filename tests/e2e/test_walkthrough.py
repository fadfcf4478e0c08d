"""docs/walkthrough.md stays true: every command block is replayed against the sandbox, through the real CLI,
in order, in one folder, and the output the document shows must be the output the commands give.

How the document is read:

- a ```` ```console ```` block holds commands (``$ …``), each followed by the output it shows;
- in shown output, a line ``…`` stands for any number of lines (none too), and ``…`` inside a line for any
  text: the document shortens, never invents;
- what varies from run to run is normalised on both sides before comparing (:func:`normalise`): durations
  (``in 1.1 s``), rates and ETAs of progress lines, dates and times, the sandbox's port, the folder;
- an HTML comment on the line before a block says how to replay it (:data:`DIRECTIVE`):
  ``skip: why`` (not replayed: an example whose figures depend on when Ctrl-C lands, a command that follows
  another terminal), ``apply PATH`` (a ```` ```diff ```` block: the change is made to that file), ``first:
  ACTION`` (what the text says happened before the block, done through the platform's API: :data:`ACTIONS`).

The sandbox command (``migrator sandbox … &``) runs in the background as written, on any free port (``--port
0``), until the end. A command's ``$?`` is the exit status of the command before it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.helpers import ROOT

DOC = ROOT / "docs" / "walkthrough.md"
#: ``<!-- walkthrough: skip: … -->``, ``<!-- walkthrough: apply plans/x.toml -->``, ``… first: … -->``
DIRECTIVE = re.compile(r"^<!-- walkthrough: (?P<what>skip|apply|first)\b:? ?(?P<arg>.*?) -->$")
ELIDED = "…"


@dataclass
class Command:
    line: str  # without the "$ "
    shown: list[str] = field(default_factory=list)


@dataclass
class Block:
    lineno: int  # of the opening fence, 1-based
    kind: str  # console or diff
    directive: tuple[str, str] | None
    text: list[str]
    commands: list[Command] = field(default_factory=list)


def parse(doc: str) -> list[Block]:
    """The document's ``console`` and ``diff`` blocks, with the directive on the line before each."""
    lines = doc.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(console|diff)", lines[i])
        if fence is None:
            i += 1
            continue
        found = DIRECTIVE.match(lines[i - 1]) if i else None
        end = lines.index("```", i + 1)
        block = Block(
            i + 1, fence.group(1), (found["what"], found["arg"]) if found else None, lines[i + 1 : end]
        )
        for line in block.text if block.kind == "console" else ():
            if line.startswith("$ "):
                block.commands.append(Command(line[2:]))
            else:
                assert block.commands, f"walkthrough.md:{block.lineno}: output before any command"
                block.commands[-1].shown.append(line)
        blocks.append(block)
        i = end + 1
    return blocks


#: what differs from one replay to the next, and how both sides are written before they are compared
_VARYING: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b"), "DATE"),
    (re.compile(r"\bin \d+(?:\.\d+)? s\b"), "in N s"),
    (re.compile(r"· [\d,.]+/(?:s|min|h)\b"), "· N/s"),
    (re.compile(r"  [\d,.]+/(?:s|min|h)$"), "  N/s"),
    (re.compile(r"· ETA .*$"), "· ETA …"),
]


def normalise(line: str, folder: Path | None = None) -> str:
    line = line.replace("\ufeff", "")  # the BOM a CSV starts with, invisible in the document
    if folder is not None:
        line = line.replace(f"{folder}/", "").replace(str(folder), ".")
    for pattern, stand_in in _VARYING:
        line = pattern.sub(stand_in, line)
    return line.rstrip()


def _line_pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in shown.split(ELIDED)) + r"\Z", re.S)


def shows(shown: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is what ``shown`` shows (each normalised): a line ``…`` matches any lines, a ``…``
    inside a line any text."""
    patterns = [None if s.strip() == ELIDED else _line_pattern(s) for s in shown]
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(patterns):
                memo[(i, j)] = j == len(actual)
            elif patterns[i] is None:
                memo[(i, j)] = any(match(i + 1, k) for k in range(j, len(actual) + 1))
            else:
                pattern = patterns[i]
                assert pattern is not None
                memo[(i, j)] = j < len(actual) and bool(pattern.match(actual[j])) and match(i + 1, j + 1)
        return memo[(i, j)]

    return match(0, 0)


# -- replaying --------------------------------------------------------------------------------------------


def _velpic_mobiles(folder: Path) -> None:
    """Users 1000001 to 1000010 get a new mobile number in the Velpic source, through its API."""
    env = dict(line.split("=", 1) for line in (folder / ".env").read_text().splitlines() if "=" in line)
    base, key = env["VELPIC_BASE_URL"], env["VELPIC_SOURCE_ACCESS_KEY"]
    with urllib.request.urlopen(f"{env['SANDBOX_URL']}/_sandbox/records/velpic/source/user") as resp:
        users = {u["id"]: u for u in map(json.loads, resp.read().splitlines())}
    keys = ("id", "firstName", "lastName", "emailAddress", "phoneNumber", "employeeNumber", "roles", "timeZone")
    for n, user_id in enumerate(range(1000001, 1000011)):
        body = {k: users[user_id][k] for k in keys} | {"mobileNumber": f"07700 9001{n:02d}"}
        request = urllib.request.Request(
            f"{base}/user/{user_id}",
            data=json.dumps(body).encode(),
            headers={"AccessKey": key, "Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(request) as resp:
            assert resp.status == 200


#: what a ``first:`` directive may ask for, by the words it starts with
ACTIONS: dict[str, Callable[[Path], None]] = {"10 users' mobile numbers change in Velpic": _velpic_mobiles}


def _apply(diff: list[str], path: Path) -> None:
    text = path.read_text()
    for old, new in zip(
        [line[1:] for line in diff if line.startswith("-")],
        [line[1:] for line in diff if line.startswith("+")],
        strict=True,
    ):
        assert text.count(old + "\n") == 1, f"{path}: the diff's line {old!r} is not in the file once"
        text = text.replace(old + "\n", new + "\n")
    path.write_text(text)


@dataclass
class Replay:
    """The folder the walkthrough runs in, and what each replayed command printed (normalised)."""

    folder: Path
    outputs: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # (block line, command) → lines
    sandbox: subprocess.Popen[str] | None = None
    status: int = 0
    _drain: threading.Thread = field(init=False)

    def shell(self, command: str) -> list[str]:
        python = shlex.quote(sys.executable)
        script = f'migrator() {{ {python} -m migrator "$@"; }}\n(exit {self.status})\n{command}\n'
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("VELPIC_", "ACCESSPLANIT_", "ONEFILE_"))
        }
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=300, check=False,
        )  # fmt: skip
        self.status = done.returncode
        return done.stdout.splitlines()

    def start_sandbox(self, command: str) -> list[str]:
        assert command.startswith("migrator sandbox ") and command.endswith(" &"), command
        args = shlex.split(command[len("migrator ") : -2])
        self.sandbox = subprocess.Popen(
            [sys.executable, "-m", "migrator", *args, "--port", "0"],
            cwd=self.folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.sandbox.stdout is not None
        ready = self.sandbox.stdout.readline().rstrip("\n")  # "sandbox ready: …" once it serves
        # whatever it prints later is read away, so that a full pipe never blocks it
        self._drain = threading.Thread(target=self.sandbox.stdout.read, daemon=True)
        self._drain.start()
        return [ready]

    def run(self, blocks: list[Block]) -> None:
        for block in blocks:
            what, arg = block.directive or ("", "")
            if what == "skip":
                continue
            if block.kind == "diff":
                assert what == "apply", f"walkthrough.md:{block.lineno}: a diff block needs 'apply PATH'"
                _apply(block.text, self.folder / arg)
                continue
            if what == "first":
                action = next((a for words, a in ACTIONS.items() if arg.startswith(words)), None)
                assert action is not None, f"walkthrough.md:{block.lineno}: no action for {arg!r}"
                action(self.folder)
            for n, command in enumerate(block.commands):
                bg = command.line.endswith(" &")
                lines = self.start_sandbox(command.line) if bg else self.shell(command.line)
                self.outputs[(block.lineno, n)] = [normalise(line, self.folder) for line in lines]

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.terminate()
            self.sandbox.wait(timeout=30)
            self._drain.join(timeout=30)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    folder = tmp_path_factory.mktemp("walkthrough")
    shutil.copytree(ROOT / "plans", folder / "plans")
    played = Replay(folder)
    try:
        played.run(parse(DOC.read_text(encoding="utf-8")))
        yield played
    finally:
        played.stop()


def _stale(doc: str, replay: Replay) -> list[str]:
    """Each replayed command whose shown output is not what it printed, with both."""
    out = []
    for block in parse(doc):
        for n, command in enumerate(block.commands):
            actual = replay.outputs.get((block.lineno, n))
            if actual is None:
                continue
            shown = [normalise(line) for line in command.shown]
            if not shows(shown, actual):
                out.append(
                    f"walkthrough.md:{block.lineno} $ {command.line}\n--- shown\n" + "\n".join(shown)
                    + "\n--- printed (normalised)\n" + "\n".join(actual)
                )  # fmt: skip
    return out


def test_every_command_of_the_walkthrough_prints_what_it_shows(replay: Replay) -> None:
    doc = DOC.read_text(encoding="utf-8")
    replayed = sum(len(b.commands) for b in parse(doc) if (b.directive or ("",))[0] != "skip")
    assert len(replay.outputs) == replayed >= 20
    stale = _stale(doc, replay)
    assert not stale, "docs/walkthrough.md shows stale output:\n\n" + "\n\n".join(stale)


def test_an_edited_figure_makes_the_walkthrough_stale(replay: Replay) -> None:
    """A figure changed in a run summary, or an output line dropped, is caught."""
    doc = DOC.read_text(encoding="utf-8")
    line = next(x for x in doc.splitlines() if re.match(r"  users +done +read +\d", x))
    edited = re.sub(r"read( +)(\d+)", lambda m: f"read{m[1]}{int(m[2]) + 1}", line, count=1)
    assert len(_stale(doc.replace(line, edited, 1), replay)) == 1
    first = next(b for b in parse(doc) if b.commands and b.commands[0].shown and b.directive is None)
    assert _stale(doc.replace(first.commands[0].shown[-1] + "\n", "", 1), replay)


@pytest.mark.parametrize(
    ("shown", "actual", "same"),
    [
        (["a", "…", "d"], ["a", "b", "c", "d"], True),
        (["a", "…", "d"], ["a", "d"], True),
        (["a", "…"], ["a"], True),
        (["x … z"], ["x and then z"], True),
        (["a", "d"], ["a", "b", "d"], False),
        (["a"], ["a", "b"], False),
        (["x … z"], ["x and then y"], False),
    ],
)
def test_shown_output_may_shorten_never_invent(shown: list[str], actual: list[str], same: bool) -> None:
    assert shows(shown, actual) is same


def test_what_varies_is_normalised() -> None:
    assert normalise("sandbox ready: http://127.0.0.1:41234 (… seeded in 0.09 s; …)") == normalise(
        "sandbox ready: http://127.0.0.1:8765 (… seeded in 0.11 s; …)"
    )
    assert normalise("users: running 145/934 · read 500 written 145 rejected 0 · 72/s · ETA 11 s") == (
        "users: running 145/934 · read 500 written 145 rejected 0 · N/s · ETA …"
    )
    assert normalise("  run 1: 2026-11-22 08:41:20 done") == "  run 1: DATE done"
    assert normalise("read 934 created 911") == "read 934 created 911"  # figures are compared as they are
