"""${VAR} references: env files, resolution at run time, missing variables, secret values."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import PlanError
from migrator.plan.env import (
    base_url_problem,
    env_references,
    parse_env_file,
    read_env_file,
    resolve_connections,
    secret_values,
)
from migrator.plan.load import parse_plan_text

PLAN = """
[plan]
name = "p"
[connections.v]
platform = "velpic"
base_url = "https://${VELPIC_HOST}/api/v2"
access_key = "${VELPIC_KEY}"
[connections.a]
platform = "accessplanit"
base_url = "${APIT_URL}"
username = "${APIT_USER}"
password = "${APIT_PASSWORD}"
[steps.s]
read = { from = "a", entity = "user" }
write = { to = "v", entity = "user", mode = "bulk", match = "email" }
"""


def test_env_file_syntax() -> None:
    text = "\n".join(
        [
            "# comment",
            "",
            "A=1",
            "export B = two",
            "C='quoted # not a comment'",
            'D="double"',
            "E=value # trailing comment",
            "F=",
        ]
    )
    assert parse_env_file(text, ".env") == {
        "A": "1",
        "B": "two",
        "C": "quoted # not a comment",
        "D": "double",
        "E": "value",
        "F": "",
    }


def test_bad_env_line_names_file_and_line_but_not_the_value() -> None:
    with pytest.raises(PlanError) as info:
        parse_env_file("A=1\nthis is secret-ish\n", "x.env")
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == ("x.env", 2)
    assert "secret-ish" not in str(info.value)


def test_read_env_file(tmp_path: Path) -> None:
    path = tmp_path / "e.env"
    path.write_text("X=y\n")
    assert read_env_file(str(path)) == {"X": "y"}
    with pytest.raises(PlanError, match="cannot read env file"):
        read_env_file(str(tmp_path / "missing"))


def test_references_in_file_order() -> None:
    plan = parse_plan_text(PLAN, "p.toml").plan
    assert env_references(plan) == [
        ("connections.v.base_url", "VELPIC_HOST"),
        ("connections.v.access_key", "VELPIC_KEY"),
        ("connections.a.base_url", "APIT_URL"),
        ("connections.a.username", "APIT_USER"),
        ("connections.a.password", "APIT_PASSWORD"),
    ]


def test_every_missing_variable_is_named_with_its_key_path() -> None:
    plan = parse_plan_text(PLAN, "p.toml").plan
    with pytest.raises(PlanError) as info:
        resolve_connections(plan, {"VELPIC_HOST": "h", "APIT_URL": "https://apit.test/api/v2"}, "p.toml")
    text = str(info.value)
    assert len(info.value.problems) == 3
    assert "p.toml: connections.v.access_key: environment variable VELPIC_KEY is not set" in text
    assert "connections.a.password: environment variable APIT_PASSWORD" in text
    assert "--env-file" in text


def test_resolution_does_not_touch_the_plan_and_hides_secrets() -> None:
    loaded = parse_plan_text(PLAN, "p.toml")
    env = {
        "VELPIC_HOST": "v.test",
        "VELPIC_KEY": "k-123",
        "APIT_URL": "https://apit.test/api/v2",
        "APIT_USER": "me",
        "APIT_PASSWORD": "pw",
    }
    conns = resolve_connections(loaded.plan, env, "p.toml")
    assert conns["v"].base_url == "https://v.test/api/v2"
    assert conns["v"].credentials == {"access_key": "k-123"}
    assert loaded.plan.connections["v"].access_key == "${VELPIC_KEY}"
    assert "k-123" not in repr(conns["v"])
    assert secret_values(conns) == frozenset({"k-123", "me", "pw"})


GOOD_ENV = {
    "VELPIC_HOST": "v.test",
    "VELPIC_KEY": "k-123",
    "APIT_URL": "https://apit.test/api/v2",
    "APIT_USER": "me",
    "APIT_PASSWORD": "pw-secret",
}


@pytest.mark.parametrize(
    "url",
    [
        "https://lms.example.com/api/v2",
        "http://127.0.0.1:8080/velpic/api/v2",
        "http://[::1]:9000",
        "http://localhost",
        "HTTPS://LMS.EXAMPLE.COM/",
        "https://bücher.example/api",
    ],
)
def test_a_base_url_of_the_documented_form_is_accepted(url: str) -> None:
    assert base_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("htp://lms.example.com/api", "it does not start with http:// or https://"),
        ("lms.example.com/api", "it does not start with http:// or https://"),
        ("ftp://lms.example.com/api", "it does not start with http:// or https://"),
        ("https://lms.example.com/api?tenant=acme", "it has a query (?…) or a fragment (#…)"),
        ("https://lms.example.com/api?", "it has a query (?…) or a fragment (#…)"),
        ("https://lms.example.com/api#v2", "it has a query (?…) or a fragment (#…)"),
        ("https://ann:pw-secret@lms.example.com/api", "it holds a user name or password (user@host)"),
        ("https:///api", "it has no valid host name"),
        ("https://-lms.example.com/api", "it has no valid host name"),
        ("https://lms.example.com:0/api", "its port is not a number from 1 to 65535"),
        ("https://lms.example.com:99999/api", "its port is not a number from 1 to 65535"),
        ("https://lms.example.com:https/api", "its port is not a number from 1 to 65535"),
        ("https://lms.example.com/api v2", "it contains a space or a control character"),
        ("https://lms.example.com/api\n", "it contains a space or a control character"),
    ],
)
def test_a_base_url_that_is_not_of_the_documented_form_says_why(url: str, why: str) -> None:
    problem = base_url_problem(url)
    assert problem is not None and problem.startswith(why)


@pytest.mark.parametrize(
    "url", ["htp://apit.test/api", "https://apit.test/api?x=1", "https://me:pw-secret@apit.test/api"]
)
def test_a_malformed_base_url_is_a_plan_problem_at_its_key_path_that_quotes_no_value(url: str) -> None:
    plan = parse_plan_text(PLAN, "p.toml").plan
    with pytest.raises(PlanError) as info:
        resolve_connections(plan, {**GOOD_ENV, "APIT_URL": url}, "p.toml")
    (problem,) = info.value.problems
    assert problem.path == "connections.a.base_url"
    assert problem.message.startswith("base_url must be http(s)://host[:port][/path] (it ")
    assert "e.g. https://lms.example.com/api/v2" in problem.message
    assert (
        url not in problem.message and "pw-secret" not in problem.message and "apit.test" not in problem.message
    )


def test_malformed_base_urls_and_missing_variables_are_reported_together() -> None:
    plan = parse_plan_text(PLAN, "p.toml").plan
    env = {k: v for k, v in GOOD_ENV.items() if k != "VELPIC_KEY"} | {"APIT_URL": "https://apit.test/?"}
    with pytest.raises(PlanError) as info:
        resolve_connections(plan, env, "p.toml")
    assert [p.path for p in info.value.problems] == ["connections.v.access_key", "connections.a.base_url"]


def test_a_base_url_with_an_unset_variable_is_reported_once() -> None:
    plan = parse_plan_text(PLAN, "p.toml").plan
    env = {k: v for k, v in GOOD_ENV.items() if k != "VELPIC_HOST"}
    with pytest.raises(PlanError) as info:
        resolve_connections(plan, env, "p.toml")
    assert [p.path for p in info.value.problems] == ["connections.v.base_url"]
    assert "environment variable VELPIC_HOST is not set" in info.value.problems[0].message
