"""A base URL that redirects to another origin: the run stops with the wire's refusal (exit 1) and the other
origin never receives a credential, whichever plan (the transport tests cover every credential kind)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.chaos.harness import run, write_env
from tests.e2e.helpers import PLANS
from tests.security.loopback import serve_app


def redirector(target: str) -> web.Application:
    """Answers every request with a 307 to the same path and query under ``target``."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(target + request.path_qs.removeprefix("/api"))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


def test_a_run_whose_base_url_redirects_elsewhere_stops_and_sends_no_key(tmp_path: Path) -> None:
    config = SandboxConfig(seed=3, scale=5, platforms=("velpic",), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        velpic = next(
            line.partition("=")[2] for line in env.read_text().splitlines() if "VELPIC_BASE_URL=" in line
        )
        with serve_app(redirector(velpic)) as moved:
            env.write_text(env.read_text().replace(f"VELPIC_BASE_URL={velpic}", f"VELPIC_BASE_URL={moved}/api"))
            done = run(PLANS / "velpic-to-velpic.toml", tmp_path, env)
        reached = sum(
            n for (platform, _, _), n in sb.sandbox.state.stats.requests.items() if platform == "velpic"
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the server redirected to another origin" in done.stdout
    assert "the credentials are never sent to another scheme, host or port" in done.stdout
    assert reached == 0  # the sandbox (the other origin) never got a request, so never an AccessKey
