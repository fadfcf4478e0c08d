"""Who a record is (``migrator.identity``): what is kept of a record refused before any request, and how a
step's payloads are picked once their fields are known."""

from __future__ import annotations

from migrator.identity import Identity, Linked, Picker, identifying


def test_a_refused_record_keeps_only_what_says_who_it_is() -> None:
    source = {
        "id": 1000003,
        "userName": "lucaswatson3",
        "firstName": "Lucas",
        "lastName": "Watson",
        "emailAddress": "",
        "phoneNumber": "01566 638628",
        "employeeNumber": "E0000003",
        "password": "hunter22",
        "apiKey": "k-1",
        "groups": [{"id": 1001}],
        "timeZone": "Australia/Perth",
    }
    assert identifying(source) == {
        "id": 1000003,
        "userName": "lucaswatson3",
        "firstName": "Lucas",
        "lastName": "Watson",
        "emailAddress": "",
        "employeeNumber": "E0000003",
    }
    # a mapped payload keeps the fields that hold another step's target id too
    assert identifying({"groupID": "G-9", "user": "T-1", "role": "member"}, ["user"]) == {
        "groupID": "G-9",
        "user": "T-1",
    }


def test_a_picker_reads_each_payload_at_the_fields_it_learnt_and_learns_new_ones() -> None:
    pick = Picker({"user": "users"})
    assert pick({"firstName": "Ann", "lastName": "Lee", "email": "ann@x.org"}).identity == Identity(
        "Ann Lee", "ann@x.org", ""
    )
    # a later payload of the step with a field the first lacked (a mapping drops empty values)
    assert pick({"firstName": "Bob", "employeeNumber": 7}).identity == Identity("Bob", "", "7")
    member = pick.cells({"user": "T-1", "groupID": "G-9"})  # names nobody: its id fields say what it is
    assert member == ("", "", "", (Linked("user", "T-1"), Linked("groupID", "G-9")))
    assert pick.cells({"firstName": "Cy"}) == ("Cy", "", "", None)
