"""The forms a secret travels in, for scans of outputs and for the redactor's tests: percent-encoded (as a URL
part, a form, yarl's query, lower-case hex), JSON- and Python-escaped, HTML-escaped, and base64 (standard,
URL-safe, unpadded, and a ``user:password`` basic-auth value)."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

import orjson
from yarl import URL

__all__ = ["basic_auth", "encodings"]


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def encodings(secret: str) -> dict[str, str]:
    """Each form of ``secret`` by name; a form equal to an earlier one is left out."""
    raw = secret.encode()
    forms = {
        "plain": secret,
        "url": quote(secret, safe=""),
        "url-path": quote(secret),
        "form": quote_plus(secret),
        "form-lower-hex": _lower_hex(quote_plus(secret)),
        "query": URL("http://h/").with_query({"p": secret}).raw_query_string[2:],
        "json": json.dumps(secret)[1:-1],
        "json-utf8": orjson.dumps(secret).decode()[1:-1],
        "json-slash": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "python": repr(secret)[1:-1],
        "html": html.escape(secret),
        "base64": base64.b64encode(raw).decode(),
        "base64-urlsafe": base64.urlsafe_b64encode(raw).decode(),
        "base64-unpadded": base64.b64encode(raw).decode().rstrip("="),
    }
    unique: dict[str, str] = {}
    for name, form in forms.items():
        if form not in unique.values():
            unique[name] = form
    return unique


def basic_auth(user: str, password: str) -> str:
    """The credentials of an ``Authorization: Basic`` header."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()
