"""`migrator peek PLAN STEP`: what a step's source holds, read as a run reads it: per field its fill rate,
types and example values, the distinct values of id-like and status-like fields, secrets never shown, and
``--format json`` that parses."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_APIT, migrator, records, write_env

PLAN = (
    """
[plan]
name = "peek-checks"
"""
    + VELPIC_TO_APIT
    + """
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 25, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "Email" }
map.Email = "emailAddress | lower"
"""
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=43, scale=60, dirty=0.3, platforms=("velpic", "accessplanit"), default_limits=False
    )
    with SandboxThread(config) as sb:
        yield sb


def _peek(tmp_path: Path, sb: SandboxThread, *extra: str) -> str:
    env = write_env(sb, tmp_path / "sb.env")
    (tmp_path / "plan.toml").write_text(PLAN)
    done = migrator("peek", "plan.toml", "users", "--env-file", str(env), *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_peek_json_has_the_sources_fill_rates_examples_and_statuses(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    source = records(sandbox.base_url, "velpic", "source", "user")
    data = json.loads(_peek(tmp_path, sandbox, "--sample", "1000", "--format", "json"))  # parses: clean stdout
    assert data["records"] == len(source)  # read over several pages of 25
    fields = {f["name"]: f for f in data["fields"]}
    with_email = sum(1 for u in source if u["emailAddress"])
    assert with_email < len(source), "the dirty sandbox seeds users without an email"
    assert fields["emailAddress"]["filled"] == with_email
    assert fields["emailAddress"]["fill_rate"] == round(with_email / len(source), 4)
    assert fields["emailAddress"]["types"] == ["string"]
    emails = {u["emailAddress"] for u in source}
    assert fields["emailAddress"]["examples"] and set(fields["emailAddress"]["examples"]) <= emails
    statuses = Counter(str(u["clientStatusId"]) for u in source)
    shown = {v["value"]: v["count"] for v in data["ids"]["clientStatusId"]["values"]}
    assert shown == dict(statuses)
    assert data["ids"]["id"]["unique"]  # the record's own key: one value per record, not a list of them


def test_peek_text_reads_one_page_by_default(sandbox: SandboxThread, tmp_path: Path) -> None:
    out = _peek(tmp_path, sandbox)
    assert out.startswith("step users: 25 records read from velpic GET /user (sample 25)\n"), out
    email = next(line for line in out.splitlines() if line.strip().startswith("emailAddress "))
    assert "%" in email and "string" in email and "@" in email, email
    assert "ids and statuses (distinct values in the sample, with their counts):" in out
    assert any(line.strip().startswith("clientStatusId ") and "×" in line for line in out.splitlines()), out


def test_peek_never_shows_a_secret_and_cuts_long_values(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    long_note = "x" * 300
    (tmp_path / "data" / "people.csv").write_text(
        f"id,name,password,note,status\n1,Ada,hunter2-secret,{long_note},active\n2,Bob,,short,inactive\n"
    )
    (tmp_path / "plan.toml").write_text(
        """
[plan]
name = "peek-files"
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
"""
    )
    done = migrator("peek", "plan.toml", "people", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    fields = {f["name"]: f for f in json.loads(done.stdout)["fields"]}
    assert fields["password"]["examples"] == ["***"] and fields["password"]["filled"] == 1
    assert all(len(e) <= 40 for e in fields["note"]["examples"])
    assert fields["note"]["examples"][0].endswith("…")
    assert {v["value"] for v in json.loads(done.stdout)["ids"]["status"]["values"]} == {"active", "inactive"}
    unknown = migrator("peek", "plan.toml", "peple", cwd=tmp_path)
    assert unknown.returncode == 2 and "no step 'peple'" in unknown.stderr and "people" in unknown.stderr
