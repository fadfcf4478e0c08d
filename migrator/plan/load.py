"""Read a plan file (TOML by default; ``.yaml``/``.yml`` and ``.json`` accepted) into a :class:`LoadedPlan`.

Every problem is collected, not only the first: syntax errors carry line and column; a file nested deeper
than ``MAX_PLAN_DEPTH`` or holding more than ``MAX_PLAN_VALUES`` values (a YAML alias counts in full each time
it is used, so an alias bomb is refused before anything expands it) is refused with where; decoding problems
the dotted key path; then the checks that need only the plan itself (references between steps, connections and
tables, credentials written as ``${VAR}``, budget strings, the functions file, map expressions, where
conditions). Checks that need the connector catalog (entities, modes, fields) and cycles are in
:mod:`migrator.graph`.
"""

from __future__ import annotations

import csv
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.errors import PlanError, PlanProblem
from migrator.plan.decode import INVALID, decode, did_you_mean, join_path
from migrator.plan.env import is_reference
from migrator.plan.functions import PlanFunctions, load_functions
from migrator.plan.mapping import CompiledMap, LookupTable, compile_map
from migrator.plan.model import CREDENTIAL_FIELDS, Budget, Connection, Plan
from migrator.plan.rates import parse_rate

__all__ = ["MAX_PLAN_DEPTH", "MAX_PLAN_VALUES", "LoadedPlan", "check_plan", "load_plan", "parse_plan_text"]

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
#: the deepest nesting of tables and arrays a plan may have (a plan needs about eight levels)
MAX_PLAN_DEPTH = 32
#: the most values a plan may hold, every use of a YAML alias counted in full
MAX_PLAN_VALUES = 100_000
#: how many keys of a deep path a problem shows
_SHOWN_KEYS = 4


@dataclass(frozen=True)
class LoadedPlan:
    """A decoded, checked plan with its file name, value tables and compiled maps."""

    plan: Plan
    file: str
    tables: Mapping[str, LookupTable] = field(default_factory=dict)
    maps: Mapping[str, CompiledMap] = field(default_factory=dict)


def _format_of(file: str) -> str:
    suffix = Path(file).suffix.lower()
    return {".yaml": "yaml", ".yml": "yaml", ".json": "json"}.get(suffix, "toml")


def _parse_syntax(text: str, file: str) -> Any:
    try:
        return _parse_format(text, file)
    except RecursionError:  # the parsers nest one call per level: far deeper than MAX_PLAN_DEPTH
        raise _too_deep(file, "") from None


def _parse_format(text: str, file: str) -> Any:
    fmt = _format_of(file)
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            msg = str(err)
            m = _TOML_POS.search(msg)
            if m:
                raise PlanError.single(
                    file, "", f"TOML syntax error: {msg[: m.start()]}", int(m.group(1)), int(m.group(2))
                ) from None
            raise PlanError.single(file, "", f"TOML syntax error: {msg}") from None
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise PlanError.single(file, "", f"JSON syntax error: {err.msg}", err.lineno, err.colno) from None
    import yaml  # noqa: PLC0415 - only YAML plans pay for it

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise PlanError.single(file, "", f"YAML syntax error: {err.problem or err}", line, col) from None
    except yaml.YAMLError as err:
        raise PlanError.single(file, "", f"YAML syntax error: {err}") from None


def _check_size(data: Any, file: str) -> None:
    """A :class:`PlanError` when ``data`` nests deeper than ``MAX_PLAN_DEPTH`` or holds more than
    ``MAX_PLAN_VALUES`` values; it stops there, so a structure that aliases expand is never walked whole."""
    count = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, keys = stack.pop()
        count += 1
        if len(keys) > MAX_PLAN_DEPTH:
            raise _too_deep(file, _shown_path(keys))
        if count > MAX_PLAN_VALUES:
            raise PlanError.single(
                file,
                _shown_path(keys),
                f"the plan holds more than {MAX_PLAN_VALUES} values (each use of a YAML alias counts in full); "
                'move large value tables to a CSV file (tables.<name>.file = "x.csv") and write aliases out',
            )
        if isinstance(value, dict):
            stack.extend((v, (*keys, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*keys, i)) for i, v in enumerate(value))


