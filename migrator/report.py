"""Reports a customer can sign off: success / error / crosswalk CSVs and a self-contained HTML page.

Everything comes from the journal (the ledger, the crosswalk, the dead letters, finished batches) and the run
statistics the runner saves in it (:meth:`~migrator.journal.Journal.save_run_stats`); nothing is fetched.
The journal holds no secret (reasons are redacted before they are stored), so neither do the reports.

- :func:`ledger_rows`, :func:`error_rows`, :func:`to_csv` — pure: journal values → rows → bytes for a
  spreadsheet, each row ending with who the record is (name, email, number, linked to, from the payload it
  was last sent with: :mod:`migrator.journal_identities`, streamed beside the ledger): UTF-8 with a BOM (Excel
  then reads the accents right), RFC 4180 quoting with CRLF line ends,
  and the formula-injection guard (:func:`guard_text`): a cell starting with ``=``, ``+``, ``-`` or ``@`` (or
  a tab/CR, which some spreadsheets strip before looking) is prefixed with a single quote.
- :func:`collect` — one read of the journal into a :class:`ReportData`; :func:`render_html` (in
  :mod:`migrator.report_html`) turns it into one HTML string with inline CSS and an inline SVG chart.
- :func:`write_reports` — the only I/O: writes ``success.csv``, ``errors.csv``, ``crosswalk.csv``,
  ``coverage.csv`` (:mod:`migrator.coverage`: what the plan carries and leaves behind) and ``report.html``
  into a directory (it and its missing parents 0700), each file 0600 through a temporary file that replaces
  it when complete, never through a symbolic link (``migrator.private_files``), and returns their paths;
  what the disk refuses is a :class:`ReportError`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from migrator import __version__
from migrator.coverage import COVERAGE_HEADER, CoverageRow, StepCount, csv_rows, kept_rows
from migrator.errors import MigratorError
from migrator.identity import IDENTITY_HEADER
from migrator.journal import DeadLetter, IdentifiedRow, Journal, LedgerCounts
from migrator.journal_identities import Cells, chunk_cells, index_linked, kept_who
from migrator.private_files import make_private_dir, replace_private, write_private
from migrator.report_html import ReportData, render
from migrator.runtime.runner import os_user

__all__ = [
    "COVERAGE_HEADER",
    "CROSSWALK_HEADER",
    "ERRORS_HEADER",
    "FORMULA_FIRST",
    "SUCCESS_HEADER",
    "VERIFY_SUMMARY",
    "ReportData",
    "ReportError",
    "collect",
    "count_records",
    "coverage_of",
    "default_report_dir",
    "error_rows",
    "flatten_detail",
    "guard_cell",
    "guard_text",
    "ledger_rows",
    "plain_csv",
    "private_csv",
    "read_verify_summary",
    "reason_pattern",
    "render_html",
    "to_csv",
    "top_reasons",
    "write_private",
    "write_reports",
]

SUCCESS_HEADER = ("step", "source_key", "target_id", "action", *IDENTITY_HEADER)
#: the summary ``migrator verify`` leaves in the reports folder; the HTML report shows the latest one there
VERIFY_SUMMARY = "verify.json"
ERRORS_HEADER = ("step", "source_key", "status", "reason", "detail", *IDENTITY_HEADER)
CROSSWALK_HEADER = ("entity", "step", "source_id", "target_id", *IDENTITY_HEADER)
#: the identity cells of a record (name, email, number, linked to) by step and source key
Who = Callable[[str, str], tuple[str, str, str, str]]


def default_report_dir(plan_name: str, base: str | os.PathLike[str] = ".") -> Path:
    """``<base>/.migrator/<plan name>-report/``."""
    return Path(base) / ".migrator" / f"{plan_name}-report"


# -- CSV -----------------------------------------------------------------------------------------------------


#: a cell starting with one of these would be read as a formula by a spreadsheet
FORMULA_FIRST: Final = frozenset(("=", "+", "-", "@", "\t", "\r"))


def guard_text(value: str) -> str:
    """A cell that a spreadsheet would read as a formula gets a leading ``'``."""
    return "'" + value if value[:1] in FORMULA_FIRST else value


