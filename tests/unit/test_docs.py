"""The docs tell the truth about the code: the generated plan reference is current, every error message a user
can meet is explained in docs/troubleshooting.md, and no relative link in the docs is broken.

Messages are collected from the source with ``ast`` (never by running the code): the literal text of every
message given to a project error (``raise PlanError.single(...)``, ``PlanProblem(...)``, ``AuthError(...)``,
``StepFailed(...)``, ``MappingError(...)`` …), every ``print(..., file=sys.stderr)``, and every record
rejection reason written as ``problems[field] = ["…"]``. A message's first words (placeholders normalised to
``…``) must appear in troubleshooting.md.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from migrator import docgen
from migrator.connectors.catalog import CATALOG
from migrator.plan import model

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TROUBLESHOOTING = DOCS / "troubleshooting.md"
PREFIX_WORDS = 6

_ERROR_NAME = re.compile(r"(Error|Failed|Rejected)$")
_BUILTIN_NAMES = frozenset(dir(builtins))


# ---------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Message:
    where: str  # file:line
    kind: str  # the error class or call that carries it
    template: str  # literal text with "{}" for each placeholder


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def template_of(node: ast.expr | None) -> str | None:
    """The literal text of a message expression, ``{}`` for every placeholder; None when not literal."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = template_of(node.left)
        if left is None:
            return None
        right = template_of(node.right)
        return left + (right if right is not None else "{}")
    return None


def _arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _message_node(call: ast.Call) -> tuple[str, ast.expr | None] | None:
    """(kind, message expression) when ``call`` carries a user-facing message."""
    name = _name(call.func)
    last = name.rsplit(".", 1)[-1]
    if name.endswith("PlanError.single") or last == "PlanProblem":
        return last, _arg(call, 2, "message")
    if last == "MappingError":
        return last, _arg(call, 1, "reason")
    if name == "print" and any(k.arg == "file" and _name(k.value) == "sys.stderr" for k in call.keywords):
        return "stderr", _arg(call, 0, "")
    if _ERROR_NAME.search(last) and last not in _BUILTIN_NAMES and last != "PlanError":
        return last, _arg(call, 0, "message")
    return None


def _rejection_nodes(node: ast.AST) -> list[ast.expr]:
    """``problems[x] = ["…"]`` and ``problems.setdefault(x, []).append("…")``: record rejection reasons."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if (
            isinstance(target, ast.Subscript)
            and _name(target.value) == "problems"
            and isinstance(node.value, ast.List)
        ):
            return list(node.value.elts)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "append"
        and isinstance(node.func.value, ast.Call)
        and _name(node.func.value.func) == "problems.setdefault"
        and node.args
    ):
        return [node.args[0]]
    return []


def messages_in(source: str, where: str) -> list[Message]:
    out: list[Message] = []
    for node in ast.walk(ast.parse(source)):
        for elt in _rejection_nodes(node):
            text = template_of(elt)
            if text is not None:
                out.append(Message(f"{where}:{elt.lineno}", "rejection", text))
        if isinstance(node, ast.Call):
            found = _message_node(node)
            if found is not None:
                text = template_of(found[1])
                if text is not None:
                    out.append(Message(f"{where}:{node.lineno}", found[0], text))
    return out


def collect_messages(package: Path) -> list[Message]:
    out: list[Message] = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        if "sandbox" in rel.parts or path.name == "docgen.py":
            continue
        out.extend(messages_in(path.read_text(encoding="utf-8"), str(rel)))
    return out


def normalise(text: str) -> str:
    """Placeholders (``{x}``, ``<x>``, ``…``, ``...``, with quotes around them, and a ``(did you mean …?)``
    hint) become one ``…``; markdown code marks and table escapes go; case and whitespace are folded."""
    text = text.replace("`", "").replace("\\|", "|").replace("...", "…")
    text = re.sub(r"\{[^{}]*\}", "…", text)
    text = re.sub(r"<[^<>\n]{1,40}>", "…", text)
    text = re.sub(r"['\"]?…['\"]?", "…", text)
    text = re.sub(r"\s*\(did you mean …\?\)", "…", text)  # the hint is a placeholder of the message
    text = re.sub(r"…(\s*…)+", "…", text)
    return " ".join(text.lower().split())


def prefix(template: str) -> str | None:
    """The first words of a message, normalised; None when they hold fewer than two real words."""
    words = normalise(template).split()[:PREFIX_WORDS]
    if sum(1 for w in words if re.search(r"[a-z]{2}", w)) < 2:
        return None
    return " ".join(words)


def undocumented(messages: list[Message], doc: str) -> list[str]:
    text = normalise(doc)
    missing = []
    for msg in messages:
        head = prefix(msg.template)
        if head is not None and head not in text:
            missing.append(f"{msg.where} {msg.kind}: {head!r}")
    return missing


# ---------------------------------------------------------------------------------------------- (a) reference


def test_plan_reference_is_up_to_date() -> None:
    assert docgen.check(docgen.DEFAULT_OUT) is None
    assert docgen.main(["--check"]) == 0


def test_check_fails_on_a_stale_or_missing_reference(tmp_path: Path) -> None:
    stale = tmp_path / "plan-reference.md"
    stale.write_text(docgen.render().replace("`mergeType`", "`mergetype`"), encoding="utf-8")
    assert docgen.main(["--check", "--out", str(stale)]) == 1
    assert "out of date" in (docgen.check(stale) or "")
    assert docgen.main(["--check", "--out", str(tmp_path / "absent.md")]) == 1
    docgen.main(["--out", str(stale)])
    assert docgen.main(["--check", "--out", str(stale)]) == 0


def test_every_plan_struct_and_key_is_documented() -> None:
    structs = {
        obj
        for obj in vars(model).values()
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct) and obj.__module__ == model.__name__
    }
    structs = {s for s in structs if not s.__name__.startswith("_")}
    assert structs == {s for _, _, s in docgen.SECTIONS}
    text = docgen.render()
    keys = set()
    for _, _, struct in docgen.SECTIONS:
        for info in docgen.struct_fields(struct):
            key = f"{struct.__name__}.{info.name}"
            keys.add(key)
            assert docgen.FIELD_NOTES.get(key), f"no FIELD_NOTES entry for {key}"
            assert f"| `{info.encode_name}` |" in text
    assert set(docgen.FIELD_NOTES) == keys, "FIELD_NOTES names keys the model does not have"


def test_reference_shows_types_defaults_and_allowed_values() -> None:
    text = docgen.render()
    platforms = ", ".join(f"`{p}`" for p in model.PLATFORMS)
    assert f"| `platform` | string | **required** | {platforms} |" in text
    assert "| `timeout` | number > 0 | `30.0` |" in text
    assert "| `reserve` | number ≥ 0 < 1 | `0.0` |" in text
    assert '| `key_column` | string | `"key"` |' in text
    assert 'Selected by `mode = "bulk"`.' in text


def test_reference_lists_every_platform_entity_and_write_mode() -> None:
    text = docgen.render()
    for spec in CATALOG.values():
        assert f"### `{spec.name}` — {spec.title}" in text
        for ent in spec.entities.values():
            if ent.name != "*":
                assert f"#### {spec.name} · `{ent.name}`" in text
            for mode, write in ent.writes.items():
                assert f"| `{mode}` | `{write.endpoint}` |" in text
    assert "| `bulk` | `POST /bulkUserImport` | `/bulkUserImport` | up to 500 (default 500) |" in text
    assert "`300/minute` for the whole API" in text


# ---------------------------------------------------------------------------------------------- (b) errors


def test_messages_are_collected_from_source() -> None:
    source = """
