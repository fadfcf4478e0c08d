"""Secrets: runs with known credentials — a good run with short-lived tokens, a run whose target answers 400
with a body that echoes the request headers (the credentials), a run with a wrong password (AuthError), and a
run whose login endpoint answers 400 quoting the login it received (URL-encoded, as JSON, in base64), and the
good run's undo on a server that echoes the request headers in some DELETE answers — then every log, journal
(+ -wal/-shm), report (the undo's too), error CSV, ``migrator trace`` output (text and JSON), preview change
set (JSON and HTML), stdout and stderr is scanned for the credentials and for every token the sandbox issued,
each in every form it travels in (``tests.security.encodings``), and for each login's basic-auth value: 0
hits. Also: files are private (0600), TLS checks are on unless ``--insecure``, which is refused for a host
that is not this machine, and the sandbox binds to loopback."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

from migrator.cli import build_parser
from migrator.journal import Journal
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.chaos.harness import TIME_SCALE, clean_env, issued_secrets, record_figures, run, write_env
from tests.e2e.helpers import PLANS, post_json
from tests.security.encodings import basic_auth, encodings
from tests.security.loopback import serve_app

SECRET_NAMES = ("ACCESS_KEY", "PASSWORD", "API_KEY", "CUSTOMER_TOKEN")
#: a password whose every character but the letters is written differently by each encoding
AWKWARD_PASSWORD = 'p@ss w/rd+&=%"\\'


def _credentials(env_file: Path) -> set[str]:
    out = set()
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.endswith(SECRET_NAMES) and len(value) >= 6:
            out.add(value)
    return out


def _logins(env_file: Path) -> set[tuple[str, str]]:
    """(user name, password) of every connection the env file gives both for."""
    values = dict(line.partition("=")[::2] for line in env_file.read_text().splitlines() if "=" in line)
    return {
        (user, values[name.removesuffix("USERNAME") + "PASSWORD"])
        for name, user in values.items()
        if name.endswith("_USERNAME") and name.removesuffix("USERNAME") + "PASSWORD" in values
    }


def _scan(secrets: set[str], texts: dict[str, bytes], logins: Iterable[tuple[str, str]] = ()) -> list[str]:
    """``where: abcd… (form)`` for each form of each secret (and each login's basic-auth value) found."""
    forms = {form.encode(): (s, name) for s in secrets for name, form in encodings(s).items()}
    forms |= {basic_auth(u, p).encode(): (p, "basic-auth") for u, p in logins}
    return [
        f"{where}: {s[:4]}… ({name})"
        for where, data in texts.items()
        for form, (s, name) in forms.items()
        if form in data
    ]


def _outputs(tmp: Path, *runs: subprocess.CompletedProcess[str]) -> dict[str, bytes]:
    """Every file the runs wrote (journal and its -wal/-shm, log, reports, error CSVs) and their output."""
    texts = {str(p): p.read_bytes() for p in tmp.rglob("*") if p.is_file() and p.suffix != ".env"}
    for i, done in enumerate(runs):
        texts[f"run {i} stdout"] = done.stdout.encode()
        texts[f"run {i} stderr"] = done.stderr.encode()
    return texts


def _traces(plan: Path, tmp: Path) -> list[subprocess.CompletedProcess[str]]:
    """``migrator trace`` of every rejected record (the answers it keeps are the ones most likely to quote a
    credential), as text and as JSON, and of one record written."""
    journal = tmp / "journal.sqlite"
    with Journal.open(journal, "velpic-to-accessplanit", read_only=True) as j:
        keys = sorted({d.idem_key for d in j.dead_letters()})
        written = next(row[1] for rows in j.ledger_row_chunks() for row in rows if row[4])
    out = []
    for key in [*keys, written]:
        for form in ("text", "json"):
            args = ["trace", str(plan), key, "--journal", str(journal), "--format", form]
            done = subprocess.run(
                [sys.executable, "-m", "migrator", *args],
                cwd=tmp,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            out.append(done)
    return out


def _plan_copy(tmp: Path) -> Path:
    (tmp / "data").symlink_to(PLANS / "data")
    path = tmp / "plan.toml"
    path.write_text((PLANS / "velpic-to-accessplanit.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_no_credential_or_token_reaches_any_output(tmp_path: Path) -> None:
    config = SandboxConfig(
        seed=3,
        scale=40,
        platforms=("velpic", "accessplanit"),
        default_limits=False,
        time_scale=100.0,
        options={"accessplanit.token_ttl": 30},
        # a careless server: some user writes answered 400 with the request's headers (bearer token) echoed
        faults="accessplanit/api/v2/user:methods=POST,echo_rate=0.2",
    )
    plan = _plan_copy(tmp_path)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        good = run(plan, tmp_path, env)
        assert good.returncode == 3, good.stdout + good.stderr  # the echoed 400s are dead letters
        assert sb.sandbox.state.stats.faults.get("echoed", 0) > 0
        # a preview of a second pass: its change set and its HTML view are scanned too
        preview = subprocess.run(
            [sys.executable, "-m", "migrator", "preview", str(plan), "--env-file", str(env), "--journal",
             str(tmp_path / "second.sqlite"), "--out", str(tmp_path / "preview"),
             "--time-scale", str(TIME_SCALE)],
            cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert preview.returncode in (0, 3), preview.stdout + preview.stderr
        # its undo, on a server that echoes the request's headers in some DELETE answers: failed reversals
        # carry the answer into the undo's report and journal
        post_json(f"{sb.base_url}/_sandbox/faults", {"spec": "accessplanit:methods=DELETE,echo_rate=0.3"})
        undo = subprocess.run(
            [
                sys.executable,
                "-m",
                "migrator",
                "undo",
                str(plan),
                "--env-file",
                str(env),
                "--journal",
                str(tmp_path / "journal.sqlite"),
                "--yes",
                "--time-scale",
                "100",
            ],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert undo.returncode == 1, undo.stdout + undo.stderr  # the echoed answers are failed reversals
        assert any(tmp_path.rglob("undo-run-*.csv"))
        # wrong password: the run stops with an AuthError that names no secret
        wrong = tmp_path / "wrong.env"
        wrong.write_text(
            env.read_text().replace(
                "ACCESSPLANIT_TARGET_PASSWORD=", "ACCESSPLANIT_TARGET_PASSWORD=wrong-Pa55word-"
            )
        )
        bad_dir = tmp_path / "bad"
        bad_dir.mkdir()
        (bad_dir / "data").symlink_to(PLANS / "data")
        bad = run(plan, bad_dir, wrong)
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "credentials" in (bad.stdout + bad.stderr)
        assert "Traceback" not in bad.stderr
        secrets = _credentials(env) | _credentials(wrong) | issued_secrets(sb)
    assert len(issued_secrets(sb)) >= 4  # tokens were issued (and refreshed): they are part of the scan
    traces = _traces(plan, tmp_path)
    texts = _outputs(tmp_path, good, bad, preview, undo, *traces)
    assert any(p.endswith("-wal") or p.endswith(".sqlite") for p in texts)
    assert {"changeset.json", "changeset.html"} <= {Path(p).name for p in texts}
    # the traces show the refusing answers, which echoed the bearer token: masked
    assert any("request_headers" in t.stdout and "***" in t.stdout for t in traces)
    assert any(p.endswith(".csv") for p in texts)
    hits = _scan(secrets, texts, _logins(env) | _logins(wrong))
    assert hits == []
    # the scan can fail: a planted secret is found (the shortest: no other secret hides inside it), and so is
    # its base64
    planted = min(secrets, key=len)
    assert _scan(secrets, {"planted": b"x" + planted.encode()}) == ["planted: " + planted[:4] + "… (plain)"]
    b64 = encodings(planted)["base64"].encode()
    assert _scan(secrets, {"planted": b64}) == ["planted: " + planted[:4] + "… (base64)"]
    record_figures("secrets", secrets=len(secrets), files_scanned=len(texts), leaks=len(hits))


def echoing_login() -> web.Application:
    """An accessplanit-like login endpoint that refuses every login with a 400 quoting what it received: the
    raw query or form, the fields as JSON, and the login in base64."""

    async def token(request: web.Request) -> web.Response:
        raw = request.query_string if request.method == "GET" else (await request.read()).decode()
        fields = dict(request.query) if request.method == "GET" else dict(await request.post())
        login = f"{fields.get('username', '')}:{fields.get('password', '')}"
        described = (
            f"could not read the request {raw}; fields {json.dumps(fields)}; "
            f"as basic auth {base64.b64encode(login.encode()).decode()}"
        )
        return web.json_response({"error": "invalid_request", "error_description": described}, status=400)

    app = web.Application()
    app.router.add_route("*", "/token", token)
    return app


def test_a_login_refusal_that_quotes_the_login_leaks_no_form_of_the_password(tmp_path: Path) -> None:
    config = SandboxConfig(seed=3, scale=10, platforms=("velpic",), default_limits=False)
    plan = _plan_copy(tmp_path)
    with SandboxThread(config) as sb, serve_app(echoing_login()) as login_url:
        env = write_env(sb, tmp_path / "sandbox.env")
        with env.open("a") as f:
            f.write(f"ACCESSPLANIT_V2_BASE_URL={login_url}\n")
            f.write("ACCESSPLANIT_TARGET_USERNAME=ann.admin@example.com\n")
            f.write(f"ACCESSPLANIT_TARGET_PASSWORD={AWKWARD_PASSWORD}\n")
        done = run(plan, tmp_path, env)
        secrets = _credentials(env) | issued_secrets(sb)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "accessplanit refused the username/password" in done.stdout
    assert "Traceback" not in done.stderr
    assert AWKWARD_PASSWORD in secrets
    texts = _outputs(tmp_path, done)
    assert any(p.endswith("report.html") for p in texts)
    assert any(p.endswith(".log.jsonl") for p in texts)
    assert _scan(secrets, texts, _logins(env)) == []


def test_journal_and_report_files_are_private(tmp_path: Path) -> None:
    config = SandboxConfig(seed=3, scale=10, platforms=("velpic",), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = run(PLANS / "velpic-to-velpic.toml", tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    files = [tmp_path / "journal.sqlite", *(tmp_path / "report").iterdir()]
    files += [p for p in (tmp_path / "journal.sqlite-wal", tmp_path / "journal.sqlite-shm") if p.exists()]
    assert len(files) >= 3
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files if p.is_file()}
    assert modes and all(m == 0o600 for m in modes.values()), modes


def test_tls_verification_is_on_unless_asked() -> None:
    parser, _ = build_parser(["run", "plan.toml"])
    assert parser.parse_args(["run", "plan.toml"]).insecure is False
    assert parser.parse_args(["run", "plan.toml", "--insecure"]).insecure is True


def _remote_plan(tmp: Path, host: str) -> Path:
    plan = tmp / "remote.toml"
    plan.write_text(
        (PLANS / "velpic-to-velpic.toml").read_text(encoding="utf-8").replace("${VELPIC_BASE_URL}", host)
    )
    (tmp / "remote.env").write_text("VELPIC_SOURCE_ACCESS_KEY=k1\nVELPIC_TARGET_ACCESS_KEY=k2\n")
    return plan


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrator", *args],
        cwd=tmp,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_insecure_is_refused_for_a_remote_host_unless_confirmed(tmp_path: Path) -> None:
    # example.invalid never resolves: if the refusal did not happen first, the run would fail differently
    plan = _remote_plan(tmp_path, "https://lms.example.invalid/api/v2")
    common = (
        "run",
        str(plan),
        "--env-file",
        str(tmp_path / "remote.env"),
        "--journal",
        str(tmp_path / "j.sqlite"),
    )
    refused = _cli(tmp_path, *common, "--insecure")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--insecure" in refused.stderr and "lms.example.invalid" in refused.stderr
    assert "--insecure-confirm" in refused.stderr
    assert not (tmp_path / "j.sqlite").exists()  # refused before anything was opened
    # confirmed: let through to the run (which opens its journal, then would try the host: stopped there)
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", *common, "--insecure", "--insecure-confirm"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while proc.poll() is None and not (tmp_path / "j.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    _, err = proc.communicate(timeout=30)
    assert (tmp_path / "j.sqlite").exists(), err
    assert b"--insecure-confirm" not in err


def test_insecure_is_allowed_for_loopback(tmp_path: Path) -> None:
    config = SandboxConfig(seed=3, scale=5, platforms=("velpic",), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = run(PLANS / "velpic-to-velpic.toml", tmp_path, env, "--insecure")
    assert done.returncode == 0, done.stdout + done.stderr


def test_sandbox_binds_to_loopback_unless_remote_is_allowed(tmp_path: Path) -> None:
    refused = _cli(tmp_path, "sandbox", "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--allow-remote" in refused.stderr
    parser, _ = build_parser(["sandbox"])
    assert parser.parse_args(["sandbox"]).host == "127.0.0.1"
