"""What a person recognises a record by, beside its ids in the reports' CSVs: a name, an e-mail, a number.

Pure. The fields come from the payload a record was sent with (what the journal keeps of each sent record;
of a record refused before any request, only its fields that :func:`identifying` keeps), picked by their
names whatever the platform spells them (``firstName``/``Forenames``/``FirstName`` and ``lastName``/
``Surname``, ``email``/``emailAddress``/``Email``, ``employeeNumber``/``MISID``/``ExternalID``,
``userName``/``login``):

- ``name``: the first and last names joined, else a name or title field (a group's, a course's);
- ``email``: an e-mail field;
- ``number``: an employee number (or another person's number: MIS id, external id, aNewSpring's ``userID``),
  else a user name / login;
- ``linked_to``: who or what a record links: a field that holds another step's target id (a crosswalk
  reference: a membership's group, a booking's course date) is shown as that record's name (else its
  e-mail, else the id itself). When the linked record is a person (it has an e-mail or a number) and the
  record names nobody itself (a membership, a subscription, a completion), that person fills ``name``,
  ``email`` and ``number``. A record that names nothing at all shows its other id fields there
  (``courseID C012``).

A field under a sensitive name (a password, a token, a key: the redactor's rule) is never picked nor kept by
:func:`identifying` (the reports also pass every text picked through the run's redactor).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple, cast

import orjson

from migrator.logging import Redactor

__all__ = [
    "IDENTITY_HEADER",
    "Identity",
    "Kept",
    "Linked",
    "Picker",
    "Seen",
    "identify",
    "identifying",
    "identity_cells",
    "kept_of",
    "links_of",
    "references_of",
]

IDENTITY_HEADER: Final = ("name", "email", "number", "linked_to")

_FIRST: Final = frozenset(("firstname", "forename", "forenames", "givenname", "first"))
_LAST: Final = frozenset(("lastname", "surname", "familyname", "last"))
_NAME: Final = frozenset(
    ("name", "fullname", "displayname", "title", "groupname", "companyname", "coursename", "lessonname")
)
_EMAIL: Final = frozenset(("email", "emailaddress", "mail", "workemail", "primaryemail"))
_NUMBER: Final = frozenset(
    ("employeenumber", "employeeno", "employeeid", "staffnumber", "staffid", "payrollnumber", "personnelnumber",
     "misid", "externalid", "userid", "learnerid")
)  # fmt: skip
_LOGIN: Final = frozenset(("username", "login", "loginname", "userlogin"))
#: an id-like field name (``courseID``, ``CourseDateID``, ``group_id``): shown for a record naming nothing
_ID: Final = re.compile(r"^(?:id|ID|Id)$|_(?:id|ID)$|[a-z0-9](?:ID|Id)$")
_SEPARATORS: Final = re.compile(r"[\s_.-]+")
#: the redactor masks what these keys hold, whatever it is: never picked
_MASKED: Final = "***"
_PROBE: Final = Redactor()


class Identity(NamedTuple):
    """A record's own name, e-mail and number (empty strings when it has none)."""

    name: str = ""
    email: str = ""
    number: str = ""

    @property
    def person(self) -> bool:
        return bool(self.email or self.number)


class Linked(NamedTuple):
    """A field of a payload that links another record: the field's name and its value as text."""

    field: str
    value: str


class Seen(NamedTuple):
    """What the reports keep of one sent record: its identity and the fields that link other records."""

    identity: Identity
    links: tuple[Linked, ...] = ()


def _role(key: str) -> str | None:
    """The part a payload field plays in an identity, by its name (None: none)."""
    if _PROBE.value("x", key) == _MASKED:
        return None
    flat = _SEPARATORS.sub("", key).lower()
    for role, names in (
        ("first", _FIRST),
        ("last", _LAST),
        ("name", _NAME),
        ("email", _EMAIL),
        ("number", _NUMBER),
        ("login", _LOGIN),
    ):
        if flat in names:
            return role
    return "id" if _ID.search(key) else None


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float):
        return str(value)
    return ""


