"""An undo's restore of an accessplanit record keeps to the fields the module lists, as the run's writer does
(``ListedFieldsWriter``): a declared field the platform's module lacks (the booking's assumed ``Passed`` and
``Score``) is neither read nor sent back, so the restore is not refused for it. In process, over the in-memory
wire."""

from __future__ import annotations

import orjson

from migrator.connectors.base import Response
from migrator.connectors.registry import make_auth
from migrator.runtime.undo_run import narrow_restorers, restore_writer
from migrator.undo import Reversal, StepTarget, UndoPlan
from migrator.wire import WireRequest
from tests.memory_transport import json_response, memory_transport

#: the module help of a platform whose bookings have no Passed nor Score
HELP = {
    "Module": "usercoursedate",
    "Fields": [{"Name": n} for n in ("ID", "UserID", "CourseDateID", "CourseID", "Status", "BookedDate")],
}


async def test_a_restore_asks_the_modules_fields_once_and_keeps_to_them() -> None:
    asked: list[str] = []

    def handler(request: WireRequest) -> Response:
        asked.append(request.path)
        if request.path.endswith("/token"):
            return json_response(200, {"access_token": "t", "expires_in": 3600})
        return Response(200, orjson.dumps(HELP))

    restorer = restore_writer("accessplanit", "usercoursedate", "upsert", "UserID,CourseDateID")
    assert restorer is not None and "Passed" in restorer.record_fields  # declared (assumed)
    steps = [
        StepTarget("bookings", "apit", "accessplanit", "usercoursedate", True),
        StepTarget("learners", "apit", "accessplanit", "user", True),
    ]
    plan = UndoPlan(1, [Reversal("bookings", "9", "restore", ("L1",), "restored", image={"Status": "Booked"})])
    auth = make_auth("accessplanit", {"username": "u", "password": "p"})
    async with memory_transport("accessplanit", auth, handler, name="apit") as transport:
        await narrow_restorers(plan, steps, {"apit": transport}, {"bookings": restorer})
        await narrow_restorers(plan, steps, {"apit": transport}, {"learners": restorer})  # no restore there
    helps = [path for path in asked if path.endswith("/apihelp/v2/modules/usercoursedate")]
    assert len(helps) == 1
    assert not {"Passed", "Score"} & set(restorer.record_fields)
    assert {"Status", "BookedDate"} <= set(restorer.record_fields)
