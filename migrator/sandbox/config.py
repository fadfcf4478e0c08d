"""What a sandbox run is made of: seed, scale, dirtiness, time scale, faults, options, profile, which platforms.

``SandboxConfig`` validates itself on construction, so a bad ``--scale``, ``--option`` or ``--profile`` fails
before any port is bound, with a message that says which value was wrong and what to write instead.

A profile is a named set of switches (``PROFILES``): ``default`` sets none (every emulator follows its
[ASSUMED] defaults), ``adversarial`` sets every switch in ``ADVERSARIAL`` to the value least convenient for a
client: the other way a real platform may behave where its document is silent. Switches given as options win
over the profile's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PLATFORM_NAMES: tuple[str, ...] = ("velpic", "accessplanit", "onefile", "anewspring")

# The documented budgets, on unless ``default_limits`` is False (see docs/sandbox.md):
# accessplanit v1 documents 5000 requests/hour per endpoint; the reference assumes the same for v2 and a
# fixed hourly window per credential. OneFile documents 300 calls/minute; the reference assumes a sliding
# 60-second window per customer token.
DEFAULT_LIMITS: tuple[str, ...] = (
    "accessplanit:rate=5000/h,window=fixed,per=endpoint",
    "onefile:rate=300/m,window=sliding,per=credential",
)


#: switch → its least convenient value: what ``--profile adversarial`` sets (docs/sandbox.md, "Profiles")
ADVERSARIAL: dict[str, Any] = {
    "velpic.bulk_answer_order": "shuffled",
    "velpic.created_modified": "later",
    "velpic.default_max_results": 10,
    "velpic.duplicate_schedule_status": 200,
    "velpic.bulk_invalid_row": "skip",
    "velpic.end_index": "inclusive",
    "velpic.user_date_format": "millis",
    "velpic.group_get_not_found_code": "TBD",
    "velpic.inactivate_again": "refuse",
    "velpic.bulk_merge_status": "reactivate",
    "velpic.created_status": "not_current",
    "velpic.bulk_omitted": "reset",
    "velpic.bulk_omitted_groups": "reset",
    "velpic.bulk_max_users": 100,
    "velpic.max_page_size": 50,
    "accessplanit.filter_precedence": "left",
    "accessplanit.token_verbs": "post",
    "accessplanit.default_order": "shuffled",
    "accessplanit.create_answer": "bare",
    "accessplanit.count_names": "pascal",
    "accessplanit.upsert_omitted": "reset",
    "accessplanit.module_fields": "lean",
    "onefile.max_page_size": 50,
    "onefile.archive_again": "refuse",
    "anewspring.accept_uid": False,
    "anewspring.subscribe_dates": "datetime",
    "anewspring.result_fields": "datetime",
    "anewspring.list_inactive": False,
}

#: profile name → the switches it sets
PROFILES: dict[str, dict[str, Any]] = {"default": {}, "adversarial": ADVERSARIAL}


class ConfigError(ValueError):
    """A sandbox setting is invalid; the message names the setting and the accepted values."""


@dataclass
class SandboxConfig:
    """Everything ``build_app`` needs.

    ``platforms`` lists the platforms to serve and seed (``None`` = all four); ``faults`` is a spec string in
    the syntax of ``faults.parse_spec``; ``options`` holds ``"<platform>.<name>" → value`` switches read by the
    emulators; ``profile`` names a set of switches (``PROFILES``) that ``options`` is completed with on
    construction, an option given explicitly winning; ``default_limits`` turns the documented rate budgets on
    or off.
    """

    seed: int = 1
    scale: int = 1000
    dirty: float = 0.0
    time_scale: float = 1.0
    faults: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    platforms: tuple[str, ...] | None = None
    default_limits: bool = True
    profile: str = "default"

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if isinstance(self.scale, bool) or not isinstance(self.scale, int) or self.scale < 0:
            raise ConfigError(f"scale must be a whole number of people >= 0, got {self.scale!r}")
        if not 0.0 <= float(self.dirty) <= 1.0:
            raise ConfigError(f"dirty must be a fraction between 0 and 1 (e.g. 0.05), got {self.dirty!r}")
        if not float(self.time_scale) > 0:
            raise ConfigError(
                f"time_scale must be > 0 (1 = real time, 60 = a minute per second), got {self.time_scale!r}"
            )
        for key in self.options:
            check_option_key(key)
        self.options = {**profile_options(self.profile), **self.options}
        if self.platforms is not None:
            self.platforms = parse_platforms(",".join(self.platforms))

    def selected(self) -> tuple[str, ...]:
        """The platforms to serve, in the canonical order."""
        return PLATFORM_NAMES if self.platforms is None else self.platforms


def profile_options(name: str) -> dict[str, Any]:
    """The switches of the profile ``name``; an unknown name is refused with the known ones."""
    options = PROFILES.get(name)
    if options is None:
        raise ConfigError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    return dict(options)


def parse_platforms(text: str) -> tuple[str, ...]:
    """``"velpic, accessplanit"`` → ``("velpic", "accessplanit")`` in canonical order; unknown names refused."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"no platform named in {text!r}; choose from {', '.join(PLATFORM_NAMES)}")
    unknown = [name for name in names if name not in PLATFORM_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown platform {unknown[0]!r} in {text!r}; choose from {', '.join(PLATFORM_NAMES)}"
        )
    return tuple(name for name in PLATFORM_NAMES if name in names)


def check_option_key(key: str, *, extra: tuple[str, ...] = ()) -> None:
    """Refuse an option key that is not ``<platform>.<name>`` with a known platform."""
    known = PLATFORM_NAMES + tuple(name for name in extra if name not in PLATFORM_NAMES)
    platform, dot, name = key.partition(".")
    if not dot or not name or platform not in known:
        raise ConfigError(
            f"option {key!r} must be '<platform>.<name>' with platform one of {', '.join(known)} "
            "(e.g. velpic.invalid_role)"
        )


def coerce_value(text: str) -> Any:
    """Option values from the command line: ``true``/``false`` → bool, ``3600`` → int, ``0.5`` → float."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_option(text: str) -> tuple[str, Any]:
    """``"accessplanit.token_ttl=600"`` → ``("accessplanit.token_ttl", 600)``."""
    key, eq, value = text.partition("=")
    key = key.strip()
    if not eq:
        raise ConfigError(
            f"option {text!r} must be written '<platform>.<name>=<value>' (e.g. velpic.invalid_role=store)"
        )
    check_option_key(key)
    return key, coerce_value(value)
