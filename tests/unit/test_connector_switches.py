"""The pure logic behind the connectors' answers to what the documents leave open (their e2e tests are
tests/e2e/test_switches_*.py): the aNewSpring subscribe dates' form learned from a refusal, a result's dates
under either name, an accessplanit ``$upsert`` completed with the target's own values (only the fields its
module lists, whatever form the list takes), and a Velpic merge's rows sent whole."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from migrator.connectors.accessplanit.apihelp import listed_fields
from migrator.connectors.accessplanit.v2 import AccessPlanItUpsert
from migrator.connectors.anewspring.results import with_result_dates
from migrator.connectors.anewspring.subscriptions import ANewSpringSubscriptionWriter
from migrator.connectors.base import (
    ListedFieldsWriter,
    MembershipKeeper,
    Response,
    RowResult,
    WholeRecordWriter,
    WriteItem,
)
from migrator.connectors.velpic.users import bulk_writer


def _subscription(key: str, start: str = "2024-03-01", expiry: str = "2024-03-15") -> WriteItem:
    item = WriteItem(
        key, key, {"userID": "E1", "courseID": f"C{key}", "startDate": start, "expiryDate": expiry}
    )
    prepared = ANewSpringSubscriptionWriter().prepare(item)
    assert isinstance(prepared, WriteItem)
    return prepared


def _form(writer: ANewSpringSubscriptionWriter, item: WriteItem) -> dict[str, str]:
    ((request, _),) = writer.requests([item])
    return dict(request.form or ())


REFUSED = Response(400, b"400 Parameter 'startDate' must be a date as yyyy-MM-ddTHH:mm:ss, got '2024-03-01'.")
BEFORE = Response(400, b"400 Parameter 'expiryDate' (2024-03-01) is before 'startDate' (2024-03-15).")


def test_a_refused_bare_date_is_sent_again_with_a_time_and_so_is_every_later_one() -> None:
    writer = ANewSpringSubscriptionWriter()
    first, later = _subscription("1"), _subscription("2")
    assert _form(writer, first)["startDate"] == "2024-03-01"
    (row,) = writer.decode(REFUSED, [first])
    assert row.action == "pending" and not row.ok
    assert _form(writer, first) == {"startDate": "2024-03-01T00:00:00", "expiryDate": "2024-03-15T00:00:00"}
    (row,) = writer.decode(Response(200, b""), [first])
    assert row.ok and row.action == "created" and writer.timed is True
    assert _form(writer, later)["expiryDate"] == "2024-03-15T00:00:00"


def test_once_a_bare_date_was_taken_a_refusal_naming_a_date_rejects_the_record() -> None:
    writer = ANewSpringSubscriptionWriter()
    taken, wrong = _subscription("1"), _subscription("2", start="2024-03-15", expiry="2024-03-01")
    writer.requests([taken])
    assert writer.decode(Response(200, b""), [taken])[0].ok and writer.timed is False
    writer.requests([wrong])
    (row,) = writer.decode(BEFORE, [wrong])
    assert row.action == "rejected" and "is before" in row.reason
    assert _form(writer, wrong)["startDate"] == "2024-03-15"


def test_a_record_refused_with_both_forms_is_rejected() -> None:
    writer = ANewSpringSubscriptionWriter()
    item = _subscription("1")
    writer.requests([item])
    assert writer.decode(REFUSED, [item])[0].action == "pending"
    writer.requests([item])
    (row,) = writer.decode(REFUSED, [item])
    assert row.action == "rejected" and writer.timed is None


def test_a_result_carries_its_dates_under_either_name() -> None:
    answered = {"finished": True, "startDateTime": "2024-01-02T00:00:00Z", "lastTrainingCompletedDateTime": "x"}
    assert with_result_dates(dict(answered)) == {
        **answered,
        "startDate": "2024-01-02T00:00:00Z",
        "lastTrainingCompletedDate": "x",
    }
    client = {"startDate": "2024-01-02", "lastTrainingCompletedDate": None}
    assert with_result_dates(dict(client)) == client  # nothing under the other name: left as answered


def _upsert_item(writer: AccessPlanItUpsert, payload: dict[str, object]) -> WriteItem:
    prepared = writer.prepare(WriteItem("k", "s", payload))
    assert isinstance(prepared, WriteItem)
    return prepared


def test_an_upsert_is_completed_with_the_one_target_record_its_filter_finds() -> None:
    writer = AccessPlanItUpsert("user", "Email")
    item = _upsert_item(writer, {"Email": "a@example.com", "Forenames": "Ann", "Surname": "Lee"})
    ((read, served),) = writer.pre_lookups([item])
    params = dict(read.params)
    assert read.method == "GET" and served == [item]
    assert params["$filter"] == "Email eq 'a@example.com'"
    assert {"JobTitle", "DOB", "MiddleNames", "Phone"} <= set(params["$select"].split(","))
    assert "Forenames" not in params["$select"].split(",")
    found = {"ID": "u1", "Email": "a@example.com", "JobTitle": "Chef", "DOB": None, "Phone": "1"}
    near = {"ID": "u2", "Email": "A@example.com", "JobTitle": "Other"}  # eq may ignore case: not this record
    body = orjson.dumps({"results": [near, found]})
    (completed,) = writer.apply_pre_lookups([item], [(Response(200, body), [item])])
    assert isinstance(completed, WriteItem)
    assert completed.payload == {**item.payload, "JobTitle": "Chef", "DOB": None, "Phone": "1"}
    assert dict(writer.requests([completed])[0][0].params) == {"$upsert": "Email eq 'a@example.com'"}


def test_an_upsert_is_sent_as_mapped_when_nothing_or_several_match_and_rejected_when_the_read_is_refused() -> (
    None
):
    writer = AccessPlanItUpsert("user", "Email")
    item = _upsert_item(writer, {"Email": "a@example.com", "Forenames": "Ann", "Surname": "Lee"})
    none = Response(200, orjson.dumps({"results": []}))
    two = Response(200, orjson.dumps({"results": [{"ID": "1", "Email": "a@example.com"}] * 2}))
    assert writer.apply_pre_lookups([item], [(none, [item])]) == [item]
    assert writer.apply_pre_lookups([item], [(two, [item])]) == [item]
    refused = Response(400, orjson.dumps({"Message": "The query specified in the URI is not valid."}))
    (row,) = writer.apply_pre_lookups([item], [(refused, [item])])
    assert isinstance(row, RowResult) and row.action == "rejected" and "nothing was sent" in row.reason


def test_an_upsert_that_carries_every_declared_field_or_of_an_undeclared_module_reads_nothing() -> None:
    writer = AccessPlanItUpsert("user", "Email")
    whole = {f: "x" for f in writer.record_fields} | {"Email": "a@example.com", "DOB": "2000-01-01T00:00:00"}
    assert writer.pre_lookups([_upsert_item(writer, whole)]) == []
    other = AccessPlanItUpsert("communication", "Subject")  # a module the connector declares no fields of
    assert other.record_fields == ()
    assert other.pre_lookups([_upsert_item(other, {"Subject": "Welcome"})]) == []


def test_a_booking_course_or_course_date_upsert_goes_whole() -> None:
    """Their declared fields but the key are sent whole: a booking that maps its status reads the rest."""
    bookings = AccessPlanItUpsert("usercoursedate", "UserID,CourseDateID")
    assert bookings.record_fields == (
        "BookedDate",
        "CompletedDate",
        "CourseDateID",
        "Passed",
        "Score",
        "Status",
        "UserID",
    )
    booking = _upsert_item(bookings, {"UserID": "u1", "CourseDateID": "7", "Status": "Completed"})
    ((read, _),) = bookings.pre_lookups([booking])
    assert dict(read.params)["$select"] == "ID,UserID,CourseDateID,BookedDate,CompletedDate,Passed,Score"
    assert "Places" in AccessPlanItUpsert("coursedate", "Label").record_fields
    assert "Description" in AccessPlanItUpsert("course", "Code").record_fields


_SANDBOX_HELP = {
    "Module": "usercoursedate",
    "Fields": [{"Name": "ID", "DataType": "String"}, {"Name": "Status"}],
}


@pytest.mark.parametrize(
    "body",
    [
        _SANDBOX_HELP,  # the sandbox's form
        {"fields": [{"name": "id"}, {"name": "status"}]},
        {"Properties": [{"FieldName": "ID"}, {"FieldName": "Status"}]},
        [{"PropertyName": "ID", "Sortable": True}, {"PropertyName": "Status"}],
        ["ID", "Status"],
        {"ID": {"DataType": "String"}, "Status": {"DataType": "String"}},
    ],
)
def test_a_module_help_is_read_in_any_plausible_form(body: Any) -> None:
    names = listed_fields(Response(200, orjson.dumps(body)), "ID")
    assert names is not None and {n.casefold() for n in names} == {"id", "status"}


@pytest.mark.parametrize(
    "response",
    [
        Response(404, orjson.dumps({"Message": "No HTTP resource was found"})),
        Response(200, b"<html><body>Bad gateway</body></html>"),
        Response(200, orjson.dumps({"Module": "user", "Count": 3})),
        Response(200, orjson.dumps([{"DataType": "String"}, {"DataType": "Int32"}])),
        Response(200, orjson.dumps({"Fields": [{"Name": "Status"}]})),  # no ID: not the module's fields
    ],
)
def test_a_module_help_that_cannot_be_read_lists_nothing(response: Response) -> None:
    assert listed_fields(response, "ID") is None


def test_an_upsert_goes_whole_with_only_the_declared_fields_its_module_lists() -> None:
    """The fields the help lists, as it spells them, of those declared; none listed: every declared one."""
    bookings = AccessPlanItUpsert("usercoursedate", "UserID,CourseDateID")
    assert isinstance(bookings, ListedFieldsWriter)
    request = bookings.fields_request()
    assert request is not None and request.path.endswith("/apihelp/v2/modules/usercoursedate")
    declared = bookings.record_fields
    listed = {"ID", "userid", "CourseDateID", "CourseID", "Status", "BookedDate", "DateCreated"}
    bookings.keep_listed(frozenset(listed))
    assert bookings.record_fields == ("BookedDate", "CourseDateID", "Status", "userid")
    booking = _upsert_item(bookings, {"UserID": "u1", "CourseDateID": "7", "Status": "Completed"})
    ((read, _),) = bookings.pre_lookups([booking])
    assert dict(read.params)["$select"] == "ID,UserID,CourseDateID,BookedDate"  # no Passed, no Score
    bookings.keep_listed(None)
    assert bookings.record_fields == declared
    assert AccessPlanItUpsert("communication", "Subject").fields_request() is None  # nothing to narrow


def test_a_merging_bulk_import_sends_whole_rows_and_an_always_creating_one_does_not() -> None:
    """A merge (``mergeType`` email, empNo, userName) sends a row whole: the import's documented row fields,
    not ``roles`` (every row maps it) nor the groups; ``none`` creates, so it has no target record to take
    values from."""
    for merge in ("email", "empNo", "userName"):
        writer = bulk_writer(merge)
        assert isinstance(writer, WholeRecordWriter)
        assert {"timeZone", "phoneNumber", "mobileNumber", "employeeNumber", "userName"} <= set(
            writer.record_fields
        )
        assert not {"roles", "groups", "groupsSupervised", "id"} & set(writer.record_fields)
    assert not isinstance(bulk_writer(None), WholeRecordWriter)


def _bulk_item(n: int, email: str) -> WriteItem:
    return WriteItem(f"k{n}", f"s{n}", {"emailAddress": email, "firstName": "A", "lastName": "B", "roles": [6]})


def test_a_merged_users_groups_are_read_from_the_answer_by_its_merge_field_in_any_order() -> None:
    writer = bulk_writer("email")
    assert isinstance(writer, MembershipKeeper) and writer.kept_fields == ("groups", "groupsSupervised")
    items = [_bulk_item(1, "a@example.com"), _bulk_item(2, "b@example.com"), _bulk_item(3, "c@example.com")]
    answer = [
        {"id": 12, "emailAddress": "b@example.com", "groups": [{"id": 5}], "groupsSupervised": []},
        {"id": 11, "emailAddress": "a@example.com", "groups": [], "groupsSupervised": [{"id": 7}]},
        {"id": 13, "emailAddress": "c@example.com"},  # no groups field: the answer does not say
    ]
    got = writer.answered(Response(200, orjson.dumps(answer)), items)
    assert got == {
        "k1": {"groups": [], "groupsSupervised": [7]},
        "k2": {"groups": [5], "groupsSupervised": []},
        "k3": None,
    }
    assert writer.answered(Response(400, b'{"error": "bad"}'), items) == {}


def test_what_a_merge_dropped_is_added_back_one_call_per_group_and_nothing_else() -> None:
    writer = bulk_writer("email")
    assert isinstance(writer, MembershipKeeper)
    before = {"groups": [{"id": 5}, {"id": 6}], "groupsSupervised": [{"id": 7}]}
    calls = writer.restores(
        [
            ("11", before, {"groups": [5], "groupsSupervised": []}),  # lost group 6 and the supervision of 7
            ("12", before, None),  # the answer said nothing: all of it
            ("13", before, {"groups": [5, 6], "groupsSupervised": [7]}),  # nothing lost
        ]
    )
    assert [(c.method, c.path, c.json) for c in calls] == [
        ("POST", "/group/5/add_members", {"userIds": [12]}),
        ("POST", "/group/6/add_members", {"userIds": [11, 12]}),
        ("POST", "/group/7/add_supervisors", {"userIds": [11, 12]}),
    ]
    assert writer.restores([("13", before, {"groups": [5, 6], "groupsSupervised": [7]})]) == []
