"""Bad input, generated with hypothesis (unicode, huge strings, nulls, wrong types, deep nesting):

- plans through load and validate raise only ``PlanError``;
- records through every example plan's maps and its target connector's ``prepare`` give a ``MappingError``
  or a rejection with a reason, never another exception;
- a CSV export full of such values runs end to end into dead letters with reasons;
- a journal of another plan, of a newer schema or a corrupted file gives a ``JournalError`` that says what
  to do, through the CLI (exit 1, no traceback)."""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.connectors.base import RowResult, WriteItem
from migrator.connectors.registry import make_writer
from migrator.errors import PlanError
from migrator.graph import compile_graph
from migrator.journal import Journal
from migrator.plan.load import load_plan, parse_plan_text
from migrator.plan.mapping import MappingError
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.chaos.harness import FULL, record_figures, run, write_env
from tests.e2e.helpers import PLANS

EXAMPLES = 400 if FULL else 40
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values ---------------------------------------------------------------------------------------------------

weird_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.sampled_from(
        ["", " ", "\x00", "\u202e", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "${NOPE}", "'", '"', "a -> b", "x | lower", "1e309"]
    ),
    st.integers(min_value=1000, max_value=200_000).map(lambda n: "x" * n),  # huge strings
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), weird_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(weird_text, inner, max_size=4),
    max_leaves=12,
)


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"n": value}
    return value


# -- plans ----------------------------------------------------------------------------------------------------

BASE: dict[str, Any] = msgspec.to_builtins(load_plan(str(PLANS / "velpic-to-velpic.toml")).plan)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


PATHS = [p for p in _paths(BASE) if p]


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    data = json.loads(json.dumps(data))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def _must_be_plan_error(text: str, file: str) -> None:
    try:
        compile_graph(parse_plan_text(text, file))
    except PlanError as error:
        assert str(error).strip()


@SETTINGS
@given(path=st.sampled_from(PATHS), value=json_values | st.integers(0, 300).map(_deep))
def test_mutated_plans_raise_only_plan_errors(path: tuple[Any, ...], value: Any) -> None:
    _must_be_plan_error(json.dumps(_replace(BASE, path, value)), "plan.json")


@SETTINGS
@given(data=st.dictionaries(weird_text, json_values, max_size=6))
def test_arbitrary_documents_raise_only_plan_errors(data: dict[str, Any]) -> None:
    _must_be_plan_error(json.dumps(data), "plan.json")


@SETTINGS
@given(text=st.text(max_size=300), cut=st.integers(0, 4000))
def test_arbitrary_and_cut_toml_raise_only_plan_errors(text: str, cut: int) -> None:
    _must_be_plan_error(text, "plan.toml")
    base = (PLANS / "velpic-to-accessplanit.toml").read_text(encoding="utf-8")
    _must_be_plan_error(base[:cut] + text + base[cut:], str(PLANS / "cut.toml"))


# -- records through map and prepare --------------------------------------------------------------------------


def _steps() -> list[tuple[str, str, Any, Any]]:
    out = []
    for plan in sorted(PLANS.glob("*.toml")):
        graph = compile_graph(load_plan(str(plan)))
        for name, node in graph.steps.items():
            if node.write.platform == "files":
                continue
            entity = load_plan(str(plan)).plan.steps[name].write.entity
            writer = make_writer(node.write.platform, entity, node.mode, node.match)
            out.append((f"{plan.stem}.{name}", node.write.platform, node.mapping, writer))
    return out


STEPS = _steps()


@SETTINGS
@given(
    step=st.sampled_from(STEPS),
    values=st.lists(json_values, min_size=8, max_size=8),
    resolved=st.one_of(st.none(), st.integers(), weird_text),
)
def test_records_map_and_prepare_into_payloads_or_reasons(
    step: tuple[str, str, Any, Any], values: list[Any], resolved: Any
) -> None:
    _, _, mapping, writer = step
    record: dict[str, Any] = {"id": values[0]}
    for i, source in enumerate(mapping.source_fields):
        record[source.split(".")[0]] = values[(i + 1) % len(values)]
    try:
        payload = mapping(record, lambda _step, _key: resolved)
    except MappingError as error:
        assert str(error).strip()
        return
    prepared = writer.prepare(WriteItem("k" * 16, "source-1", payload))
    if isinstance(prepared, RowResult):
        assert not prepared.ok and prepared.reason and prepared.reason.strip()
    else:
        assert isinstance(prepared, WriteItem)


