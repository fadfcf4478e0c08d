"""Sandbox profiles: ``adversarial`` sets every switch of its table to the least convenient value, explicit
options win over it, an unknown profile is refused with the known ones, and a sandbox started with it behaves
so over real HTTP."""

from __future__ import annotations

import json
import urllib.request

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import ADVERSARIAL, PROFILES, ConfigError, SandboxConfig
from tests.e2e.helpers import get_json


def test_the_adversarial_profile_sets_every_switch_of_its_table_and_options_win() -> None:
    assert SandboxConfig().options == {} and PROFILES["default"] == {}
    assert SandboxConfig(profile="adversarial").options == ADVERSARIAL
    assert {key.partition(".")[0] for key in ADVERSARIAL} <= {"velpic", "accessplanit", "onefile", "anewspring"}
    mine = SandboxConfig(profile="adversarial", options={"velpic.bulk_answer_order": "reversed"})
    assert mine.options == {**ADVERSARIAL, "velpic.bulk_answer_order": "reversed"}


def test_an_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'hostile'; choose from default, adversarial"):
        SandboxConfig(profile="hostile")


def test_a_sandbox_started_with_the_adversarial_profile_answers_the_other_way() -> None:
    config = SandboxConfig(seed=3, scale=40, platforms=("velpic",), profile="adversarial")
    with SandboxThread(config) as sandbox:
        assert get_json(f"{sandbox.base_url}/_sandbox/options")["options"] == ADVERSARIAL
        env = sandbox.sandbox.env()
        request = urllib.request.Request(
            f"{env['VELPIC_BASE_URL']}/user?activeValue=all",  # no maxResults
            headers={"AccessKey": env["VELPIC_SOURCE_ACCESS_KEY"]},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            page = json.loads(answer.read())
        assert len(page["results"]) == ADVERSARIAL["velpic.default_max_results"]
        assert page["meta"]["totalResultCount"] > len(page["results"])
