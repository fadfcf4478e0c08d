"""The real CLI (``python -m migrator``) on every example plan and every malformed plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad_plans"
PLANS = sorted((ROOT / "plans").glob("*.toml"))

ENV_VARS = [
    "VELPIC_BASE_URL",
    "VELPIC_SOURCE_ACCESS_KEY",
    "VELPIC_TARGET_ACCESS_KEY",
    "ACCESSPLANIT_V2_BASE_URL",
    "ACCESSPLANIT_V1_BASE_URL",
    "ONEFILE_BASE_URL",
    "ONEFILE_SOURCE_CUSTOMER_TOKEN",
    "ONEFILE_TARGET_CUSTOMER_TOKEN",
    "ANEWSPRING_BASE_URL",
    "ANEWSPRING_SOURCE_API_KEY",
    "ANEWSPRING_TARGET_API_KEY",
] + [f"ACCESSPLANIT_{t}_{k}" for t in ("SOURCE", "TARGET") for k in ("USERNAME", "PASSWORD", "API_KEY")]


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("env") / "sandbox.env"
    lines = ["# generated for the tests"]
    for name in ENV_VARS:
        value = "http://127.0.0.1:9/x" if name.endswith("BASE_URL") else f"secret-{name.lower()}"
        lines.append(f"export {name}='{value}'")
    path.write_text("\n".join(lines) + "\n")
    return path


def migrator(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return subprocess.run(
        [sys.executable, "-m", "migrator", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_there_are_example_plans_for_each_route() -> None:
    names = {p.name for p in PLANS}
    assert {
        "demo.toml",
        "velpic-to-accessplanit.toml",
        "accessplanit-to-velpic.toml",
        "velpic-to-velpic.toml",
        "onefile-to-velpic.toml",
    } <= names


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.name)
def test_every_example_plan_validates(plan: Path, env_file: Path) -> None:
    result = migrator("validate", plan, "--env-file", env_file)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")
    assert "steps" in result.stdout or "step" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.name)
def test_every_example_plan_states_its_env_vars_at_the_top(plan: Path) -> None:
    head = plan.read_text().split("[plan]")[0]
    used = set(__import__("re").findall(r"\$\{([A-Z0-9_]+)\}", plan.read_text()))
    assert used, "a plan without env vars cannot authenticate"
    for var in used:
        assert var in head, f"{plan.name} uses {var} but does not name it in its header comment"


# (fixture file, expected substring after "FILE: ")
BAD_CASES = [
    ("unknown_key.toml", "steps.users.afterr: unknown key; expected one of read, write, map, after"),
    ("unknown_key.toml", '(did you mean "after"?)'),
    ("wrong_type.toml", 'steps.users.read.page_size: expected an integer; got string "100"'),
    (
        "bad_enum_mode.toml",
        'steps.users.write.mode: expected one of bulk, upsert, create, update; got "bluk" '
        '(did you mean "bulk"?)',
    ),
    ("toml_syntax.toml", "toml_syntax.toml:3:6: TOML syntax error"),
    ("cycle.toml", "steps.groups: dependency cycle groups -> users -> groups"),
    ("dangling_after.toml", 'steps.users.after[0]: unknown step "gropus" (did you mean "groups"?)'),
    ("dangling_crosswalk.toml", 'steps.users.map.groups: crosswalk reference to unknown step "grops"'),
    ("unknown_platform.toml", "connections.target.platform: expected one of velpic, accessplanit"),
    ("unknown_platform.toml", '(did you mean "velpic"?)'),
    ("unknown_entity.toml", 'steps.users.read.entity: unknown entity "usr" for velpic (did you mean "user"?)'),
    (
        "unsupported_mode.toml",
        'steps.groups.write.mode: velpic group does not support mode "upsert"; supported: create',
    ),
    (
        "unknown_target_field.toml",
        'steps.users.map.lastname: unknown target field for velpic user (did you mean "lastName"?)',
    ),
    ("literal_secret.toml", "connections.target.access_key: a literal secret is not allowed"),
    ("literal_secret.toml", "environment variable"),
    (
        "missing_env.toml",
        "connections.target.access_key: environment variable MIGRATOR_TEST_NEVER_SET_KEY is not set",
    ),
    ("missing_env.toml", "--env-file"),
    (
        "bad_budget.toml",
        'connections.target.budget: expected "<count>/<second|minute|hour|day>", e.g. "5000/hour"',
    ),
    ("reserve_out_of_range.toml", "connections.target.budget.reserve: expected a number < 1.0; got float 1.5"),
    ("bad_transform.toml", "steps.users.map.firstName: unknown transform 'trimm' (did you mean \"trim\"?)"),
    ("bad_expression.toml", "steps.users.map.lastName: bad expression"),
    ("bad_expression.toml", "at column 20"),
    ("unknown_lookup_table.toml", "steps.users.map.roles: unknown lookup table 'role_table'"),
    ("empty_steps.toml", "steps: no steps"),
    ("missing_required.toml", "steps.users.write.to: missing (required)"),
    ("match_required.toml", "steps.groups.write.match: missing (required)"),
    (
        "bad_match.toml",
        'steps.users.write.match: expected one of email, empNo, userName; got "mail" (did you mean "email"?)',
    ),
    ("page_size_too_big.toml", "steps.users.read.page_size: at most 1000 for this endpoint; got 5000"),
    ("unknown_connection.toml", 'steps.users.read.from: unknown connection "sorce" (did you mean "source"?)'),
    ("missing_credentials.toml", "connections.target: missing credentials: velpic needs access_key"),
    ("missing_credentials.toml", "connections.target.api_key: velpic does not use api_key"),
    (
        "unknown_budget_endpoint.toml",
        'budget.endpoints."/bulkUserImprt": unknown endpoint for velpic (did you mean "/bulkUserImport"?)',
    ),
    ("self_after.toml", "steps.groups.after[0]: a step cannot run after itself"),
    ("write_only_read.toml", 'steps.groups.read.entity: velpic cannot read "group_member"'),
    (
        "bad_filter_value.toml",
        "tests/fixtures/bad_plans/bad_filter_value.toml: steps.schedules.read.filter.status: ",
    ),
    ("bad_mode.yaml", 'steps.users.write.mode: expected one of bulk, upsert, create, update; got "bluk"'),
    ("yaml_syntax.yml", "yaml_syntax.yml:4:4: YAML syntax error"),
    ("unknown_key.json", "steps.groups.reed: unknown key; expected one of read, write"),
    ("json_syntax.json", "json_syntax.json:3:13: JSON syntax error"),
    ("not_a_table.yaml", "a plan must be a table"),
    ("many_problems.toml", "steps.users.write.mode: expected one of bulk"),
    ("many_problems.toml", "steps.users.surprise: unknown key"),
    ("alias_bomb.yaml", "steps.users.map.roles…: the plan holds more than 100000 values"),
    ("alias_bomb.yaml", "each use of a YAML alias counts in full"),
    ("deep_nesting.toml", "deep_nesting.toml: nested deeper than 32 levels"),
    ("deep_nesting.json", "deep_nesting.json: nested deeper than 32 levels"),
    (
        "base_url_query.toml",
        "connections.target.base_url: base_url must be http(s)://host[:port][/path] (it has a query (?…)",
    ),
    (
        "base_url_scheme.toml",
        "connections.source.base_url: base_url must be http(s)://host[:port][/path] (it does not start with "
        "http:// or https://)",
    ),
]


@pytest.fixture(scope="module")
def bad_results(env_file: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each fixture through the real CLI once (in parallel: each run is a separate process)."""
    names = sorted({f for f, _ in BAD_CASES})

    def one(name: str) -> subprocess.CompletedProcess[str]:
        return migrator("validate", (BAD / name).relative_to(ROOT), "--env-file", env_file)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