def _too_deep(file: str, path: str) -> PlanError:
    return PlanError.single(
        file,
        path,
        f"nested deeper than {MAX_PLAN_DEPTH} levels; a plan needs far fewer: look for a runaway structure "
        "(brackets that never close, a generated file)",
    )


def _shown_path(keys: tuple[str | int, ...]) -> str:
    path = ""
    for key in keys[:_SHOWN_KEYS]:
        path = join_path(path, key)
    return path + ("…" if len(keys) > _SHOWN_KEYS else "")


def parse_plan_text(text: str, file: str, base_dir: Path | None = None) -> LoadedPlan:
    """Parse, decode and check plan text; raises :class:`PlanError` with every problem found."""
    data = _parse_syntax(text, file)
    _check_size(data, file)
    if not isinstance(data, dict):
        raise PlanError.single(file, "", "a plan must be a table of [plan], [connections.*] and [steps.*]")
    problems: list[PlanProblem] = []
    plan = decode(data, Plan, file, "", problems)
    if plan is INVALID or problems:
        raise PlanError(problems)
    assert isinstance(plan, Plan)
    return check_plan(plan, file, base_dir if base_dir is not None else Path(file).parent)


def load_plan(path: str) -> LoadedPlan:
    """Read and check the plan at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise PlanError.single(path, "", f"cannot read plan: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise PlanError.single(path, "", "cannot read plan: not UTF-8 text") from None
    return parse_plan_text(text, path)


def check_plan(plan: Plan, file: str, base_dir: Path) -> LoadedPlan:
    """The checks that need only the plan itself; raises :class:`PlanError` listing all problems."""
    problems: list[PlanProblem] = []
    _check_connections(plan, file, problems)
    tables = _load_tables(plan, file, base_dir, problems)
    functions = _load_functions(plan, file, base_dir, problems)
    maps = _check_steps(plan, file, tables, functions, problems)
    if problems:
        raise PlanError(problems)
    return LoadedPlan(plan=plan, file=file, tables=tables, maps=maps)


def _check_connections(plan: Plan, file: str, problems: list[PlanProblem]) -> None:
    for name, conn in plan.connections.items():
        base = join_path("connections", name)
        for fname in CREDENTIAL_FIELDS:
            value = getattr(conn, fname)
            if isinstance(value, str) and not is_reference(value):
                var = re.sub(r"[^A-Z0-9]+", "_", f"{name}_{fname}".upper())
                problems.append(
                    PlanProblem(
                        file,
                        join_path(base, fname),
                        "a literal secret is not allowed in a plan; put it in an environment variable and "
                        f'write {fname} = "${{{var}}}" (set {var} in the environment or an --env-file)',
                    )
                )
        if conn.relative_to == "journal":
            _check_journal_folder(conn, file, base, problems)
            readers = [step for step, spec in plan.steps.items() if spec.read.from_ == name]
            if readers:
                problems.append(
                    PlanProblem(
                        file,
                        join_path(base, "relative_to"),
                        f'relative_to = "journal" is a folder the run writes, and step {readers[0]} reads it; '
                        "read from a folder beside the plan (drop relative_to) or an absolute path",
                    )
                )
        budget = conn.budget
        if budget is None:
            continue
        bpath = join_path(base, "budget")
        if isinstance(budget, str):
            _check_rate(budget, file, bpath, problems)
            continue
        assert isinstance(budget, Budget)
        if budget.default is not None:
            _check_rate(budget.default, file, join_path(bpath, "default"), problems)
        for endpoint, rate in budget.endpoints.items():
            _check_rate(rate, file, join_path(join_path(bpath, "endpoints"), endpoint), problems)


def _check_journal_folder(conn: Connection, file: str, base: str, problems: list[PlanProblem]) -> None:
    """A folder of the run's own (``relative_to = "journal"``) is a files connection's, named by a plain
    ``path``: the journal decides where it is."""
    where = join_path(base, "relative_to")
    if conn.platform != "files":
        problems.append(PlanProblem(file, where, 'relative_to = "journal" is for a files connection only'))
        return
    name = conn.path or ""
    if not name or name in (".", "..") or any(c in name for c in ("/", "\\", "\x00", "${")):
        problems.append(
            PlanProblem(
                file,
                join_path(base, "path"),
                'with relative_to = "journal", path names the run\'s own folder (a plain name such as '
                '"certificates", no "/" or ".."): it is made beside the journal, .migrator/<plan name>-<path>/ '
                "(or <journal>.<path>/ for --journal <journal>)",
            )
        )


def _check_rate(text: str, file: str, path: str, problems: list[PlanProblem]) -> None:
    try:
        parse_rate(text)
    except ValueError as err:
        problems.append(PlanProblem(file, path, str(err)))


def _load_tables(plan: Plan, file: str, base_dir: Path, problems: list[PlanProblem]) -> dict[str, LookupTable]:
    tables: dict[str, LookupTable] = {}
    for name, table in plan.tables.items():
        path = join_path("tables", name)
        if (table.values is None) == (table.file is None):
            problems.append(PlanProblem(file, path, 'give exactly one of values = {...} or file = "x.csv"'))
            continue
        if table.values is not None:
            values: dict[str, Any] = dict(table.values)
        else:
            assert table.file is not None
            loaded = _read_csv_table(base_dir / table.file, table.key_column, table.value_column)
            if isinstance(loaded, str):
                problems.append(PlanProblem(file, join_path(path, "file"), loaded))
                continue
            values = loaded
        default = table.default
        tables[name] = LookupTable(values) if default is None else LookupTable(values, default)
    return tables


def _load_functions(plan: Plan, file: str, base_dir: Path, problems: list[PlanProblem]) -> PlanFunctions:
    shown = plan.plan.functions
    if shown is None:
        return PlanFunctions()
    loaded = load_functions(base_dir / shown, shown)
    if isinstance(loaded, str):
        problems.append(PlanProblem(file, "plan.functions", loaded))
        return PlanFunctions(shown)
    return loaded


def _read_csv_table(path: Path, key_column: str, value_column: str) -> dict[str, Any] | str:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in (key_column, value_column) if c not in columns]
            if missing:
                return (
                    f"{path.name}: no column {', '.join(missing)}; columns are {', '.join(columns) or 'none'}"
                )
            return {row[key_column]: row[value_column] for row in reader}
    except OSError as err:
        return f"cannot read table file {str(path)!r}: {err.strerror or err}"


def _check_steps(
    plan: Plan,
    file: str,
    tables: Mapping[str, LookupTable],
    functions: PlanFunctions,
    problems: list[PlanProblem],
) -> dict[str, CompiledMap]:
    if not plan.steps:
        problems.append(PlanProblem(file, "steps", "no steps; add at least one [steps.<name>] table"))
    conns = list(plan.connections)
    steps = list(plan.steps)
    maps: dict[str, CompiledMap] = {}
    for name, step in plan.steps.items():
        base = join_path("steps", name)
        for where, conn in (("read.from", step.read.from_), ("write.to", step.write.to)):
            if conn not in plan.connections:
                known = ", ".join(conns) or "none"
                problems.append(
                    PlanProblem(
                        file,
                        f"{base}.{where}",
                        f'unknown connection "{conn}"{did_you_mean(conn, conns)}; connections: {known}',
                    )
                )
        for i, dep in enumerate(step.after):
            if dep == name:
                problems.append(PlanProblem(file, f"{base}.after[{i}]", "a step cannot run after itself"))
            elif dep not in plan.steps:
                problems.append(
                    PlanProblem(
                        file,
                        f"{base}.after[{i}]",
                        f'unknown step "{dep}"{did_you_mean(dep, steps)}; steps: {", ".join(steps)}',
                    )
                )
        compiled, map_problems = compile_map(step.map, tables, functions=functions, where=step.where)
        mpath = join_path(base, "map")
        for mp in map_problems:
            where = join_path(base, "where") if mp.field is None else join_path(mpath, mp.field)
            problems.append(PlanProblem(file, where, mp.message))
        if compiled is None:
            continue
        for fld, ref in compiled.references:
            if ref not in plan.steps:
                problems.append(
                    PlanProblem(
                        file,
                        join_path(mpath, fld),
                        f'crosswalk reference to unknown step "{ref}"{did_you_mean(ref, steps)}; '
                        f"steps: {', '.join(steps)}",
                    )
                )
        maps[name] = compiled
    return maps
