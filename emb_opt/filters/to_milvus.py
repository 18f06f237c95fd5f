"""Compile the filter IR to a Milvus boolean expression, with `filter_params` when possible.

No user value is ever pasted into the expression unescaped: with the "templates" dialect
(Milvus >= 2.5) values travel as `filter_params` (`tag == {p0}`); with "server" (older
servers) and "lite" (Milvus Lite, no templates) they become literals whose quotes,
backslashes and line breaks are escaped (`quote`). Field names are validated identifiers;
names that are Milvus keywords are addressed as `$meta["name"]`.

Semantics, per dialect:
- negative forms (`$ne`, `$nin`, negated range) on a dynamic (JSON) key are written
  `((not exists k) or (not (...)))`, true for missing and null keys whether the engine uses
  two-valued logic (Milvus 2.3) or SQL-style three-valued logic (Milvus Lite, newer servers);
- ints and floats never share an `in` list (Milvus rejects mixed lists), float values on
  integer fields become the equivalent integer comparison;
- fields of a known kind (static fields, or `kinds` for dynamic keys) fold cross-kind
  comparisons to constants; Milvus Lite compares like Python (True == 1), so there a
  comparison on a dynamic key of unknown kind raises `UnsupportedFilterError` unless its
  value is a string compared for (in)equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from emb_opt.errors import FilterError, UnsupportedFilterError
from emb_opt.filters._native import (
    map_comparisons,
    on_int_field,
    prepare,
    split_numbers,
    value_kind,
)
from emb_opt.filters.ir import (
    FALSE,
    NEGATIVE_OPS,
    NUMBER,
    RANGE_OPS,
    STR,
    TRUE,
    And,
    Comparison,
    Filter,
    Not,
    Or,
    push_not,
    to_plain,
)

Dialect = Literal["server", "templates", "lite"]
DIALECTS = ("server", "templates", "lite")
INT64 = (-(2**63), 2**63 - 1)
KEYWORDS = frozenset(
    (
        *("and", "or", "not", "in", "like", "is", "null", "exists", "iso", "interval"),
        *("true", "false", "between", "isnull", "isnotnull", "text_match", "phrase_match"),
        *("json_contains", "json_contains_all", "json_contains_any", "array_length"),
        *("array_contains", "array_contains_all", "array_contains_any", "random_sample"),
    )
)
SCALAR_KINDS = {
    **dict.fromkeys(("INT8", "INT16", "INT32", "INT64"), "int"),
    **dict.fromkeys(("FLOAT", "DOUBLE"), "number"),
    "BOOL": "bool",
    **dict.fromkeys(("VARCHAR", "STRING"), "str"),
}
_OPS = {"eq": "==", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class MilvusField:
    """A static scalar field: kind "int", "number", "bool" or "str"; None if not filterable."""

    name: str
    kind: str | None
    nullable: bool = False
    type_name: str = ""


@dataclass(frozen=True)
class MilvusSchema:
    """What the compiler needs to know about a collection's fields."""

    static: Mapping[str, MilvusField] = field(default_factory=dict)
    dynamic: bool = True
    kinds: Mapping[str, str] = field(default_factory=dict)  # known kinds of dynamic keys
    kinds_complete: bool = False  # `kinds` lists every dynamic key: others are missing

    @classmethod
    def from_description(
        cls, description: Mapping[str, Any], kinds: Mapping[str, str], kinds_complete: bool
    ) -> MilvusSchema:
        """The schema of a `describe_collection` answer, plus the dynamic keys' kinds."""
        static = {}
        for spec in description["fields"]:
            name = type_name(spec)
            static[spec["name"]] = MilvusField(
                spec["name"], SCALAR_KINDS.get(name), bool(spec.get("nullable")), name
            )
        dynamic = bool(description.get("enable_dynamic_field"))
        return cls(static, dynamic, kinds, kinds_complete)


def type_name(field_spec: Mapping[str, Any]) -> str:
    """A field's data type name ("INT64", "FLOAT_VECTOR", ...) from `describe_collection`."""
    kind = field_spec["type"]
    return str(getattr(kind, "name", kind)).upper()


def quote(text: str) -> str:
    """A double-quoted Milvus string literal that reads back as exactly `text`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterError(f"{text!r} is not valid unicode (lone surrogate)") from None
    return '"' + "".join(_ESCAPES.get(char, char) for char in text) + '"'


def to_milvus(
    flt: Filter, schema: MilvusSchema | None = None, dialect: Dialect = "server"
) -> tuple[str, dict[str, Any]]:
    """(expression, filter_params) equivalent to `flt`; ("", {}) for TRUE.

    FALSE has no native form (callers answer it without a database call).
    """
    schema = schema or MilvusSchema()
    return render_milvus(milvus_filter(flt, schema), schema, dialect)


def render_milvus(
    folded: Filter, schema: MilvusSchema, dialect: Dialect = "server"
) -> tuple[str, dict[str, Any]]:
    """`to_milvus` for a filter `milvus_filter` has already folded for this schema."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    prepared = push_not(folded)  # `Not` then only wraps ranges
    if prepared == TRUE:
        return "", {}
    if prepared == FALSE:
        raise ValueError("an always-false filter has no Milvus form; answer it without a query")
    renderer = _Renderer(schema, dialect)
    expression = renderer.render(prepared)
    return expression, renderer.params


