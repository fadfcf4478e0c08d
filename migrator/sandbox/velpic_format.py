"""Velpic emulator: the wire formats — dates, error bodies, paging parameters, JSON responses.

Pure helpers (no state) shared by the ``velpic_*`` handler modules. Error bodies and date formats are the ones
of Velpic's document (Damstra Learning API v2); see ``docs/sandbox-velpic.md``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

T = TypeVar("T")

# -- error bodies [DOC] ---------------------------------------------------------------------------------------
E806_LONG = orjson.dumps(
    {
        "message": "AccessKey does not exist",
        "reason": "Invalid access key",
        "internalCode": 806,
        "error": "Invalid security token",
    }
)
E806_SHORT = orjson.dumps({"internalCode": 806, "error": "Token not valid"})
E831 = orjson.dumps({"internalCode": 831, "error": "You are not authorised to make this request"})
E500 = orjson.dumps({"internalCode": 500, "error": "Internal Server Error"})
E429 = orjson.dumps({"internalCode": 429, "error": "Too Many Requests"})
SCHEDULE_EXISTS = {"error": "Lesson Schedule already exists"}
INVALID_ROLE = {"internalCode": 400, "error": "Invalid role"}

VALID_ROLES = frozenset({3, 4, 5, 6, 7, 8})
TRAINEE = 6
ACTIVE, NOT_CURRENT = 56, 57


class ApiError(Exception):
    """Raised by a handler: answered as ``status`` with the JSON ``body`` by the route wrapper."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def bad_request(message: str) -> ApiError:
    """[ASSUMED] validation failures: 400 in the shape of the documented ``Invalid role`` body."""
    return ApiError(400, {"internalCode": 400, "error": message})


def not_found(message: str) -> ApiError:
    """[ASSUMED] unknown user / session / lesson: 404 ``{"internalCode":404,"error":…}``."""
    return ApiError(404, {"internalCode": 404, "error": message})


def conflict(message: str) -> ApiError:
    return ApiError(409, {"internalCode": 409, "error": message})


def group_not_found(group_id: Any) -> ApiError:
    """[DOC] body of add/remove members/supervisors on an unknown group."""
    return ApiError(
        404,
        {
            "message": f"Group with id {group_id} not found",
            "reason": "Group not found",
            "internalCode": 842,
            "statusCode": 404,
        },
    )


def group_get_not_found(code: Any = 842) -> ApiError:
    """[DOC] body of ``GET /group/{id}`` on an unknown group; ``internalCode`` is ``TBD`` there → 842
    (option ``velpic.group_get_not_found_code``)."""
    return ApiError(
        404,
        {
            "message": "No group found for that Id",
            "reason": "No Group found",
            "error": True,
            "internalCode": code,
            "statusCode": 404,
        },
    )


def schedule_not_found() -> ApiError:
    return ApiError(404, {"internalCode": 840, "error": "Lesson Schedule does not exist"})


# -- responses ------------------------------------------------------------------------------------------------
def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def raw_json(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def empty_ok() -> web.Response:
    """``200 OK`` with no body (add/remove members, activate, complete session …)."""
    return web.Response(status=200, content_type="application/json")


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc}); send a JSON object.") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


# -- dates ----------------------------------------------------------------------------------------------------
PERTH_OFFSET = 8 * 3600  # ILT dates are in the client's time zone (Australia/Perth, +0800, no DST)


def _millis(ts: float) -> int:
    return int(ts * 1000) % 1000


def user_date(ts: float, *, millis: bool = False) -> str:
    """Users, lessons: ``2015-10-29T15:28:59+0000`` (``millis``: ``2016-09-05T06:45:53.000Z``)."""
    if millis:
        return schedule_date(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))


def group_date(ts: float) -> str:
    """Groups: ``2015-10-29 15:28:59``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def schedule_date(ts: float) -> str:
    """Lesson schedules, create-user response, list meta: ``2016-08-24T15:00:00.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{_millis(ts):03d}Z"


def ilt_date(ts: float) -> str:
    """ILT sessions: ``2018-05-19T01:00:06.000+0800``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts + PERTH_OFFSET)) + f".{_millis(ts):03d}+0800"


def parse_date(value: Any, field: str) -> float:
    """Any ISO-8601 form the documents use (``Z``, ``+0000``, ``.000``, space, date only); naive = UTC."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{field} must be a date such as 2016-08-24T15:00:00.000Z, got {value!r}.")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad_request(
            f"{field} is not a valid date: {value!r}; use e.g. 2016-08-24T15:00:00.000Z."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso_z_to_user(iso: str, *, millis: bool = False) -> str:
    """Generator timestamps ``2024-03-05T10:20:30Z`` → the user date format, by slicing (seed hot path)."""
    return iso[:-1] + (".000Z" if millis else "+0000")


def iso_z_to_schedule(iso: str) -> str:
    return iso[:-1] + ".000Z"


# -- paging [DOC] ---------------------------------------------------------------------------------------------
def _non_negative_int(query: Mapping[str, str], name: str) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be a non-negative integer, got {raw!r}.") from None
    if value < 0:
        raise bad_request(f"{name} must be a non-negative integer, got {raw!r}.")
    return value


def page_params(query: Mapping[str, str], default_max: int = 0) -> tuple[int, int]:
    """``(startIndex, maxResults)``; ``maxResults`` 0 means no limit, absent means ``default_max`` (0 by
    default, option ``velpic.default_max_results``) [ASSUMED, §1.3]."""
    start = _non_negative_int(query, "startIndex")
    if query.get("maxResults") in (None, ""):
        return start, default_max
    return start, _non_negative_int(query, "maxResults")


def page(items: Sequence[T], start: int, max_results: int) -> Sequence[T]:
    end = len(items) if max_results == 0 else start + max_results
    return items[start:end]


def meta(total: int, start: int, count: int, *, inclusive: bool = False) -> dict[str, int]:
    """``endIndex`` = ``startIndex + count`` (exclusive, [ASSUMED]) or the last index (``inclusive``)."""
    end = start + count - 1 if inclusive and count else start + count
    return {"totalResultCount": total, "startIndex": start, "endIndex": end}


def int_list(value: Any, field: str) -> list[int]:
    """A JSON list of integer ids (``userIds``, ``lessonVersionIds``)."""
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise bad_request(f"{field} must be a list of integer ids, got {value!r}.")
    return value


def id_refs(value: Any, field: str) -> list[int]:
    """``groups`` / ``groupsSupervised``: ``[{"id": 1}]`` (bare ids are accepted too)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f'{field} must be a list such as [{{"id": 1}}], got {value!r}.')
    ids: list[int] = []
    for item in value:
        ref = item.get("id") if isinstance(item, dict) else item
        if not isinstance(ref, int) or isinstance(ref, bool):
            raise bad_request(f'{field} must be a list such as [{{"id": 1}}], got {value!r}.')
        ids.append(ref)
    return ids


def path_id(request: web.Request, name: str) -> int | None:
    """An integer path parameter, or None when it is not a number (answered as not found)."""
    try:
        return int(request.match_info[name])
    except ValueError:
        return None
