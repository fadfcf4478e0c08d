"""Paginators as state machines, driven by tables of pages: no server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from migrator.protocol.pagination import (
    NextPage,
    NoMore,
    PageRequest,
    PaginationLoopError,
    Paginator,
    RemainingPages,
    make_paginator,
)


@dataclass(frozen=True)
class Pg:
    records: list[Any]
    total: int | None = None


def rows(start: int, stop: int) -> list[dict[str, int]]:
    return [{"id": i} for i in range(start, stop)]


def read_all(
    pager: Paginator, data: list[dict[str, int]], serve: Any, done: frozenset[str] = frozenset()
) -> list[str]:
    """Drive ``pager`` against ``serve(request) -> Pg``; returns the page keys fetched, in order."""
    fetched: list[str] = []
    queue = [pager.start(done)]
    while queue:
        req = queue.pop(0)
        fetched.append(req.page_key)
        out = pager.receive(req, serve(req))
        if isinstance(out, NextPage):
            queue.append(out.request)
        elif isinstance(out, RemainingPages):
            queue.extend(out.requests)
    assert pager.finished
    return fetched


def params(req: PageRequest) -> dict[str, str]:
    return dict(req.params)


# -- velpic_offset -------------------------------------------------------------------------------------------


def velpic_server(data: list[dict[str, int]], cap: int | None = None) -> Any:
    def serve(req: PageRequest) -> Pg:
        p = params(req)
        start, size = int(p["startIndex"]), int(p["maxResults"])
        if cap is not None:
            size = min(size, cap)
        return Pg(data[start : start + size], total=len(data))

    return serve


@pytest.mark.parametrize(
    ("n", "size", "keys"),
    [
        (0, 100, ["startIndex=0&maxResults=100"]),
        (1, 100, ["startIndex=0&maxResults=100"]),
        (100, 100, ["startIndex=0&maxResults=100"]),
        (101, 100, ["startIndex=0&maxResults=100", "startIndex=100&maxResults=100"]),
        (
            250,
            100,
            ["startIndex=0&maxResults=100", "startIndex=100&maxResults=100", "startIndex=200&maxResults=100"],
        ),
    ],
)
def test_velpic_offset_plans_the_rest_from_the_total(n: int, size: int, keys: list[str]) -> None:
    pager = make_paginator("velpic_offset", page_size=size, step="users")
    assert read_all(pager, rows(0, n), velpic_server(rows(0, n))) == keys


def test_velpic_first_page_returns_every_remaining_request_at_once() -> None:
    pager = make_paginator("velpic_offset", page_size=10, step="users")
    first = pager.first()
    assert params(first) == {"startIndex": "0", "maxResults": "10"}
    out = pager.receive(first, Pg(rows(0, 10), total=45))
    assert isinstance(out, RemainingPages)
    assert [params(r)["startIndex"] for r in out.requests] == ["10", "20", "30", "40"]
    assert not pager.finished
    # planned pages answered out of order, as concurrent fetches would
    for req in reversed(out.requests):
        start = int(params(req)["startIndex"])
        assert isinstance(pager.receive(req, Pg(rows(start, min(start + 10, 45)), total=45)), NoMore)
    assert pager.finished


def test_velpic_server_capping_the_page_size_is_planned_with_its_size() -> None:
    data = rows(0, 95)
    pager = make_paginator("velpic_offset", page_size=50, step="users")
    keys = read_all(pager, data, velpic_server(data, cap=20))
    assert keys == [
        "startIndex=0&maxResults=50",
        "startIndex=20&maxResults=20",
        "startIndex=40&maxResults=20",
        "startIndex=60&maxResults=20",
        "startIndex=80&maxResults=20",
    ]


def test_velpic_list_without_meta_falls_back_to_sequential() -> None:
    data = rows(0, 25)

    def serve(req: PageRequest) -> Pg:
        p = params(req)
        return Pg(data[int(p["startIndex"]) : int(p["startIndex"]) + int(p["maxResults"])])  # no total

    pager = make_paginator("velpic_offset", page_size=10, step="schedules")
    assert read_all(pager, data, serve) == [
        "startIndex=0&maxResults=10",
        "startIndex=10&maxResults=10",
        "startIndex=20&maxResults=10",
    ]


# -- accessplanit_v2_page --------------------------------------------------------------------------------------


def ap2_server(data: list[dict[str, int]]) -> Any:
    def serve(req: PageRequest) -> Pg:
        p = params(req)
        top, skip = int(p["$top"]), int(p["$skip"])
        assert p["$count"] == "true"
        return Pg(data[skip * top : (skip + 1) * top], total=len(data))  # $skip is a PAGE number

    return serve


@pytest.mark.parametrize(
    ("n", "skips"),
    [(0, ["0"]), (50, ["0"]), (51, ["0", "1"]), (120, ["0", "1", "2"])],
)
def test_accessplanit_v2_skip_is_a_page_number_from_zero(n: int, skips: list[str]) -> None:
    pager = make_paginator("accessplanit_v2_page", page_size=50, step="users")
    keys = read_all(pager, rows(0, n), ap2_server(rows(0, n)))
    assert keys == [f"$top=50&$skip={s}" for s in skips]


def test_accessplanit_v2_records_are_all_read_once() -> None:
    data = rows(0, 173)
    serve = ap2_server(data)
    pager = make_paginator("accessplanit_v2_page", page_size=20, step="users")
    got: list[int] = []
    queue = [pager.first()]
    while queue:
        req = queue.pop()
        page = serve(req)
        got.extend(r["id"] for r in page.records)
        out = pager.receive(req, page)
        if isinstance(out, RemainingPages):
            queue.extend(out.requests)
    assert sorted(got) == list(range(173))


# -- accessplanit_v1_page and onefile_path_page -----------------------------------------------------------


def ap1_server(data: list[dict[str, int]]) -> Any:
    def serve(req: PageRequest) -> Pg:
        p = params(req)
        size, index = int(p["PageSize"]), int(p["PageIndex"])
        assert index >= 1
        return Pg(data[(index - 1) * size : index * size])

    return serve


@pytest.mark.parametrize(
    ("n", "indexes"),
    [(0, [1]), (5, [1]), (10, [1, 2]), (25, [1, 2, 3]), (30, [1, 2, 3, 4])],
)
def test_accessplanit_v1_is_sequential_until_a_short_page(n: int, indexes: list[int]) -> None:
    pager = make_paginator("accessplanit_v1_page", page_size=10, step="companies")
    assert read_all(pager, rows(0, n), ap1_server(rows(0, n))) == [
        f"PageSize=10&PageIndex={i}" for i in indexes
    ]


def onefile_server(data: list[dict[str, int]]) -> Any:
    def serve(req: PageRequest) -> Pg:
        assert not req.params
        _, number, size = req.path_suffix.split("/")
        chunk = data[(int(number) - 1) * int(size) : int(number) * int(size)]
        return Pg(chunk)  # a 204 No Content is decoded as an empty page

    return serve


@pytest.mark.parametrize(
    ("n", "suffixes"),
    [
        (0, ["/1/10"]),  # 204 at once
        (7, ["/1/10"]),  # short page
        (20, ["/1/10", "/2/10", "/3/10"]),  # full, full, 204
        (21, ["/1/10", "/2/10", "/3/10"]),
    ],
)
def test_onefile_page_in_the_path_ends_on_204_or_short_page(n: int, suffixes: list[str]) -> None:
    pager = make_paginator("onefile_path_page", page_size=10, step="learners")
    fetched: list[str] = []
    serve = onefile_server(rows(0, n))
    req: PageRequest | None = pager.first()
    while req is not None:
        fetched.append(req.path_suffix)
        out = pager.receive(req, serve(req))
        req = out.request if isinstance(out, NextPage) else None
    assert fetched == suffixes
    assert pager.finished


def test_onefile_page_size_over_its_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="more than onefile_path_page allows"):
        make_paginator("onefile_path_page", page_size=500, step="learners")


def test_unpaged_is_one_request() -> None:
    pager = make_paginator("unpaged", page_size=1, step="orgs")
    req = pager.first()
    assert req.page_key == "all"
    assert req.params == ()
    assert isinstance(pager.receive(req, Pg(rows(0, 3))), NoMore)
    assert pager.finished


# -- resume ----------------------------------------------------------------------------------------------------


def test_sequential_resume_starts_after_the_pages_done() -> None:
    data = rows(0, 35)
    pager = make_paginator("accessplanit_v1_page", page_size=10, step="companies")
    done = frozenset({"PageSize=10&PageIndex=1", "PageSize=10&PageIndex=2"})
    assert read_all(pager, data, ap1_server(data), done) == [
        "PageSize=10&PageIndex=3",
        "PageSize=10&PageIndex=4",
    ]


def test_planned_resume_starts_with_the_first_page_for_the_total() -> None:
    pager = make_paginator("velpic_offset", page_size=10, step="users")
    assert pager.start({"startIndex=0&maxResults=10"}).page_key == "startIndex=0&maxResults=10"


def test_page_keys_are_stable_across_paginators() -> None:
    a = make_paginator("accessplanit_v2_page", page_size=50, step="users")
    b = make_paginator("accessplanit_v2_page", page_size=50, step="users")
    assert a.first() == b.first()


# -- loop guard ------------------------------------------------------------------------------------------------


def test_server_ignoring_the_page_index_is_a_loop_naming_step_and_page() -> None:
    pager = make_paginator("accessplanit_v1_page", page_size=10, step="companies")
    same = Pg(rows(0, 10))
    req = pager.first()
    out = pager.receive(req, same)
    assert isinstance(out, NextPage)
    with pytest.raises(PaginationLoopError) as info:
        pager.receive(out.request, same)
    msg = str(info.value)
    assert "'companies'" in msg
    assert "PageSize=10&PageIndex=2" in msg
    assert "PageSize=10&PageIndex=1" in msg


def test_planned_pages_with_repeated_content_are_a_loop() -> None:
    pager = make_paginator("accessplanit_v2_page", page_size=10, step="users")
    req = pager.first()
    out = pager.receive(req, Pg(rows(0, 10), total=30))
    assert isinstance(out, RemainingPages)
    with pytest.raises(PaginationLoopError, match=r"\$skip=1"):
        pager.receive(out.requests[0], Pg(rows(0, 10), total=30))  # server ignored $skip


def test_more_records_than_the_page_size_is_refused() -> None:
    pager = make_paginator("velpic_offset", page_size=10, step="users")
    with pytest.raises(PaginationLoopError, match="returned 11 records for a page size of 10"):
        pager.receive(pager.first(), Pg(rows(0, 11), total=11))


def test_more_pages_than_max_pages_is_refused() -> None:
    pager = make_paginator("onefile_path_page", page_size=2, step="learners", max_pages=3)
    req = pager.first()
    for i in range(3):
        out = pager.receive(req, Pg(rows(i * 2, i * 2 + 2)))
        assert isinstance(out, NextPage)
        req = out.request
    with pytest.raises(PaginationLoopError, match="more than 3 pages"):
        pager.receive(req, Pg(rows(6, 8)))


def test_record_key_function_is_used_for_the_fingerprint() -> None:
    # records differ only in a volatile field; the key function sees them as the same page
    pager = make_paginator("accessplanit_v1_page", page_size=2, step="s", record_key=lambda r: str(r["id"]))
    out = pager.receive(pager.first(), Pg([{"id": 1, "t": 1}, {"id": 2, "t": 1}]))
    assert isinstance(out, NextPage)
    with pytest.raises(PaginationLoopError):
        pager.receive(out.request, Pg([{"id": 1, "t": 2}, {"id": 2, "t": 2}]))


def test_unrequested_or_repeated_responses_are_refused() -> None:
    pager = make_paginator("velpic_offset", page_size=10, step="users")
    req = pager.first()
    pager.receive(req, Pg(rows(0, 5), total=5))
    with pytest.raises(ValueError, match="not requested"):
        pager.receive(req, Pg(rows(0, 5), total=5))


@pytest.mark.parametrize(
    ("style", "size", "match"),
    [("nope", 10, "unknown paging style"), ("velpic_offset", 0, "at least 1")],
)
def test_bad_construction(style: str, size: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_paginator(style, page_size=size, step="s")
