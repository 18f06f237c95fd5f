"""What an engine stores under the name it is given, checked before anything is written.

Each backend declares its `NameRules` on its descriptor (`Backend.names`): which metadata
keys become columns or fields exactly as written, which collection names it takes, and
whether its text may hold NUL. The loaders check every row with them (`check_row`) and
the config check every collection name (`check_collection`) before the first write, so an
engine never truncates, rejects or misreads a name half way through a load or a search.
Text that no engine stores (a lone surrogate: a `str` with no UTF-8 form) is refused for
every backend.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass(frozen=True)
class NameRule:
    """One kind of name (metadata keys or collection names) on one engine.

    A name must `fullmatch` `pattern` (described by `says`), be at most `max_bytes` long
    in UTF-8, not be in `reserved` nor start with one of `reserved_prefixes`, and pass
    `also` (which returns what is wrong, or None).
    """

    pattern: str | None = None
    says: str = ""
    max_bytes: int | None = None
    reserved: frozenset[str] = frozenset()
    reserved_prefixes: tuple[str, ...] = ()
    also: Callable[[str], str | None] | None = None

    def problem(self, name: str) -> str | None:
        """What the engine would do wrong with `name` (None: it stores it as written)."""
        if not encodable(name):
            return "it holds a lone surrogate, which has no UTF-8 form"
        if self.max_bytes is not None and len(name.encode()) > self.max_bytes:
            return f"{len(name.encode())} bytes, beyond the limit of {self.max_bytes} bytes"
        if name in self.reserved:
            return f"a reserved name (reserved: {', '.join(sorted(self.reserved))})"
        if prefix := next((p for p in self.reserved_prefixes if name.startswith(p)), None):
            return f"names starting with {prefix!r} are reserved"
        if self.pattern is not None and not re.fullmatch(self.pattern, name):
            return f"expected {self.says}"
        return self.also(name) if self.also is not None else None


ANY_NAME = NameRule()


@dataclass(frozen=True)
class NameRules:
    """The names and text `backend` stores as given (see the module doc)."""

    backend: str
    keys: NameRule = ANY_NAME
    collections: NameRule = ANY_NAME
    key_means: str = "metadata key"  # what a key becomes: "column", "field", ...
    nul_in_text: bool = True

    def check_key(self, key: str, where: str = "") -> None:
        """Refuse a metadata key the engine cannot store under that name."""
        if not isinstance(key, str):
            raise ValueError(f"{where}metadata key {key!r} is not a string")
        if problem := self.keys.problem(key):
            raise ValueError(
                f"{where}metadata key {key!r} cannot be a {self.backend} {self.key_means}: "
                f"{problem}"
            )

    def check_collection(self, name: str) -> None:
        """Refuse a collection name the engine rejects or would store differently."""
        if problem := self.collections.problem(name):
            raise ValueError(f"{self.backend} collection name {name!r}: {problem}")

    def check_row(self, row: Any, payload: Mapping[str, Any]) -> None:
        """Refuse a row whose keys or text the engine cannot store, naming row and key."""
        where = f"row {row}: "
        for key, value in payload.items():
            self.check_key(key, where)
            if problem := self.text_problem(value):
                raise ValueError(f"{where}metadata key {key!r} holds {problem}")

    def text_problem(self, value: Any) -> str | None:
        """What in `value` (nested lists and dicts included) this engine cannot store."""
        problem = text_problem(value)
        if problem is None and not self.nul_in_text and _holds(value, lambda s: "\x00" in s):
            problem = f"a NUL character (\\x00), which {self.backend} text cannot hold"
        return problem


def encodable(text: str) -> bool:
    """Whether the string has a UTF-8 form (no lone surrogate)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: Any) -> str | None:
    """A lone surrogate anywhere in `value` (keys of nested dicts too), said in words."""
    if _holds(value, lambda s: not encodable(s)):
        return "a lone surrogate (such as \\ud800), which has no UTF-8 form"
    return None


def _holds(value: Any, bad: Callable[[str], bool]) -> bool:
    """Whether a string in `value` (nested lists and dict keys and values) is `bad`."""
    todo = [value]
    while todo:
        current = todo.pop()
        if isinstance(current, str):
            if bad(current):
                return True
        elif isinstance(current, Mapping):
            todo += [*current.keys(), *current.values()]
        elif isinstance(current, list | tuple):
            todo += current
    return False


def _ip_address(name: str) -> str | None:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return None
    return "it is an IP address"


def _two_periods(name: str) -> str | None:
    return "it holds two consecutive periods (..)" if ".." in name else None


PG_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer identifiers


def _pg_parts_fit(name: str) -> str | None:
    for part in name.split("."):
        if len(part.encode()) > PG_IDENTIFIER_BYTES:
            return (
                f"{part!r} is {len(part.encode())} bytes, beyond the limit of "
                f"{PG_IDENTIFIER_BYTES} bytes of a PostgreSQL identifier"
            )
    return None


# a metadata key that is no plain name of at most 63 bytes goes to the JSONB column as written
POSTGRES = NameRules(
    "PostgreSQL",
    collections=NameRule(
        rf"{IDENTIFIER}(\.{IDENTIFIER})?",
        "'table' or 'schema.table' with parts matching [A-Za-z_][A-Za-z0-9_]*",
        also=_pg_parts_fit,
    ),
    nul_in_text=False,
)

LANCE_RESERVED = frozenset(
    {
        "_distance",  # every kNN result
        "query_index",  # a search for several vectors
        "_rowid",
        "_rowaddr",
        "_rowoffset",
        "_row_created_at_version",
        "_row_last_updated_at_version",
    }
)
LANCEDB = NameRules(
    "LanceDB",
    keys=NameRule(r"[^.`]+", "a non-empty name without '.' or '`'", reserved=LANCE_RESERVED),
    collections=NameRule(
        r"[A-Za-z0-9_.-]+",
        "letters, digits, '_', '-' and '.'",
        max_bytes=249,  # a directory `<name>.lance`
    ),
    key_means="column",
)

MILVUS_NAME = NameRule(
    IDENTIFIER, "a letter or '_' then letters, digits and '_' ([A-Za-z_][A-Za-z0-9_]*)", 255
)
MILVUS = NameRules(
    "Milvus",
    keys=NameRule(reserved=frozenset({"$meta"})),
    collections=MILVUS_NAME,
    key_means="dynamic field key",
)

CHROMA = NameRules(
    "Chroma",
    keys=NameRule(
        r"(?s)[^#$].*",
        "a non-empty key not starting with '#' or '$'",
        reserved_prefixes=("chroma:",),
    ),
    collections=NameRule(
        r"[A-Za-z0-9]([A-Za-z0-9._-]{1,510})[A-Za-z0-9]",
        "3-512 characters from [A-Za-z0-9._-], starting and ending with a letter or digit",
        also=lambda name: _two_periods(name) or _ip_address(name),
    ),
)

QDRANT = NameRules(
    "Qdrant",
    collections=NameRule(
        r'[^<>:"/\\|?*\x00\x1f]+', 'none of < > : " / \\ | ? *, NUL or \\x1f', 255
    ),
    key_means="payload key",
)
QDRANT_EDGE = NameRules(
    "Qdrant Edge",
    collections=NameRule(
        r"[A-Za-z0-9_-][A-Za-z0-9_.-]*",
        "a folder name: letters, digits, '_', '-' and '.', not starting with '.'",
        max_bytes=255,
    ),
    key_means="payload key",
)