@pytest.mark.parametrize(
    ("fixture", "expected"), BAD_CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_CASES)]
)
def test_bad_plan_exits_2_with_file_key_path_and_no_traceback(
    fixture: str, expected: str, bad_results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = bad_results[fixture]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines, "a problem must be reported"
    rel = f"tests/fixtures/bad_plans/{fixture}"
    assert all(line.startswith(rel) for line in lines), lines  # one problem per line, each with the file
    assert expected in result.stderr, result.stderr


def test_every_bad_fixture_is_covered() -> None:
    covered = {f for f, _ in BAD_CASES}
    present = {p.name for p in BAD.iterdir()}
    assert present == covered
    assert len(present) >= 22


def test_literal_secret_is_never_echoed(bad_results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = bad_results["literal_secret.toml"]
    assert "sk-live-0123456789abcdef" not in result.stderr + result.stdout


def test_secrets_from_env_file_are_never_printed(env_file: Path) -> None:
    result = migrator("explain", ROOT / "plans" / "demo.toml", "--env-file", env_file)
    assert result.returncode == 0, result.stderr
    assert "secret-" not in result.stdout + result.stderr


def test_unreadable_plan_is_exit_2_without_traceback(tmp_path: Path) -> None:
    result = migrator("validate", tmp_path / "nope.toml")
    assert result.returncode == 2
    assert f"{tmp_path / 'nope.toml'}: cannot read plan" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_env_file_is_exit_2(tmp_path: Path) -> None:
    result = migrator("validate", ROOT / "plans" / "demo.toml", "--env-file", tmp_path / "missing.env")
    assert result.returncode == 2
    assert "cannot read env file" in result.stderr


def test_validate_without_env_lists_every_missing_variable() -> None:
    result = migrator("validate", ROOT / "plans" / "demo.toml")
    assert result.returncode == 2
    for var in ("VELPIC_BASE_URL", "VELPIC_SOURCE_ACCESS_KEY", "VELPIC_TARGET_ACCESS_KEY"):
        assert f"environment variable {var} is not set" in result.stderr


def test_explain_json_reports_estimates() -> None:
    result = migrator(
        "explain",
        ROOT / "plans" / "velpic-to-accessplanit.toml",
        "--count",
        "companies=40",
        "--count",
        "users=42000",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["levels"] == [["companies"], ["users"], ["bookings", "certificates"]]
    users = next(s for s in data["steps"] if s["name"] == "users")
    assert users["depends_on"] == ["companies"]
    assert users["write_requests"] == 42_000
    assert users["read_requests"] == 84  # 42,000 / 500 per page, Velpic reports totals
    assert users["write"]["budget"] == "5000/hour"
    assert users["write"]["reserve"] == pytest.approx(0.1)
    # 42,000 requests at 4500/hour (5000 less a 10% reserve) = 9 h 20 min
    assert users["seconds"] == pytest.approx(42_000 / 4500 * 3600)
    assert data["missing_env"]  # not set in this environment: reported, not fatal


def test_explain_text_without_counts_says_unknown() -> None:
    result = migrator("explain", ROOT / "plans" / "demo.toml")
    assert result.returncode == 0, result.stderr
    assert "level 1 (groups)" in result.stdout
    assert "level 2 (users)" in result.stdout
    assert "unknown (give --count)" in result.stdout
    assert "total: unknown requests" in result.stdout


def test_explain_rejects_a_count_for_an_unknown_step() -> None:
    result = migrator("explain", ROOT / "plans" / "demo.toml", "--count", "usrs=10")
    assert result.returncode == 2
    assert 'unknown step "usrs" (did you mean "users"?)' in result.stderr


def test_schema_is_the_plan_json_schema() -> None:
    result = migrator("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    plan = schema["$defs"]["Plan"]
    assert set(plan["required"]) == {"plan", "connections", "steps"}
    assert plan["additionalProperties"] is False
    assert "mode" in json.dumps(schema["$defs"]["BulkWrite"])


def test_sandbox_command_is_wired_lazily() -> None:
    result = migrator("sandbox", "--help")
    # Either the sandbox module answers with its own usage, or the command says it is not available.
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 1)
    if result.returncode == 0:
        assert "usage: migrator sandbox" in result.stdout
