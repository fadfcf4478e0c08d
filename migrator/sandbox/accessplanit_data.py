"""One accessplanit tenant's records and business rules, shared by the v1 feeds and the v2 modules.

Records live in ``Table``s keyed by string ID, with v2 field names. Natural-key indexes (Email, ExternalID,
Name, Code, the booking key) stay up to date on every write, so that ``$upsert`` and ``eq`` filters on those
fields do not scan. Rules kept here: user IDs and Fullname, two-phase user delete, course-date SpacesLeft
following its bookings, references between modules, audit dates from the sandbox clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from migrator.sandbox.accessplanit_odata import Filter
from migrator.sandbox.accessplanit_schema import (
    COMPANYGROUP,
    MODULES,
    Module,
    WriteResult,
    full_name,
)
from migrator.sandbox.accessplanit_seed import (
    IdAllocator,
    company_stem,
    course_stem,
    new_allocators,
    stamp,
    user_stem,
)
from migrator.sandbox.clock import Clock
from migrator.sandbox.store import Table

Record = dict[str, Any]
ALL_MODULES: tuple[Module, ...] = (*MODULES.values(), COMPANYGROUP)
REF_LABEL = {"user": "user", "company": "company", "course": "course", "coursedate": "course date"}


def norm(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().casefold()
    return text or None


class TenantData:
    def __init__(self, tenant: str, clock: Clock) -> None:
        self.tenant = tenant
        self.clock = clock
        self.tables: dict[str, Table] = {m.name: Table(m.name, m.natural_keys) for m in ALL_MODULES}
        # module → field → normalised value → ids (a dict keeps creation order): natural keys, ID, references
        self.index: dict[str, dict[str, dict[str, dict[str, None]]]] = {
            m.name: {key: {} for key in ("ID", *m.natural_keys, *(f.name for f in m.fields if f.ref))}
            for m in ALL_MODULES
        }
        self.ids: dict[str, IdAllocator] = new_allocators(ALL_MODULES)

    # indexes -------------------------------------------------------------------------------------------
    def _index_add(self, module: str, record: Record) -> None:
        for field, values in self.index[module].items():
            key = norm(record.get(field))
            if key is not None:
                values.setdefault(key, {})[record["ID"]] = None

    def _index_remove(self, module: str, record: Record) -> None:
        for field, values in self.index[module].items():
            key = norm(record.get(field))
            if key is not None and key in values:
                values[key].pop(record["ID"], None)
                if not values[key]:
                    del values[key]

    def load(self, module: str, records: Iterable[Record]) -> None:
        """Seed records (not counted as API creates)."""
        table = self.tables[module]
        for record in records:
            table.load(record["ID"], record)
            self._index_add(module, record)

    # reads ---------------------------------------------------------------------------------------------
    def get(self, module: str, record_id: str) -> Record | None:
        return self.tables[module].get(record_id)

    def candidates(self, module: str, flt: Filter | None) -> Iterator[Record]:
        """Records that may match ``flt``: all of them, or, when the filter is one ``and`` chain holding an
        ``eq`` on an indexed field, that field's index hits (the caller still applies the whole filter)."""
        table = self.tables[module]
        if flt is not None and len(flt.groups) == 1:
            index = self.index[module]
            for clause in flt.groups[0]:
                key = norm(clause.value) if clause.op == "eq" and clause.field in index else None
                if key is not None:
                    return (table.records[i] for i in list(index[clause.field].get(key, {})))
        return iter(table)

    # validation against the tenant's data -------------------------------------------------------------
    def check(
        self, module: Module, result: WriteResult, existing: Record | None, *, reject_double_booking: bool
    ) -> None:
        """Add to ``result`` the errors that need the data: references and cross-field rules."""
        changes = result.changes
        for f in module.fields:
            if f.ref is None or changes.get(f.name) is None:
                continue
            if self.get(f.ref, str(changes[f.name])) is None:
                label = REF_LABEL.get(f.ref, f.ref)
                result.error(module, f.model_name, f"There is no {label} with ID '{changes[f.name]}'.")
            else:
                changes[f.name] = str(changes[f.name])
        merged = {**(existing or {}), **changes}
        if module.name == "coursedate":
            start, end = merged.get("StartDate"), merged.get("EndDate")
            if start is not None and end is not None and end < start:
                result.error(module, "EndDate", "EndDate must not be before StartDate.")
            places = merged.get("Places")
            if places is not None and places < 0:
                result.error(module, "Places", "Places must not be negative.")
        if module.name == "usercoursedate" and reject_double_booking and not result.model_state:
            key = f"{merged.get('UserID')}:{merged.get('CourseDateID')}"
            others = self.index["usercoursedate"]["UserCourseDateKey"].get(norm(key) or "", {})
            if any(i != merged.get("ID") for i in others):
                result.error(
                    module, "UserID", f"User '{merged.get('UserID')}' is already booked on this course date."
                )

    # writes --------------------------------------------------------------------------------------------
    def _now(self) -> str:
        return stamp(datetime.fromtimestamp(self.clock.now(), UTC))

    def _taken(self, module: str) -> Any:
        return self.tables[module].records.__contains__

    def create(self, module: Module, changes: Record) -> Record:
        """Create a validated record: ID, defaults, computed fields, audit dates, indexes."""
        name = module.name
        record: Record = dict.fromkeys(module.all_names)
        record.update(changes)
        now = self._now()
        record["DateCreated"] = record["DateUpdated"] = now
        ids = self.ids[name]
        if name == "user":
            record["ID"] = ids.next(user_stem(record["Forenames"], record["Surname"]), self._taken(name))
            record["Fullname"] = full_name(record)
            record["Status"] = record["Status"] or "Active"
            record["UniqueID"] = str(uuid.uuid4())
        elif name == "company":
            record["ID"] = ids.next(company_stem(record["Name"]), self._taken(name))
        elif name == "course":
            record["ID"] = ids.next(course_stem(record["Name"]), self._taken(name), start=2, bare=True)
            record["Status"] = record["Status"] or "Active"
        elif name == "coursedate":
            record["ID"] = ids.next("", self._taken(name), start=1001)
            course = self.tables["course"].records[record["CourseID"]]
            if record["Label"] is None:
                record["Label"] = f"{course['Name']} - {record['StartDate'][:10]}"
            record["SpacesLeft"] = record.get("Places")  # a module without Places: no count
            record["Status"] = record["Status"] or "Available"
        elif name == "usercoursedate":
            record["ID"] = ids.next("", self._taken(name))
            record["Status"] = record["Status"] or "Booked"
            record["BookedDate"] = record["BookedDate"] or now
            self._attach_booking(record, +1)
        else:
            record["ID"] = ids.next("Grp", self._taken(name))
        self.tables[name].create(record["ID"], record)
        self._index_add(name, record)
        return record

    def _attach_booking(self, booking: Record, sign: int) -> None:
        """Keep CourseID, the booking key and the date's SpacesLeft in step with a booking (+1 / -1)."""
        date = self.tables["coursedate"].records.get(booking["CourseDateID"])
        booking["CourseID"] = date["CourseID"] if date is not None else booking.get("CourseID")
        booking["UserCourseDateKey"] = f"{booking['UserID']}:{booking['CourseDateID']}"
        if date is not None and booking.get("Status") != "Cancelled" and date.get("SpacesLeft") is not None:
            date["SpacesLeft"] -= sign

    def update(self, module: Module, record_id: str, changes: Record) -> Record:
        name = module.name
        table = self.tables[name]
        record = table.records[record_id]
        self._index_remove(name, record)
        if name == "usercoursedate":
            self._attach_booking(record, -1)
        if name == "coursedate" and "Places" in changes:
            old_places, old_left = record.get("Places"), record.get("SpacesLeft")
            new_places = changes["Places"]
            if new_places is None:
                changes["SpacesLeft"] = None
            else:
                booked = (old_places - old_left) if old_places is not None and old_left is not None else 0
                changes["SpacesLeft"] = new_places - booked
        changes["DateUpdated"] = self._now()
        table.update(record_id, changes)
        if name == "user":
            record["Fullname"] = full_name(record)
        if name == "usercoursedate":
            self._attach_booking(record, +1)
        self._index_add(name, record)
        return record

    def delete(self, module: Module, record_id: str) -> str:
        """``"deleted"`` (gone) or ``"status"`` (a user's first DELETE: Status set to Deleted)."""
        name = module.name
        table = self.tables[name]
        record = table.records[record_id]
        if name == "user" and record.get("Status") != "Deleted":
            table.update(record_id, {"Status": "Deleted", "DateUpdated": self._now()})
            return "status"
        if name == "usercoursedate":
            self._attach_booking(record, -1)
        self._index_remove(name, record)
        table.delete(record_id)
        return "deleted"

    def groups_of_company(self, company_id: str) -> list[Record]:
        return [g for g in self.tables[COMPANYGROUP.name] if company_id in g.get("CompanyIDs", ())]