def key_range(field: str, lower: Any, upper: Any, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """`lower <= field < upper` (a None side is open) as (expression, filter_params), for a
    primary key: values as the params `key_lower` / `key_upper` with "templates", else as
    escaped literals."""
    parts, params = [], {}
    for name, op, value in (("key_lower", ">=", lower), ("key_upper", "<", upper)):
        if value is None:
            continue
        if dialect == "templates":
            params[name] = value
            parts.append(f"{field} {op} {{{name}}}")
        else:
            parts.append(f"{field} {op} {_Renderer._literal(value)}")
    return " and ".join(parts), params


def milvus_filter(flt: Filter, schema: MilvusSchema) -> Filter:
    """`flt` folded for this schema: cross-kind comparisons on fields of a known kind and
    comparisons on fields that exist nowhere become constants (it may become TRUE/FALSE).
    """
    return _for_schema(prepare(flt, _known_kinds(schema)), schema)


def _known_kinds(schema: MilvusSchema) -> dict[str, str]:
    kinds = dict(schema.kinds)
    for name, info in schema.static.items():
        if info.kind is not None:
            kinds[name] = "number" if info.kind == "int" else info.kind
    return kinds


def _for_schema(flt: Filter, schema: MilvusSchema) -> Filter:
    def adapt(comparison: Comparison) -> Filter:
        info = schema.static.get(comparison.field)
        if info is None:
            known = not schema.kinds_complete or comparison.field in schema.kinds
            if schema.dynamic and known:
                return comparison
            # the field exists nowhere: it is missing on every row
            return TRUE if comparison.op in NEGATIVE_OPS else FALSE
        if info.kind is None:
            raise UnsupportedFilterError(
                f"field {comparison.field!r} is a {info.type_name} field; "
                "filters compare scalar fields (numbers, bools, strings)"
            )
        return on_int_field(comparison, *INT64) if info.kind == "int" else comparison

    return map_comparisons(flt, adapt)


def _lite_safe(comparison: Comparison) -> bool:
    """Exact under Python comparisons whatever the field holds: strings, or numbers that
    no bool equals, compared for (in)equality."""
    if comparison.op in RANGE_OPS:
        return False
    if comparison.kind == STR:
        return True
    return comparison.kind == NUMBER and not any(v in (0, 1) for v in comparison.values)


class _Renderer:
    def __init__(self, schema: MilvusSchema, dialect: Dialect) -> None:
        self.schema = schema
        self.dialect = dialect
        self.params: dict[str, Any] = {}

    def render(self, flt: Filter) -> str:
        if isinstance(flt, Comparison):
            return self._comparison(flt)
        if isinstance(flt, And | Or):
            joiner = " and " if isinstance(flt, And) else " or "
            return "(" + joiner.join(self.render(child) for child in flt.children) + ")"
        if isinstance(flt, Not) and isinstance(flt.child, Comparison):  # a negated range
            return self._negative(flt.child.field, self._comparison(flt.child))
        raise ValueError(f"cannot compile {flt!r} to a Milvus expression")

    def _comparison(self, comparison: Comparison) -> str:
        self._check_lite(comparison)
        ref = self._ref(comparison.field)
        if comparison.op in RANGE_OPS:
            return f"{ref} {_OPS[comparison.op]} {self._value(comparison.value)}"
        positive = self._positive(ref, comparison)
        if comparison.op in NEGATIVE_OPS:
            return self._negative(comparison.field, positive)
        return positive

    def _positive(self, ref: str, comparison: Comparison) -> str:
        values = comparison.values
        if comparison.op in ("eq", "ne"):
            return f"{ref} == {self._value(values[0])}"
        groups = split_numbers(values) if comparison.kind == NUMBER else (list(values),)
        parts = [self._membership(ref, list(group)) for group in groups if group]
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"

    def _membership(self, ref: str, values: list[Any]) -> str:
        if self.dialect == "lite" and ref.startswith("$meta"):  # Lite: no `$meta[...] in`
            parts = [f"{ref} == {self._value(value)}" for value in values]
            return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"
        if self.dialect == "templates":
            return f"{ref} in {self._param(values)}"
        return f"{ref} in [" + ", ".join(self._literal(value) for value in values) + "]"

    def _negative(self, field_name: str, positive: str) -> str:
        info = self.schema.static.get(field_name)
        ref = self._ref(field_name)
        if info is None:
            return f"((not exists {ref}) or (not ({positive})))"
        if info.nullable:
            return f"(({ref} is null) or (not ({positive})))"
        return f"(not ({positive}))"

    def _ref(self, name: str) -> str:
        if name in self.schema.static or name.lower() not in KEYWORDS:
            return name
        return f"$meta[{quote(name)}]"

    def _value(self, value: Any) -> str:
        return self._param(value) if self.dialect == "templates" else self._literal(value)

    def _param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return "{" + name + "}"

    @staticmethod
    def _literal(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        return quote(value)

    def _check_lite(self, comparison: Comparison) -> None:
        if self.dialect != "lite" or comparison.field in self.schema.static:
            return
        kind = self.schema.kinds.get(comparison.field)
        if kind not in (None, "mixed") or _lite_safe(comparison):
            return
        problem = (
            f"field {comparison.field!r} holds values of several kinds"
            if kind == "mixed"
            else f"the kind of field {comparison.field!r} is unknown: pass "
            f"field_kinds={{{comparison.field!r}: {value_kind(comparison.values[0])!r}}} "
            "(load_collection records the kinds; rows settle them when every row is sampled)"
        )
        raise UnsupportedFilterError(
            f"Milvus Lite compares like Python (True == 1, 'a' < 1 is unknown), so "
            f"{to_plain(comparison)!r} cannot be compiled exactly: {problem}"
        )
