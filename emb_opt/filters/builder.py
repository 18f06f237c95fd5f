"""`F`: a Python builder for filters, `(F("rand") < 0.9) & F("tag").is_in(["red", "blue"])`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from emb_opt.filters.ir import Filter, Scalar, check_field, compare


class F:
    """A field reference; comparing it with a value builds a (validated, folded) filter."""

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]  # `==` builds a filter, so F is unhashable

    def __init__(self, name: str) -> None:
        self.name = check_field(name)

    def __repr__(self) -> str:
        return f"F({self.name!r})"

    def __eq__(self, value: Scalar) -> Filter:  # type: ignore[override]
        return compare(self.name, "eq", value)

    def __ne__(self, value: Scalar) -> Filter:  # type: ignore[override]
        return compare(self.name, "ne", value)

    def __lt__(self, value: int | float) -> Filter:
        return compare(self.name, "lt", value)

    def __le__(self, value: int | float) -> Filter:
        return compare(self.name, "lte", value)

    def __gt__(self, value: int | float) -> Filter:
        return compare(self.name, "gt", value)

    def __ge__(self, value: int | float) -> Filter:
        return compare(self.name, "gte", value)

    def is_in(self, values: Iterable[Scalar]) -> Filter:
        """The field equals one of `values` (an empty collection folds to FALSE)."""
        return compare(self.name, "in", _as_list(values))

    def not_in(self, values: Iterable[Scalar]) -> Filter:
        """The field equals none of `values`, or is missing/null (empty folds to TRUE)."""
        return compare(self.name, "nin", _as_list(values))


def _as_list(values: Any) -> Any:
    # Accept sets, generators and arrays too, but let a str (or dict) fail validation
    # instead of silently becoming a list of characters.
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        return values
    return list(values)
