"""``${VAR}`` references in connections, resolved at run time only.

Values come from the process environment (passed in by the CLI — this module never reads ``os.environ``) plus an
optional ``--env-file`` (dotenv lines ``NAME=value``, ``# comments``, optional quotes, optional ``export``).
Resolved values live in :class:`ResolvedConnection` objects, never in the
:class:`~migrator.plan.model.Plan` that gets printed or hashed. A resolved ``base_url`` must be
``http(s)://host[:port][/path]`` with no query, fragment or credentials (:func:`base_url_problem`).
:func:`secret_values` gives the set of strings a log redactor must hide.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from migrator.errors import PlanError, PlanProblem
from migrator.plan.decode import join_path
from migrator.plan.model import CREDENTIAL_FIELDS, Connection, Plan

__all__ = [
    "REFERENCE",
    "ResolvedConnection",
    "base_url_problem",
    "env_references",
    "is_reference",
    "parse_env_file",
    "read_env_file",
    "resolve_connections",
    "resolved_paths",
    "secret_values",
]

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_INTERPOLATED_FIELDS: tuple[str, ...] = ("base_url", "path", *CREDENTIAL_FIELDS)
_HOST_NAME = re.compile(r"^[^\W_]([\w-]*[^\W_])?(\.[^\W_]([\w-]*[^\W_])?)*\.?$")


def is_reference(value: str) -> bool:
    """True when ``value`` is exactly one ``${VAR}`` reference (the only form a credential may take)."""
    return _WHOLE_REFERENCE.match(value) is not None


@dataclass(frozen=True)
class ResolvedConnection:
    """A connection with its ``${VAR}`` references replaced. ``secrets`` holds the credential values; its repr
    never shows them."""

    name: str
    platform: str
    base_url: str | None
    path: str | None
    credentials: Mapping[str, str] = field(repr=False)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(v for v in self.credentials.values() if v)


def env_references(plan: Plan) -> list[tuple[str, str]]:
    """Every ``(key path, VAR)`` the plan uses, in file order."""
    refs: list[tuple[str, str]] = []
    for name, conn in plan.connections.items():
        for fname in _INTERPOLATED_FIELDS:
            value = getattr(conn, fname)
            if isinstance(value, str):
                path = join_path(join_path("connections", name), fname)
                refs.extend((path, m.group(1)) for m in REFERENCE.finditer(value))
    return refs


def parse_env_file(text: str, file: str) -> dict[str, str]:
    """Parse dotenv text. A malformed line is a PlanError naming the file and line (never the value)."""
    values: dict[str, str] = {}
    problems: list[PlanProblem] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        if m is None:
            problems.append(PlanProblem(file, "", "expected NAME=value", line=lineno))
            continue
        value = m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[m.group(1)] = value
    if problems:
        raise PlanError(problems)
    return values


def read_env_file(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise PlanError.single(path, "", f"cannot read env file: {err.strerror or err}") from None
    return parse_env_file(text, path)


def _substitute(value: str, env: Mapping[str, str]) -> str:
    return REFERENCE.sub(lambda m: env[m.group(1)], value)


def base_url_problem(url: str) -> str | None:
    """What keeps ``url`` from being a base URL ``http(s)://host[:port][/path]`` (no query, fragment, user or
    password), or None. The answer never quotes ``url``: a user:password in it must not reach any output."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "it contains a space or a control character"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "it does not start with http:// or https://"
    if "@" in parts.netloc:
        return "it holds a user name or password (user@host): credentials go in the connection's keys as ${VAR}"
    if "?" in url or "#" in url:
        return "it has a query (?…) or a fragment (#…): query parameters belong in a step's read.filter"
    host = parts.hostname or ""
    if not (_HOST_NAME.match(host) or _is_ip(host)):
        return "it has no valid host name"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "its port is not a number from 1 to 65535"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve_connections(plan: Plan, env: Mapping[str, str], file: str) -> dict[str, ResolvedConnection]:
    """Resolve every connection; all missing variables and malformed base URLs are reported at once."""
    problems = [
        PlanProblem(
            file,
            path,
            f"environment variable {var} is not set; export it or pass --env-file FILE with a line {var}=...",
        )
        for path, var in env_references(plan)
        if var not in env
    ]
    for name, conn in plan.connections.items():
        if conn.base_url is None or any(m.group(1) not in env for m in REFERENCE.finditer(conn.base_url)):
            continue
        why = base_url_problem(_substitute(conn.base_url, env))
        if why is not None:
            problems.append(
                PlanProblem(
                    file,
                    join_path(join_path("connections", name), "base_url"),
                    f"base_url must be http(s)://host[:port][/path] ({why}); write the API root the platform "
                    "gives, e.g. https://lms.example.com/api/v2",
                )
            )
    if problems:
        raise PlanError(problems)
    return {name: _resolve(name, conn, env) for name, conn in plan.connections.items()}


def _resolve(name: str, conn: Connection, env: Mapping[str, str]) -> ResolvedConnection:
    creds = {f: _substitute(v, env) for f in CREDENTIAL_FIELDS if isinstance(v := getattr(conn, f), str)}
    return ResolvedConnection(
        name=name,
        platform=conn.platform,
        base_url=_substitute(conn.base_url, env) if conn.base_url else None,
        path=_substitute(conn.path, env) if conn.path else None,
        credentials=creds,
    )


def resolved_paths(plan: Plan, connections: Mapping[str, ResolvedConnection]) -> Plan:
    """``plan`` with each connection ``path`` that holds ``${VAR}`` references replaced by its resolved value
    (a folder is no secret: this is what the run reads and writes). Any other path is kept as it is: one the
    run placed in its own folder (``migrator.run_files.RunFiles.place``) is a plain name made absolute."""
    paths = {
        name: connections[name].path
        for name, conn in plan.connections.items()
        if conn.path is not None and REFERENCE.search(conn.path) and name in connections
    }
    if not paths:
        return plan
    resolved = {
        name: msgspec.structs.replace(conn, path=paths[name]) if name in paths else conn
        for name, conn in plan.connections.items()
    }
    return msgspec.structs.replace(plan, connections=resolved)


def secret_values(connections: Mapping[str, ResolvedConnection]) -> frozenset[str]:
    """Every credential value of the resolved connections, for the log redactor."""
    out: set[str] = set()
    for conn in connections.values():
        out |= conn.secrets
    return frozenset(out)