# -- a real run of a bad export ----------------------------------------------------------------------------


def _bad_export(folder: Path) -> int:
    """``csv-to-accessplanit``'s export with seeded nasty values in every column; returns the learner count."""
    rng = random.Random(97)
    nasty = [
        "",
        " ",
        "\u202e",
        "𝔘𝔫𝔦",
        "x" * 5000,
        "null",
        "31/02/1990",
        "1990-01-01",
        "<b>",
        "'; DROP",
        "é" * 50,
    ]
    (folder / "data").mkdir()
    for name in ("course_lesson.csv", "lesson_coursedate.csv"):
        (folder / "data" / name).write_bytes((PLANS / "data" / name).read_bytes())
    with (PLANS / "data" / "companies.csv").open(encoding="utf-8", newline="") as fh:
        companies = list(csv.DictReader(fh))
    with (PLANS / "data" / "learners.csv").open(encoding="utf-8", newline="") as fh:
        learners = list(csv.DictReader(fh))
    for rows in (companies, learners):
        for row in rows:
            for column in row:
                if column not in ("CompanyRef", "LearnerID") and rng.random() < 0.4:
                    row[column] = rng.choice(nasty)
    for name, rows in (("companies.csv", companies), ("learners.csv", learners)):
        with (folder / "data" / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (folder / "plan.toml").write_text((PLANS / "csv-to-accessplanit.toml").read_text(encoding="utf-8"))
    return len(learners)


def test_a_bad_export_runs_into_dead_letters_with_reasons(tmp_path: Path) -> None:
    learners = _bad_export(tmp_path)
    config = SandboxConfig(
        seed=9, scale=10, platforms=("accessplanit",), default_limits=False, time_scale=100.0
    )
    with SandboxThread(config) as sb:
        done = run(tmp_path / "plan.toml", tmp_path, write_env(sb, tmp_path / "sandbox.env"))
    assert done.returncode in (0, 1, 3), done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    with Journal.open(tmp_path / "journal.sqlite", "csv-to-accessplanit") as journal:
        dead = journal.dead_letters()
        counts = journal.step_counts()
    assert dead, "the nasty values produced no dead letter: the case proves nothing"
    assert all(d.reason.strip() for d in dead)
    settled = counts["learners"].records_done + counts["learners"].records_rejected
    assert settled == learners  # every learner is written or a dead letter: none silently dropped
    record_figures("bad_input_run", rows=learners, dead_letters=len(dead))


# -- journals that are not this plan's ----------------------------------------------------------------------


def _journal_case(tmp: Path, case: str) -> Path:
    path = tmp / "journal.sqlite"
    if case == "other-plan":
        Journal.open(path, "some-other-plan").close()
    elif case == "newer-schema":
        Journal.open(path, "velpic-to-velpic").close()
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA user_version = 99")
    elif case == "corrupted":
        path.write_bytes(random.Random(5).randbytes(8192))
    else:  # an SQLite file of another program
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (x)")
    return path


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("other-plan", "belongs to plan"),
        ("newer-schema", "newer migrator"),
        ("corrupted", "--fresh"),
        ("foreign-sqlite", "not a migrator journal"),
    ],
)
def test_foreign_journals_are_refused_with_what_to_do(tmp_path: Path, case: str, says: str) -> None:
    _journal_case(tmp_path, case)
    env = tmp_path / "sandbox.env"
    env.write_text(
        "VELPIC_BASE_URL=http://127.0.0.1:9\nVELPIC_SOURCE_ACCESS_KEY=a\nVELPIC_TARGET_ACCESS_KEY=b\n"
    )
    done = run(PLANS / "velpic-to-velpic.toml", tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert says in done.stderr, done.stderr
    assert "--journal" in done.stderr or "--fresh" in done.stderr or "upgrade" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
