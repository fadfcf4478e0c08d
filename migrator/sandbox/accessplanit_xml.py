"""v1 records as XML (``Accept: application/xml``), in ASP.NET DataContract style. Pure.

``<ArrayOfCompany xmlns:i="…"><Company><CompanyID>Example1</CompanyID>…<Links><Link><Rel>Self</Rel>…``;
a null is ``<Field i:nil="true" />``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _value(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        out.append(f'<{name} i:nil="true" />')
    elif isinstance(value, bool):
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    elif isinstance(value, list):
        out.append(f"<{name}>")
        for item in value:
            if isinstance(item, Mapping):
                _record("Link", item, out)
            else:
                _value("Value", item, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{escape(str(value))}</{name}>")


def _record(element: str, record: Mapping[str, Any], out: list[str], root: bool = False) -> None:
    out.append(f'<{element} xmlns:i="{XSI}">' if root else f"<{element}>")
    for name, value in record.items():
        _value(name, value, out)
    out.append(f"</{element}>")


def records_xml(element: str, records: Iterable[Mapping[str, Any]]) -> str:
    out = [f'<?xml version="1.0" encoding="utf-8"?><ArrayOf{element} xmlns:i="{XSI}">']
    for record in records:
        _record(element, record, out)
    out.append(f"</ArrayOf{element}>")
    return "".join(out)


def record_xml(element: str, record: Mapping[str, Any]) -> str:
    out = ['<?xml version="1.0" encoding="utf-8"?>']
    _record(element, record, out, root=True)
    return "".join(out)
