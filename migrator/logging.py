"""structlog set-up: a console renderer for people, a JSONL file for machines, and redaction of secrets.

Nothing here reads the environment: the CLI passes the secret values it resolved (credentials from the plan's
``${ENV_VAR}`` references, and tokens the transport obtains at run time are added with ``Redactor.add``).
A secret is masked in every form it travels in: as is; with any of its characters percent-encoded (either hex
case: a URL, a query, a form), a space as ``+``, escaped for JSON or Python, or written as an HTML entity, in
any mix; and in base64 (standard or URL-safe), alone or inside a longer base64 text such as a
``user:password`` basic-auth value.
"""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import orjson

from migrator.errors import MigratorError
from migrator.private_files import UnsafePathError, make_private_dir, open_private

# structlog's ``dev`` and ``tracebacks`` modules import rich when it is installed, only to format tracebacks
# (about 0.1 s of CPU at every start of the CLI). The console here formats them plainly (``plain_traceback``:
# rich's would print every frame's local values, which can hold a secret), so rich is hidden from structlog
# while it loads. rich itself stays importable: the progress display imports it when it draws on a terminal.
_HIDE_RICH = "structlog" not in sys.modules and "rich" not in sys.modules
if _HIDE_RICH:
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` raises ImportError meanwhile
try:
    import structlog
finally:
    if _HIDE_RICH:
        del sys.modules["rich"]

__all__ = ["LogFileError", "Redactor", "configure_logging"]

#: a key whose value is masked holds one of these, in any case (``password``, ``AccessKey``, ``x-tokenid``, …)
_SENSITIVE_WORDS = (
    "pass",
    "secret",
    "token",
    "accesskey",
    "access_key",
    "apikey",
    "api_key",
    "authorization",
    "cookie",
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")
_MASK = "***"
#: a secret shorter than this is not masked (it would mask ordinary words)
_MIN_SECRET = 4
#: the longest text one character of a secret can take (an emoji percent-encoded: ``%F0%9F%98%80``)
_LONGEST_CHAR = 12
#: escapes beyond JSON's and Python's: JSON's optional ``\/``, a form's ``+`` for a space, Python's ``\'``
_ESCAPES = {"/": ("\\/",), " ": ("+",), "'": ("\\'",)}
_HTML_ENTITIES = {
    '"': ("&quot;", "&#34;", "&#x22;"),
    "&": ("&amp;", "&#38;", "&#x26;"),
    "<": ("&lt;", "&#60;", "&#x3c;"),
    ">": ("&gt;", "&#62;", "&#x3e;"),
    "'": ("&#x27;", "&#39;", "&apos;"),
}
#: the shortest base64 text that is looked for inside a longer one
_MIN_BASE64_CORE = 8
#: a run of base64 characters, standard or URL-safe, with its padding
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_URLSAFE = str.maketrans("+/", "-_")
_NOTHING = re.compile(r"(?!)")  # matches nowhere: a redactor that knows no secret yet


def _char_pattern(char: str) -> str:
    """A regular expression for one character of a secret in any of the forms it may take in a text."""
    if char.isascii() and char.isalnum():
        return char
    percent = "".join(f"%{byte:02X}" for byte in char.encode())
    forms = {re.escape(char), f"(?i:{re.escape(percent)})"}
    forms |= {f"(?i:{re.escape(e)})" for e in (json.dumps(char)[1:-1], repr(char)[1:-1]) if e != char}
    forms |= {re.escape(e) for e in _ESCAPES.get(char, ())}
    forms |= {f"(?i:{re.escape(e)})" for e in _HTML_ENTITIES.get(char, ())}
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that encode ``raw`` wherever it starts in a longer text: for each of the three
    alignments, the groups of four made of ``raw``'s bytes only (at least ``_MIN_BASE64_CORE`` of them)."""
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + raw).decode()
        first, last = (4 if shift else 0), 4 * ((shift + len(raw)) // 3)
        if last - first >= _MIN_BASE64_CORE:
            cores.add(encoded[first:last])
    return cores | {c.translate(_URLSAFE) for c in cores}


def _secret_pattern(secret: str) -> str:
    """A regular expression for ``secret`` in any mix of encodings, or as its whole base64 (either alphabet,
    padded or not)."""
    whole = base64.b64encode(secret.encode()).decode()
    base64_forms = {f for w in (whole, whole.translate(_URLSAFE)) for f in (w, w.rstrip("="))}
    escaped = (re.escape(f) for f in sorted(base64_forms, key=len, reverse=True))
    return "|".join(("".join(_char_pattern(c) for c in secret), *escaped))


class Redactor:
    """A structlog processor (and a plain function) that removes secrets from events and texts.

    Values under sensitive keys are masked whatever they hold; known secret values are masked wherever they
    appear in any string, at any depth, in any of the forms the module's docstring lists (a base64 text that
    holds a secret is masked whole); so are bearer tokens.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern = _NOTHING
        self._cores = _NOTHING
        self._reach = 0
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        new = {s for s in secrets if len(s) >= _MIN_SECRET} - self._secrets
        if not new:
            return
        self._secrets |= new
        longest_first = sorted(self._secrets, key=len, reverse=True)  # a secret inside another: mask the outer
        self._pattern = re.compile("|".join(_secret_pattern(s) for s in longest_first))
        cores = {core for s in self._secrets for core in _base64_cores(s.encode())}
        self._cores = re.compile("|".join(map(re.escape, sorted(cores)))) if cores else _NOTHING
        self._reach = _LONGEST_CHAR * len(longest_first[0])

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def text(self, value: str) -> str:
        """``value`` with every known secret, in every form, and every bearer token replaced by ``***``. Each
        pass runs only where it can match: the secrets' once there are secrets, the bearer tokens' where the
        text holds the word in some case (a cheap search: the case-blind pattern is tried at every position)."""
        if self._secrets:
            value = self._pattern.sub(_MASK, value)
            if self._cores.search(value):  # rare: only then look at each base64 run
                value = _BASE64_RUN.sub(self._mask_base64, value)
        if "bearer" not in value.lower():  # each letter of "bearer" matches only itself or its capital
            return value
        return _BEARER.sub(r"\1" + _MASK, value)

    def _mask_base64(self, run: re.Match[str]) -> str:
        return _MASK if self._cores.search(run.group()) else run.group()

    def excerpt(self, body: bytes, limit: int = 200) -> str:
        """The first ``limit`` characters of ``body`` as text, redacted before they are cut: a secret that the
        cut would halve is masked whole, not left half visible."""
        return self.text(body[: limit + self._reach].decode("utf-8", "replace"))[:limit]

    def json_text(self, body: bytes, limit: int) -> str:
        """The first ``limit`` characters of a JSON body as text, with every known secret and bearer token
        masked (``text``) and the values under sensitive keys masked (``value``). Those characters are scanned
        first: when no sensitive key name appears in them and no escape (``\\``) could spell one or split a
        token, they are masked as text without the body being parsed — a bulk answer of thousands of records
        costs one pass over its first characters, not a walk of every value. Otherwise the whole body is parsed,
        masked value by value and cut after; a body that is not JSON is masked as text."""
        text = body[:limit].decode("utf-8", "replace")
        if "\\" not in text and not _names_sensitive(text):
            return self.text(text)
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self.text(text)
        return orjson.dumps(self.value(value)).decode()[:limit]

    def value(self, value: Any, key: str = "") -> Any:
        if key and _names_sensitive(key) and value not in (None, "", [], {}):
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


def _names_sensitive(text: str) -> bool:
    """Whether ``text`` holds one of the sensitive key words (case folded: ``PassWord``, ``ACCESSKEY``)."""
    folded = text.casefold()
    return any(word in folded for word in _SENSITIVE_WORDS)


def _json_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=str).decode()


class LogFileError(MigratorError):
    """The JSONL log file cannot be opened as a private file of this run (exit 2: nothing was sent)."""

    exit_code = 2


def _open_log_file(path: Path) -> TextIO:
    """``path`` opened for appending, 0600, in a folder created 0700; never through a symbolic link, and only
    if it is a regular file (``migrator.private_files``)."""
    try:
        make_private_dir(path.parent)
        fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except UnsafePathError as err:
        if err.errno == errno.ELOOP:
            raise LogFileError(
                f"the log file {str(path)!r} is a symbolic link, which the engine does not follow (the log "
                "would go wherever it points); remove the link, or pass --log-file with another path"
            ) from None
        raise LogFileError(
            f"the log file {str(path)!r} is not a regular file; pass --log-file with the path of a file"
        ) from None
    except OSError as err:
        raise LogFileError(
            f"cannot open the log file {str(path)!r}: {err.strerror or err}; check that its folder is "
            "writable, or pass --log-file with another path"
        ) from None
    os.fchmod(fd, 0o600)  # a file from an earlier run too
    return os.fdopen(fd, "a", encoding="utf-8")


class _LogFileHandler(logging.StreamHandler[TextIO]):
    """Lines appended to a file opened by :func:`_open_log_file`; closing the handler closes the file."""

    def close(self) -> None:
        self.acquire()
        try:
            if not self.stream.closed:
                self.flush()
                self.stream.close()
        finally:
            self.release()
        super().close()


def configure_logging(
    *,
    redactor: Redactor,
    log_file: Path | None = None,
    console: TextIO | None = sys.stderr,
    level: int = logging.INFO,
) -> None:
    """Console lines for people (when ``console``) and JSONL lines in ``log_file`` (0600, in a folder created
    0700; a symbolic link or anything but a regular file there is a :class:`LogFileError`, never written)."""
    handlers: list[logging.Handler] = []
    if console is not None:
        console_handler = logging.StreamHandler(console)
        console_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.dev.ConsoleRenderer(
                    colors=False, exception_formatter=structlog.dev.plain_traceback
                ),
                foreign_pre_chain=[redactor],
            )
        )
        console_handler.setLevel(logging.WARNING)
        handlers.append(console_handler)
    if log_file is not None:
        file_handler = _LogFileHandler(_open_log_file(log_file))
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