def f(x):
    raise PlanError.single(file, "steps", f"--step {x!r} is not a step of this plan: {y}")
    raise AuthError("the platform refused the credentials", platform="p")
    problems.append(PlanProblem(file, path, "give exactly one of values"))
    problems["ID"] = ["update needs the target ID (map ID through a crosswalk)"]
    print("migrator: interrupted", file=sys.stderr)
    raise ValueError("not for users")
    raise MappingError(fld, f"value {key!r} is not in table {name!r}")
"""
    found = {(m.kind, m.template) for m in messages_in(source, "x.py")}
    assert found == {
        ("single", "--step {} is not a step of this plan: {}"),
        ("AuthError", "the platform refused the credentials"),
        ("PlanProblem", "give exactly one of values"),
        ("rejection", "update needs the target ID (map ID through a crosswalk)"),
        ("stderr", "migrator: interrupted"),
        ("MappingError", "value {} is not in table {}"),
    }


def test_normalised_prefixes_match_documented_placeholders() -> None:
    doc = "`--step '<name>' is not a step of this plan: <steps>` and `value '{key}' is not in table {t}`"
    assert prefix("--step {} is not a step of this plan: {}") == "--step … is not a step"
    assert undocumented([Message("a", "k", "--step {} is not a step of this plan: {}")], doc) == []
    assert undocumented([Message("b", "k", "value {} is not in table {} (add it)")], doc) == []
    assert undocumented([Message("c", "k", "the journal {} belongs to plan {}")], doc) == [
        "c k: 'the journal … belongs to plan'"
    ]
    assert prefix("{}: {}") is None


def test_every_error_message_is_in_troubleshooting() -> None:
    messages = collect_messages(ROOT / "migrator")
    kinds = {m.kind for m in messages}
    assert {"PlanProblem", "JournalError", "AuthError", "StepFailed", "MappingError", "stderr"} <= kinds
    assert len(messages) > 100
    missing = undocumented(messages, TROUBLESHOOTING.read_text(encoding="utf-8"))
    assert not missing, "add these messages to docs/troubleshooting.md:\n" + "\n".join(missing)


# ---------------------------------------------------------------------------------------------- (c) links

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code blocks are not links
    text = re.sub(r"`[^`\n]*`", "", text)
    out = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        out.append(target.split("#", 1)[0])
    return out


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_link_finder_sees_relative_links_only() -> None:
    text = "[a](docs/x.md) [b](https://e.com) [c](#top) [d](../y.md#part) `[e](no.md)`\n```\n[f](no.md)\n```"
    assert relative_links(text) == ["docs/x.md", "../y.md"]


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path: Path) -> None:
    broken = [
        link for link in relative_links(path.read_text(encoding="utf-8")) if not (path.parent / link).exists()
    ]
    assert not broken, f"{path.relative_to(ROOT)} links to missing files: {broken}"


def test_the_pages_this_issue_asks_for_exist() -> None:
    for name in ("velpic", "accessplanit", "onefile", "anewspring", "files"):
        assert (DOCS / "platforms" / f"{name}.md").is_file()
    for name in ("troubleshooting.md", "walkthrough.md", "plan-reference.md"):
        assert (DOCS / name).is_file()
