"""The overwrite policy on a cutover ``--delta`` after the customer edited records on the target: a field
``if_empty`` keeps a value the customer set and fills one they left empty, a field ``once`` keeps whatever the
target holds (a value or its absence), and the other fields of the same records are updated."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_APIT, records, run_plan, write_env

PLAN = (
    """
[plan]
name = "overwrite"
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 50, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "ExternalID" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Phone = "phoneNumber"
map.JobTitle = "'Learner'"
map.ExternalID = "'vu-' + id"
overwrite = { Phone = "if_empty", JobTitle = "once" }
"""
)


def _send(url: str, body: Any, headers: dict[str, str], method: str = "PUT") -> None:
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, headers={**headers, "Content-Type": "application/json"}, method=method
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def _target_token(env: dict[str, str]) -> str:
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": env["ACCESSPLANIT_TARGET_USERNAME"],
            "password": env["ACCESSPLANIT_TARGET_PASSWORD"],
        }
    ).encode()
    req = urllib.request.Request(env["ACCESSPLANIT_V2_BASE_URL"] + "/token", data=form, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(json.loads(resp.read())["access_token"])


def _change_source(base: str, key: str, user: dict[str, Any], phone: str) -> None:
    keys = ("id", "firstName", "emailAddress", "mobileNumber", "employeeNumber", "roles", "timeZone")
    body = {k: user[k] for k in keys}
    body["lastName"] = user["lastName"] + "-Changed"
    body["phoneNumber"] = phone
    _send(f"{base}/velpic/api/v2/user/{user['id']}", body, {"AccessKey": key})


def test_delta_keeps_what_the_customer_edited_and_updates_the_rest(tmp_path: Path) -> None:
    config = SandboxConfig(seed=57, scale=60, platforms=("velpic", "accessplanit"), default_limits=False)
    with SandboxThread(config) as sb:
        base = sb.base_url
        env_map = sb.sandbox.env()
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN)
        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 0, first.stdout + first.stderr
        target = {u["ExternalID"]: u for u in records(base, "accessplanit", "target", "user")}
        source = [u for u in records(base, "velpic", "source", "user") if f"vu-{u['id']}" in target]
        edited, cleared = source[:5], source[5:10]
        assert all(target[f"vu-{u['id']}"]["JobTitle"] == "Learner" for u in edited + cleared)

        # the customer edits the target: a phone and a job title of their own, or both emptied
        apit = env_map["ACCESSPLANIT_V2_BASE_URL"]
        auth = {"Authorization": f"Bearer {_target_token(env_map)}"}
        for users, edit in (
            (edited, {"Phone": "0299990000", "JobTitle": "Chief"}),
            (cleared, {"Phone": "", "JobTitle": ""}),
        ):
            for u in users:
                target_id = target["vu-" + str(u["id"])]["ID"]
                _send(f"{apit}/user/{target_id}", edit, auth)
        # and the source changes for the same records: a new last name and a new phone
        for u in edited + cleared:
            _change_source(base, env_map["VELPIC_SOURCE_ACCESS_KEY"], u, "0311112222")

        delta = run_plan(plan, tmp_path, env, "--delta")
        assert delta.returncode == 0, delta.stdout + delta.stderr
        after = {u["ExternalID"]: u for u in records(base, "accessplanit", "target", "user")}
        for u in edited:
            row = after[f"vu-{u['id']}"]
            assert row["Surname"] == (u["lastName"] + "-Changed").strip()  # always: updated
            assert row["Phone"] == "0299990000"  # if_empty: the customer's value survives
            assert row["JobTitle"] == "Chief"  # once: survives
        for u in cleared:
            row = after[f"vu-{u['id']}"]
            assert row["Surname"] == (u["lastName"] + "-Changed").strip()
            assert row["Phone"] == "0311112222"  # if_empty: the empty value is filled
            assert not row["JobTitle"]  # once: an update never writes it, even over an empty value