class Picker:
    """Picks the identity of one step's payloads: which fields play which part is worked out once per field
    name (a step's payloads carry the same few fields), and each payload is then read only at those fields
    (a payload with a field not seen before adds it). ``references``: the payload fields that hold another
    step's target id (field → step)."""

    def __init__(self, references: Mapping[str, str]) -> None:
        self.references = references
        self._known: set[str] = set()
        self._keys: dict[str, tuple[str, ...]] = {}  # part → its fields, in the order they first came
        self._texts: tuple[tuple[int, tuple[str, ...]], ...] = ()  # (index in _TEXTS, its fields)
        self._link_keys: tuple[str, ...] = ()
        self._id_keys: tuple[str, ...] = ()

    def _learn(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key not in self._known:
                self._known.add(key)
                role = "link" if key in self.references else _role(key)
                if role is not None:
                    self._keys[role] = (*self._keys.get(role, ()), key)
        self._texts = tuple((i, self._keys[role]) for i, role in enumerate(_TEXTS) if role in self._keys)
        self._link_keys, self._id_keys = self._keys.get("link", ()), self._keys.get("id", ())

    def cells(self, payload: Mapping[str, Any]) -> tuple[str, str, str, tuple[Linked, ...] | None]:
        """A payload's name, e-mail, number and links (None when it links nothing), as :meth:`__call__`
        gives them, in a plain tuple. The per-record path of a report: no call per field."""
        if not payload.keys() <= self._known:
            self._learn(payload)
        get = payload.get
        texts = ["", "", "", "", "", ""]  # the first non-empty text of each part in _TEXTS
        for i, keys in self._texts:
            for key in keys:
                value = get(key)
                if value.__class__ is str:
                    if value := value.strip():
                        texts[i] = value
                        break
                elif value is not None and (text := _text(value)):
                    texts[i] = text
                    break
        first, last, name, email, number, login = texts
        name = f"{first} {last}" if first and last else first or last or name
        number = number or login
        links: tuple[Linked, ...] = tuple(_links(get, self._link_keys)) if self._link_keys else ()
        if self._id_keys and not (name or email or number):
            links += tuple(_links(get, self._id_keys))
        return name, email, number, links or None

    def __call__(self, payload: Mapping[str, Any]) -> Seen:
        name, email, number, links = self.cells(payload)
        return Seen(Identity(name, email, number), links or ())


#: the parts a field can play whose text :class:`Picker` takes (the first non-empty of the part's fields)
_TEXTS: Final = ("first", "last", "name", "email", "number", "login")


def _links(get: Callable[[str], Any], keys: tuple[str, ...]) -> Iterator[Linked]:
    for key in keys:
        value = get(key)
        for v in value if isinstance(value, list) else (value,):
            if text := _text(v):
                yield Linked(key, text)


#: what the journal keeps of who a record is, beside its ledger row: name, e-mail, number (redacted) and the
#: records it links as JSON text (``[[field, value], ...]``, values redacted; None: it links nothing)
Kept = tuple[str, str, str, str | None]
#: joins a batch's texts for one pass of the redactor (a character no name, e-mail or id holds)
_JOIN: Final = "\x1f"


def kept_of(picker: Picker, payloads: Sequence[Any], redact: Callable[[str], str]) -> list[Kept | None]:
    """Who each record of a batch is, from the payloads it is sent with, as the journal keeps it (None for a
    record sent without a payload: what was kept of it before stands). Every text picked goes through
    ``redact``, in one call for the whole batch (texts joined), and the links in a second one."""
    picked = [picker.cells(p) if p.__class__ is dict else None for p in payloads]
    rows = [r for r in picked if r is not None]
    texts = _JOIN.join([f"{r[0]}{_JOIN}{r[1]}{_JOIN}{r[2]}" for r in rows])
    values = [link.value for r in rows if r[3] is not None for link in r[3]]
    masked = redact(texts) if rows else texts
    if masked == texts and not values:  # nothing masked and no row links: every links cell is None already
        return cast(list[Kept | None], picked)
    parts = iter(masked.split(_JOIN))
    linked = iter(redact(_JOIN.join(values)).split(_JOIN)) if values else iter(())
    return [
        None
        if r is None
        else (next(parts), next(parts), next(parts), None if r[3] is None else _dumps(r[3], linked))
        for r in picked
    ]


def _dumps(links: Sequence[Linked], values: Iterator[str]) -> str:
    return orjson.dumps([[link.field, next(values)] for link in links]).decode()


def links_of(text: str) -> tuple[Linked, ...]:
    """The links of a record as :func:`kept_of` keeps them."""
    return tuple(Linked(str(f), str(v)) for f, v in orjson.loads(text))


def identify(payload: Mapping[str, Any], references: Mapping[str, str]) -> Seen:
    """A payload's identity and links (:class:`Picker`, for one payload)."""
    return Picker(references)(payload)


def identifying(record: Mapping[str, Any], links: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of ``record`` that say who it is (those :class:`Picker` reads: names, e-mail, numbers,
    logins, ids) and ``links`` (the fields that hold another step's target id): what is kept of a record
    refused before any request. Never a field under a sensitive name, nor any other field."""
    linked = frozenset(links)
    return {k: v for k, v in record.items() if k in linked or (isinstance(k, str) and _role(k) is not None)}


def identity_cells(
    seen: Seen | None, step_references: Mapping[str, str], linked: Mapping[str, Mapping[str, Identity]]
) -> tuple[str, str, str, str]:
    """The ``name, email, number, linked_to`` cells of a record (empty without what it was sent with):
    ``linked`` is each referenced step's identities by target id."""
    if seen is None:
        return "", "", "", ""
    own = seen.identity
    if not seen.links:
        return own.name, own.email, own.number, ""
    labels = []
    for link in seen.links:
        step = step_references.get(link.field)
        found = linked.get(step, {}).get(link.value) if step is not None else None
        if found is not None and found.person and not any(own):
            own = found
            continue
        label = found.name or found.email or link.value if found is not None else link.value
        labels.append(label if step is not None else f"{link.field} {label}")
    return own.name, own.email, own.number, "; ".join(labels)


def references_of(maps: Mapping[str, Iterable[tuple[str, str]]]) -> dict[str, dict[str, str]]:
    """Step → (payload field → the step whose target id it holds), from each step's compiled references."""
    return {step: dict(refs) for step, refs in maps.items() if refs}