def guard_cell(value: Any) -> str:
    """A cell as text, with a leading quote when a spreadsheet would take it for a formula."""
    return guard_text("" if value is None else value if isinstance(value, str) else str(value))


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """RFC 4180 (CRLF, fields quoted when they hold a quote, comma or line break), UTF-8 with BOM."""
    buf = io.StringIO()
    writer = csv.writer(buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([guard_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def flatten_detail(detail: Any) -> str:
    """Field-level detail for one cell: ``{"Email": ["bad", "taken"]}`` → ``Email: bad; Email: taken``.

    ModelState-like mappings (field → message or list of messages) are flattened in key order; anything else
    is written as text.
    """
    if detail is None:
        return ""
    if isinstance(detail, Mapping):
        parts: list[str] = []
        for key in sorted(detail, key=str):
            messages = detail[key]
            items = messages if isinstance(messages, list | tuple) else [messages]
            for message in items:
                text = flatten_detail(message) if isinstance(message, Mapping) else str(message)
                parts.append(f"{key}: {text}" if key not in ("", None) else text)
        return "; ".join(parts)
    if isinstance(detail, list | tuple):
        return "; ".join(flatten_detail(d) for d in detail)
    return str(detail)


def error_rows(rejections: Iterable[DeadLetter], who: Who | None = None) -> list[tuple[str, ...]]:
    """``(step, source key, status, reason, detail, name, email, number, linked to)`` per record still
    rejected; the identity cells from ``who`` (empty without it), guarded."""
    return [
        (d.step, d.source_key, "" if d.status is None else str(d.status), d.reason, flatten_detail(d.detail),
         *(_guarded(who(d.step, d.source_key)) if who is not None else _NOBODY))
        for d in rejections
    ]  # fmt: skip


_NOBODY: Final = ("",) * len(IDENTITY_HEADER)


def _guarded(cells: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
    name, email, number, links = cells
    return guard_text(name), guard_text(email), guard_text(number), guard_text(links)


def ledger_rows(
    rows: Iterable[IdentifiedRow],
    entities: Mapping[str, str],
    names: dict[str, tuple[str, str]],
    cells: Cells | None = None,
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The guarded cells of ``success.csv`` (step, source key, target id, action: the done records) and of
    ``crosswalk.csv`` (entity, step, source key, target id: every record with a target id) for ledger rows,
    each followed by the record's identity cells (the identity the row carries; ``cells`` resolves a row
    that links other records; empty when the journal kept none); the entity is the step's write entity in
    ``entities``, else the step.

    ``names`` keeps each step's guarded step and entity cells (step → (step, entity)) from one call to the
    next."""
    success: list[tuple[str, ...]] = []
    walk: list[tuple[str, ...]] = []
    guard = guard_text
    for step, key, target, action, done, name, email, number, links in rows:
        if not done and target is None:
            continue
        if step not in names:
            names[step] = (guard(step), guard(entities.get(step, step)))
        step_cell, entity_cell = names[step]
        key_cell = guard(key)
        target_cell = "" if target is None else guard(target)
        if name is None or email is None or number is None:
            person: tuple[str, ...] = _NOBODY
        elif links is None or cells is None:
            person = (guard(name), guard(email), guard(number), "")
        else:
            person = _guarded(cells(step, (name, email, number, links)))
        if done:
            success.append((step_cell, key_cell, target_cell, action or "", *person))
        if target is not None:
            walk.append((entity_cell, step_cell, key_cell, target_cell, *person))
    return success, walk


#: the parts of a reason that vary from record to record: quoted values and numbers
_VARYING: Final = re.compile(r"'[^']*'|\"[^\"]*\"|(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def reason_pattern(reasons: Sequence[str]) -> str:
    """Reasons of one shape (the same text around their quoted values and numbers) as one pattern: a value
    they all share is kept, one that varies becomes ``…`` (kept in its quotes): ``value '…' is not in table
    'roles'``."""
    first = reasons[0]
    slots = [[m.group(0) for m in _VARYING.finditer(r)] for r in reasons]
    out: list[str] = []
    pos = 0
    for i, m in enumerate(_VARYING.finditer(first)):
        out.append(first[pos : m.start()])
        values = {s[i] for s in slots}
        text = m.group(0)
        out.append(text if len(values) == 1 else f"{text[0]}…{text[0]}" if text[0] in "'\"" else "…")
        pos = m.end()
    out.append(first[pos:])
    return "".join(out)


def count_records(
    journal: Journal, steps: Iterable[str], records_of: Mapping[str, str]
) -> dict[str, tuple[tuple[str, ...], int]]:
    """The records on the target by what the steps write (``records_of``: step → ``<connection>.<entity>``,
    else the step itself), each with the steps that write it and how many distinct target ids their done
    records hold: a record two steps write (a user, then its status) is one record. What no done record
    reached is left out."""
    groups: dict[str, list[str]] = {}
    for step in steps:
        groups.setdefault(records_of.get(step, step), []).append(step)
    counted = {what: (tuple(names), journal.distinct_targets(names)) for what, names in groups.items()}
    return {what: (names, n) for what, (names, n) in counted.items() if n}


def top_reasons(rejections: Iterable[DeadLetter], limit: int = 10) -> list[tuple[str, str, int]]:
    """The most frequent rejection reasons of the records still rejected, ``(step, reason pattern, records)``:
    reasons that differ only in their quoted values and numbers (the record's own value) are one pattern
    (:func:`reason_pattern`), so 38 records refused for 38 different roles are one row of 38."""
    shapes: dict[tuple[str, str], list[str]] = {}
    for d in rejections:
        shapes.setdefault((d.step, _VARYING.sub("\x00", d.reason)), []).append(d.reason)
    grouped = Counter({(step, reason_pattern(reasons)): len(reasons) for (step, _), reasons in shapes.items()})
    ranked = sorted(grouped.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(step, reason, n) for (step, reason), n in ranked[:limit]]


# -- the report's data ---------------------------------------------------------------------------------------


def collect(
    journal: Journal,
    plan_name: str,
    *,
    entities: Mapping[str, str] | None = None,
    rejections: Sequence[DeadLetter] | None = None,
    now: float | None = None,
    verify: Mapping[str, Any] | None = None,
    step_counts: Mapping[str, LedgerCounts] | None = None,
) -> ReportData:
    """Read what the HTML report needs from the journal (and ``verify``: the latest verification's summary,
    when there is one; ``step_counts``: the ledger's counts when the caller read them already)."""
    stats = journal.run_stats()
    open_rejections = list(rejections) if rejections is not None else journal.open_rejections()
    step_counts = dict(step_counts) if step_counts is not None else journal.step_counts()
    coverage, coverage_counts = coverage_of(stats, step_counts)
    return ReportData(
        plan=plan_name,
        generated_at=time.time() if now is None else now,
        runs=journal.runs(),
        run_stats=stats,
        step_counts=step_counts,
        entities=dict(_entities(entities, stats)),
        completions=journal.batch_completions(),
        reasons=top_reasons(open_rejections),
        rejected=len(open_rejections),
        coverage=coverage,
        coverage_counts=coverage_counts,
        verify=dict(verify) if verify is not None else None,
        prepared_by=os_user(),
        version=__version__,
    )


def read_verify_summary(out: Path) -> dict[str, Any] | None:
    """The summary ``migrator verify`` left in ``out`` (None when it has not run there); one that cannot be
    read says so in the report instead."""
    path = out / VERIFY_SUMMARY
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        return {"error": f"{path} cannot be read ({error}): run `migrator verify` again"}
    return summary if isinstance(summary, dict) else {"error": f"{path} is not a verify summary"}


def coverage_of(
    stats: Mapping[int, Mapping[str, Any]], ledger: Mapping[str, LedgerCounts]
) -> tuple[list[CoverageRow], dict[str, StepCount]]:
    """The coverage rows of the newest run that kept them (none before any did), and per step: read in that
    run, written (done) and rejected as the ledger holds them over every run."""
    run_id, rows = kept_rows(stats)
    if run_id is None:
        return [], {}
    steps = stats[run_id].get("steps")
    read = steps if isinstance(steps, dict) else {}
    counts: dict[str, StepCount] = {}
    for row in rows:
        if row.step is None or row.step in counts:
            continue
        held = ledger.get(row.step, LedgerCounts())
        step = read.get(row.step)
        n = step.get("read") if isinstance(step, dict) else None
        counts[row.step] = StepCount(
            n if isinstance(n, int) else None, held.records_done, held.records_rejected
        )
    return rows, counts


def _records_of(entities: Mapping[str, str], stats: Mapping[int, Mapping[str, Any]]) -> dict[str, str]:
    """Step → the records it writes, as the newest run statistics that say name them (``"records"``), else
    the step's write entity."""
    for run_id in sorted(stats, reverse=True):
        named = stats[run_id].get("records")
        if isinstance(named, dict) and named:
            return {str(k): str(v) for k, v in named.items()}
    return dict(entities)


def _entities(given: Mapping[str, str] | None, stats: Mapping[int, Mapping[str, Any]]) -> Mapping[str, str]:
    """Step → write entity: as given, else from the latest run stats that name them (``"entities"``)."""
    if given:
        return given
    for run_id in sorted(stats, reverse=True):
        named = stats[run_id].get("entities")
        if isinstance(named, dict) and named:
            return {str(k): str(v) for k, v in named.items()}
    return {}


def render_html(data: ReportData) -> str:
    """The whole report as one self-contained HTML document."""
    return render(data)


# -- files ---------------------------------------------------------------------------------------------------


class ReportError(MigratorError):
    """The reports cannot be written where asked: the folder is a file, or the disk refused (permissions, no
    space). Nothing of the journal is changed; the message says which path and what to do."""


@contextlib.contextmanager
def _os_errors(out: Path) -> Iterator[None]:
    """The OS errors of writing the reports into ``out`` as ``ReportError``s."""
    try:
        yield
    except NotADirectoryError as error:
        raise ReportError(
            f"report: {error.filename} is not a folder, so the reports cannot be written into {out}; "
            "choose a folder (--out DIR; a missing one is created)"
        ) from None
    except OSError as error:
        raise ReportError(
            f"report: cannot write the reports into {out} ({error.strerror}); fix that (permissions, free "
            "space) or choose another folder (--out DIR), then run `migrator report` again"
        ) from None


#: a cell holding one of these is quoted (RFC 4180); rows without any are written by :func:`plain_csv`
_QUOTED: Final = re.compile('[,"\r\n]')
#: what :func:`plain_csv` joins cells and rows with before it checks that no cell held them
_CELL: Final = "\x1f"
_ROW: Final = "\x1e"


def plain_csv(rows: Sequence[Sequence[str]]) -> str | None:
    """``rows`` (text cells) as the lines the ``csv`` module writes (excel dialect, CRLF, minimal quoting)
    when no cell needs quoting — the usual case —, in two joins rather than a writer's pass per cell; None
    when one does (or holds a separator of the joins, or a row is one empty cell, which the module quotes)."""
    if not rows:
        return ""
    text = _ROW.join([_CELL.join(row) for row in rows])
    cells = sum(map(len, rows))
    if (
        min(map(len, rows)) < 2
        or _QUOTED.search(text) is not None
        or text.count(_CELL) != cells - len(rows)
        or text.count(_ROW) != len(rows) - 1
    ):
        return None
    return text.replace(_CELL, ",").replace(_ROW, "\r\n") + "\r\n"


#: each formula character and the starts of the cells :func:`_joined_csv` guards with it, but the first cell's:
#: a separator of the joins, then that character
_FORMULA_STARTS: Final = tuple(
    (c, tuple((sep + c, f"{sep}'{c}") for sep in (_CELL, _ROW))) for c in sorted(FORMULA_FIRST)
)


class _Clash(Exception):
    """A cell holds a separator of the joins (:data:`_CELL`, :data:`_ROW`), so its lines cannot be split."""


def _joined_csv(lines: Sequence[str], fields: int) -> str | list[list[str]]:
    """Lines of ``fields`` cells each, the cells joined by ``_CELL`` and not guarded yet, as the CSV lines
    :func:`private_csv`'s ``put`` writes of their guarded cells (:func:`guard_text` of each): their text when
    no cell needs quoting, else their guarded cells (for the csv module). Every cell is guarded, an action
    too, which never starts with a formula character (``created``, ``updated``, ``unchanged``, empty). Raises
    ``_Clash`` when a cell holds ``_CELL`` or ``_ROW`` (the count of either is then off)."""
    if not lines:
        return ""
    text = _ROW.join(lines)
    for c, starts in _FORMULA_STARTS:  # one character's search of the text (memchr), seldom found
        if c in text:
            for start, guarded in starts:
                if start in text:
                    text = text.replace(start, guarded)
    text = guard_text(text)  # the first cell
    if text.count(_CELL) != len(lines) * (fields - 1) or text.count(_ROW) != len(lines) - 1:
        raise _Clash
    if '"' in text or "\r" in text or "\n" in text or "," in text:
        return [line.split(_CELL) for line in text.split(_ROW)]
    return text.replace(_CELL, ",").replace(_ROW, "\r\n") + "\r\n"


@contextlib.contextmanager
def private_csv(path: Path, header: Sequence[str]) -> Iterator[Callable[[Sequence[Sequence[str]] | str], None]]:
    """A CSV file written (0600) through a temporary file that replaces ``path`` only when complete (never
    through a link: ``migrator.private_files``); yields ``put(rows)``, which formats rows whose cells are
    text already guarded and writes them in one go (one encode per call, not per row; :func:`plain_csv`
    when no cell needs quoting), or ``put(text)``, CSV lines formatted already (:func:`_joined_csv`): memory
    stays flat whatever the row count."""
    with replace_private(path) as raw:
        f = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        buf = io.StringIO()
        writer = csv.writer(buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

        def written() -> str:
            text = buf.getvalue()
            buf.seek(0)
            buf.truncate()
            return text

        def put(rows: Sequence[Sequence[str]] | str) -> None:
            text = rows if isinstance(rows, str) else plain_csv(rows)
            if text is None:
                writer.writerows(rows)
                text = written()
            f.write(text)

        writer.writerow(header)
        f.write(written())
        yield put
        f.detach()


def write_csv_private(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``to_csv`` streamed straight into ``path`` (0600), every cell guarded, 5,000 rows at a time."""
    guarded = ([guard_cell(v) for v in row] for row in rows)
    with private_csv(path, header) as put:
        while block := list(itertools.islice(guarded, 5000)):
            put(block)


def write_reports(
    journal: Journal,
    out_dir: str | os.PathLike[str],
    plan_name: str,
    *,
    entities: Mapping[str, str] | None = None,
    step_counts: Mapping[str, LedgerCounts] | None = None,
) -> list[Path]:
    """Write ``success.csv``, ``errors.csv``, ``crosswalk.csv``, ``coverage.csv`` and ``report.html`` into
    ``out_dir``.

    ``entities`` maps each step to its write entity (the crosswalk's first column); without it they come
    from the run statistics (key ``"entities"``), else the step name is used. Each CSV row ends with what a
    person knows the record by (:mod:`migrator.identity`: name, email, number, linked to), as the journal
    kept it in the record's ledger row from the payload its latest batch was sent with (redacted then, by the
    run's redactor), linked records resolved through the run statistics' ``"references"`` (indexed in the
    journal's temporary storage for the report, on disk, dropped after it), so memory stays flat over
    millions of records. ``step_counts``: the ledger's counts (:meth:`Journal.step_counts`) when the caller
    has just read them (a run, for its summary too), else they are read here. Returns the paths written.
    The folder and its missing parents are created 0700; a folder that cannot be written (it is a file, the
    disk refuses) raises a ``ReportError`` that says what to do.
    """
    out = Path(out_dir)
    with _os_errors(out):
        return _write_reports(journal, out, plan_name, entities, step_counts)


def _references(stats: Mapping[int, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Step → (payload field → referenced step), as the newest run statistics that hold them say."""
    for run_id in sorted(stats, reverse=True):
        named = stats[run_id].get("references")
        if isinstance(named, dict):
            return {
                str(step): {str(f): str(s) for f, s in fields.items()}
                for step, fields in named.items()
                if isinstance(fields, dict)
            }
    return {}


def _ledger_csvs(
    journal: Journal, out: Path, entities: Mapping[str, str], references: Mapping[str, Mapping[str, str]]
) -> None:
    """``success.csv`` and ``crosswalk.csv`` from one pass over the ledger with the cells joined by the
    journal's query (:meth:`Journal.identified_ledger_chunks`) and guarded and formatted a block at a time
    (:func:`_joined_csv`); a record that links others gets its identity cells from ``chunk_cells``. Raises
    ``_Clash`` (no file replaced) when a cell holds a separator of the joins."""
    sep = _CELL
    with (
        private_csv(out / "success.csv", SUCCESS_HEADER) as success,
        private_csv(out / "crosswalk.csv", CROSSWALK_HEADER) as walk,
    ):
        for rows in journal.identified_ledger_chunks(sep):
            linking = [(r[0], links) for r in rows if (links := r[5]) is not None]
            chunk = _linked_who(rows, chunk_cells(journal, references, linking)) if linking else rows
            success(
                _joined_csv(
                    [
                        f"{step}{sep}{kt}{sep}{action}{who}"
                        for step, flags, kt, action, who, _ in chunk
                        if flags & 1
                    ],
                    len(SUCCESS_HEADER),
                )
            )
            walk(
                _joined_csv(
                    [
                        f"{entities.get(step, step)}{sep}{step}{sep}{kt}{who}"
                        for step, flags, kt, _, who, _ in chunk
                        if flags & 2
                    ],
                    len(CROSSWALK_HEADER),
                )
            )


def _linked_who(
    chunk: Sequence[tuple[str, int, str, str, str, str | None]], cells: Cells
) -> list[tuple[str, int, str, str, str, str | None]]:
    """``chunk`` with the identity cells of each record that links others resolved by ``cells``."""
    out: list[tuple[str, int, str, str, str, str | None]] = []
    for step, flags, kt, action, who, links in chunk:
        if links is None:
            out.append((step, flags, kt, action, who, None))
            continue
        parts = who.split(_CELL)
        if len(parts) != 5:
            raise _Clash
        name, email, number = parts[1:4]
        out.append(
            (step, flags, kt, action, _CELL + _CELL.join(cells(step, (name, email, number, links))), None)
        )
    return out


def _ledger_csvs_by_cell(
    journal: Journal, out: Path, entities: Mapping[str, str], references: Mapping[str, Mapping[str, str]]
) -> None:
    """:func:`_ledger_csvs` a cell at a time (:func:`ledger_rows`), from the ledger's rows and what the
    journal kept of who each record is (:meth:`Journal.kept_identities`): whatever the cells hold."""
    names: dict[str, tuple[str, str]] = {}
    with (
        private_csv(out / "success.csv", SUCCESS_HEADER) as success,
        private_csv(out / "crosswalk.csv", CROSSWALK_HEADER) as walk,
    ):
        for ledger in journal.ledger_row_chunks():
            kept = journal.kept_identities([(r[0], r[1]) for r in ledger])
            chunk = [(*r, *kept.get((r[0], r[1]), _UNKEPT)) for r in ledger]
            linking = [(r[0], links) for r in chunk if (links := r[8]) is not None]
            cells = chunk_cells(journal, references, linking)
            success_rows, walk_rows = ledger_rows(chunk, entities, names, cells)
            success(success_rows)
            walk(walk_rows)


_UNKEPT: Final = (None, None, None, None)


def _write_reports(
    journal: Journal,
    out: Path,
    plan_name: str,
    entities: Mapping[str, str] | None,
    step_counts: Mapping[str, LedgerCounts] | None,
) -> list[Path]:
    make_private_dir(out)
    rejections = journal.open_rejections()
    verify = read_verify_summary(out)
    data = collect(
        journal, plan_name, entities=entities, rejections=rejections, verify=verify, step_counts=step_counts
    )
    stats = journal.run_stats()
    references = _references(stats)
    index_linked(journal, references)
    try:
        # success.csv and crosswalk.csv come from one pass over the ledger, each row with its identity
        try:
            _ledger_csvs(journal, out, data.entities, references)
        except _Clash:  # a cell holds a separator of the joins: the pass again, cell by cell
            _ledger_csvs_by_cell(journal, out, data.entities, references)
        records_of = _records_of(data.entities, stats)
        steps = dict.fromkeys([*data.entities, *data.step_counts])  # the plan's order, then any other step
        data.records = count_records(journal, steps, records_of)
        who = kept_who(journal, references, [(d.step, d.source_key) for d in rejections])
        write_csv_private(out / "errors.csv", ERRORS_HEADER, error_rows(rejections, who))
    finally:
        journal.forget_linked()
    write_csv_private(out / "coverage.csv", COVERAGE_HEADER, csv_rows(data.coverage, data.coverage_counts))
    write_private(out / "report.html", render_html(data).encode("utf-8"))
    files = ("success.csv", "errors.csv", "crosswalk.csv", "report.html", "coverage.csv")
    return [out / name for name in files]
