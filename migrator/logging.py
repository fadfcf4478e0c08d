"""structlog set-up: a console renderer for people, a JSONL file for machines, and redaction of secrets.

Nothing here reads the environment: the CLI passes the secret values it resolved (credentials from the plan's
``${ENV_VAR}`` references, and tokens the transport obtains at run time are added with ``Redactor.add``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

__all__ = ["Redactor", "configure_logging", "redact_text"]

_SENSITIVE_KEYS = re.compile(
    r"(pass(word)?|secret|token|access_?key|api_?key|authorization|customer_?token|x-tokenid|cookie)", re.I
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")
_MASK = "***"


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret value and every bearer token replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return _BEARER.sub(r"\1" + _MASK, text)


class Redactor:
    """A structlog processor (and a plain function) that removes secrets from events.

    Values under sensitive keys are masked whatever they hold; known secret values are masked wherever they
    appear in any string, at any depth.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = {s for s in secrets if s}

    def add(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if s)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def text(self, value: str) -> str:
        return redact_text(value, self._secrets)

    def value(self, value: Any, key: str = "") -> Any:
        if key and _SENSITIVE_KEYS.search(key) and value not in (None, "", [], {}):
            return _MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, BaseException):
            return self.text(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self.value(event_dict[key], key if key != "event" else "")
        return event_dict


def _json_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(
    *,
    redactor: Redactor,
    log_file: Path | None = None,
    console: TextIO | None = sys.stderr,
    level: int = logging.INFO,
) -> None:
    """Console lines for people (when ``console``) and JSONL lines in ``log_file`` (created 0600)."""
    handlers: list[logging.Handler] = []
    if console is not None:
        console_handler = logging.StreamHandler(console)
        console_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.dev.ConsoleRenderer(colors=False),
                foreign_pre_chain=[redactor],
            )
        )
        console_handler.setLevel(logging.WARNING)
        handlers.append(console_handler)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        os.chmod(log_file, 0o600)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.processors.JSONRenderer(serializer=_json_dumps),
                foreign_pre_chain=[redactor],
            )
        )
        handlers.append(file_handler)
    root = logging.getLogger("migrator")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redactor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
