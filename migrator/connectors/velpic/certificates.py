"""Velpic certificates: the PDF of every passed, completed lesson schedule.

``GET /lesson_schedule/{lessonScheduleId}/certificate`` answers ``application/pdf`` "for a passed completed
lesson schedule". A schedule's list item says whether it is completed (``status``) but nothing says whether it
was passed, and the document gives no status for the certificate of a schedule that was not. So
``VelpicCertificateReader`` reads each user's completed schedules (a nested read, as ``lessons`` reads
schedules) and asks each one's certificate (its detail request): a PDF answer is the certificate; any other
answer (a refusal, whatever its status, or a body that is not a PDF) is a completed schedule without one, kept
with the platform's reason so that the step names it (the archive writer makes it a dead letter), never
dropped silently.

A record is the schedule's list item (key ``id``, the schedule id; ``userId``, and the learner's
``userEmployeeNumber``, from its parent user when the list leaves them out) and:

- ``certificate``: the PDF, base64-encoded (so the record stays JSON: it is hashed and journaled as such);
- ``certificateSha256``: the SHA-256 of the PDF's bytes, in hex; ``certificateBytes``: its size;
- ``certificateMissing``: why there is no certificate (null on a schedule with one: a map that names it never
  finds it absent).

A PDF is at most the wire's answer limit (``wire.MAX_BODY_BYTES``); a larger answer stops the step with that
error.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from migrator.connectors.base import Request, Response, SettingError
from migrator.connectors.velpic.calls import error_text, request
from migrator.connectors.velpic.lessons import VelpicScheduleReader
from migrator.connectors.velpic.lists import list_spec

__all__ = ["PDF_MAGIC", "VelpicCertificateReader"]

#: the first bytes of every PDF file (ISO 32000-1 §7.5.2: the header ``%PDF-1.n``)
PDF_MAGIC = b"%PDF-"
#: the only schedule status with a certificate
_COMPLETED = "completed"
_CERTIFICATE = list_spec("certificate").endpoint


class VelpicCertificateReader(VelpicScheduleReader):
    """The completed schedules of every user (filters: the user filters, as for ``lesson_schedule``; a
    ``status`` other than ``completed`` is refused), each with its certificate."""

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        status = filters.get("status", _COMPLETED)
        if status != _COMPLETED:
            raise SettingError(
                "read.filter.status",
                f"certificates exist only for completed lesson schedules: leave status out (got {status!r})",
            )
        super().__init__({**filters, "status": _COMPLETED}, page_size, step)

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        rows = super().decode_children(response, parent)
        number = parent.get("employeeNumber")
        if number not in (None, ""):
            for row in rows:
                if row.get("userEmployeeNumber") in (None, ""):
                    row["userEmployeeNumber"] = number
        return rows

    def detail(self, child: Mapping[str, Any]) -> Request | None:
        schedule_id = child.get(self.key_field)
        if schedule_id is None or schedule_id == "":
            return None
        return request(_CERTIFICATE, schedule_id)

    def decode_detail(self, response: Response, child: Mapping[str, Any]) -> dict[str, Any]:
        record = dict(child)
        body = response.body
        if response.status == 200 and body.startswith(PDF_MAGIC):
            record["certificate"] = base64.b64encode(body).decode("ascii")
            record["certificateSha256"] = hashlib.sha256(body).hexdigest()
            record["certificateBytes"] = len(body)
            record["certificateMissing"] = None
            return record
        if response.status == 200:
            kind = response.headers.get("content-type", "no content type")
            why = f"the answer is not a PDF ({kind}, beginning {body[:16]!r})"
        else:
            why = f"HTTP {response.status}: {error_text(response)}"
        record["certificateMissing"] = (
            f"Velpic gave no certificate for lesson schedule {child.get(self.key_field)} ({why}); a "
            "certificate exists only for a passed, completed schedule"
        )
        return record
