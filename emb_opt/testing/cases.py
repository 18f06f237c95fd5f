"""The filter table of the conformance suite: every operator, nesting, negation, folding, injection.

Each case has a name, the plain-data filter, and the capabilities it needs. An adapter that
lacks a capability must raise `UnsupportedFilterError` for that case (checked, never skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .corpus import RARE_BUCKET, TRICKY_STRINGS

NEGATED_RANGE = "negated_range"  # not (x < v): true for missing, so not a plain range
CROSS_KIND = "cross_kind"  # comparing a field with a value of another kind (bool vs int)


@dataclass(frozen=True)
class FilterCase:
    name: str
    filter: Any
    needs: frozenset[str] = field(default_factory=frozenset)


def _case(name: str, flt: Any, *needs: str) -> FilterCase:
    return FilterCase(name, flt, frozenset(needs))


FILTER_CASES: tuple[FilterCase, ...] = (
    _case("eq_str", {"tag": "red"}),
    _case("eq_int", {"n": 3}),
    _case("eq_float", {"price": 10.0}),
    _case("eq_float_as_int", {"price": 10}),
    _case("eq_int_as_float", {"n": 3.0}),
    _case("eq_bool", {"flag": True}),
    _case("eq_empty_string", {"tag": ""}),
    _case("ne_str", {"tag": {"$ne": "red"}}),
    _case("ne_int", {"n": {"$ne": 3}}),
    _case("ne_float", {"price": {"$ne": 10.0}}),
    _case("ne_bool", {"flag": {"$ne": False}}),
    _case("lt", {"rand": {"$lt": 0.3}}),
    _case("lte_int", {"n": {"$lte": 2}}),
    _case("gt", {"rand": {"$gt": 0.8}}),
    _case("gte_float_bound_on_int", {"n": {"$gte": 7.5}}),
    _case("range_both_sides", {"rand": {"$gt": 0.2, "$lt": 0.4}}),
    _case("in_str", {"tag": {"$in": ["red", "blue", "it's"]}}),
    _case("in_int", {"n": {"$in": [1, 2, 3]}}),
    _case("in_mixed_numbers", {"price": {"$in": [10, 20.0, 30]}}),
    _case("in_bool", {"flag": {"$in": [True]}}),
    _case("nin_str", {"tag": {"$nin": ["red", "blue"]}}),
    _case("nin_int", {"n": {"$nin": [0, 9]}}),
    _case("in_empty_folds_false", {"tag": {"$in": []}}),
    _case("nin_empty_folds_true", {"tag": {"$nin": []}}),
    _case("sibling_and", {"rand": {"$lt": 0.9}, "tag": {"$in": ["red", "blue"]}}),
    _case("or", {"$or": [{"n": 1}, {"flag": False}]}),
    _case("single_child_and", {"$and": [{"n": 2}]}),
    _case("single_child_or", {"$or": [{"tag": "blue"}]}),
    _case("nested", {"$or": [{"$and": [{"n": {"$gte": 5}}, {"flag": True}]}, {"tag": "a_b"}]}),
    _case("not_eq", {"$not": {"tag": "red"}}),
    _case("not_in", {"$not": {"n": {"$in": [1, 2]}}}),
    _case("not_and", {"$not": {"$and": [{"n": 1}, {"flag": True}]}}),
    _case("not_or", {"$not": {"$or": [{"tag": "red"}, {"tag": "blue"}]}}),
    _case("not_not", {"$not": {"$not": {"n": 4}}}),
    _case("not_range", {"$not": {"rand": {"$lt": 0.5}}}, NEGATED_RANGE),
    _case(
        "not_and_with_range", {"$not": {"$and": [{"rand": {"$gt": 0.1}}, {"n": 1}]}}, NEGATED_RANGE
    ),
    _case("bool_is_not_int", {"n": True}, CROSS_KIND),
    _case("int_is_not_bool", {"flag": 1}, CROSS_KIND),
    _case("str_is_not_number", {"n": "3"}, CROSS_KIND),
    _case("missing_field_positive", {"no_such_field": 1}),
    _case("missing_field_negative", {"no_such_field": {"$ne": 1}}),
    _case("true_absorbs", {"$or": [{"n": 1}, {"tag": {"$nin": []}}]}),
    _case("false_absorbs", {"$and": [{"n": 1}, {"tag": {"$in": []}}]}),
    _case("rare_bucket", {"bucket": RARE_BUCKET}),
    *(_case(f"tricky_eq_{i}", {"tag": s}) for i, s in enumerate(TRICKY_STRINGS)),
    _case("tricky_in", {"tag": {"$in": list(TRICKY_STRINGS[2:8])}}),
    _case("tricky_ne_injection", {"tag": {"$ne": '") or true or ("'}}),
)


FIELD_KINDS = {
    "rand": "number",
    "n": "number",
    "price": "number",
    "bucket": "number",
    "flag": "bool",
    "tag": "str",
}


def capabilities_needed(flt: Any) -> frozenset[str]:
    """What a filter needs beyond plain comparisons (see NEGATED_RANGE and CROSS_KIND)."""
    from ..filters import Comparison, Not, parse, push_not

    needs: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, Not):
            needs.add(NEGATED_RANGE)
            visit(node.child)
        elif isinstance(node, Comparison):
            kind = FIELD_KINDS.get(node.field)
            if kind is not None and any(_kind(v) != kind for v in node.values):
                needs.add(CROSS_KIND)
        else:
            for child in getattr(node, "children", ()):
                visit(child)

    visit(push_not(parse(flt)))
    return frozenset(needs)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else "str"
