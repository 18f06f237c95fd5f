"""to_chroma: unwrapping, De Morgan, homogeneous lists, the int-truncation guards (no engine)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from emb_opt.errors import UnsupportedFilterError
from emb_opt.filters import FALSE, TRUE, parse
from emb_opt.filters.to_chroma import to_chroma
from emb_opt.testing import capabilities_needed
from emb_opt.testing.cases import NEGATED_RANGE
from emb_opt.testing.suite import random_filters


def where(flt: Any) -> Any:
    return to_chroma(parse(flt))


def test_constants_and_single_children():
    assert to_chroma(TRUE) is None  # where={} is an error in Chroma
    with pytest.raises(ValueError, match="always-false"):
        to_chroma(FALSE)
    assert where({"$and": [{"n": 2}]}) == {"n": {"$eq": 2}}
    assert where({"$or": [{"tag": "blue"}]}) == {"tag": {"$eq": "blue"}}
    assert where({"rand": {"$gt": 2, "$lt": 4}}) == {
        "$and": [{"rand": {"$gt": 2}}, {"rand": {"$lt": 4}}]
    }


def test_negation_is_pushed_down_with_de_morgan():
    assert where({"$not": {"$or": [{"a": 1}, {"b": "x"}]}}) == {
        "$and": [{"a": {"$ne": 1}}, {"b": {"$ne": "x"}}]
    }
    assert where({"$not": {"$and": [{"a": "x"}, {"b": {"$in": ["y", "z"]}}]}}) == {
        "$or": [{"a": {"$ne": "x"}}, {"b": {"$nin": ["y", "z"]}}]
    }
    assert where({"$not": {"$not": {"n": 4}}}) == {"n": {"$eq": 4}}


def test_negated_range_is_refused_rather_than_approximated():
    for flt in (
        {"$not": {"rand": {"$lt": 0.5}}},
        {"$not": {"$and": [{"rand": {"$gt": 0.1}}, {"n": 1}]}},
    ):
        with pytest.raises(UnsupportedFilterError, match="negated range"):
            where(flt)


def test_mixed_number_lists_split_into_homogeneous_lists():
    assert where({"p": {"$in": [10, 20.0, 30]}}) == {
        "$or": [{"p": {"$in": [10, 30]}}, {"p": {"$eq": 20.0}}]
    }
    assert where({"p": {"$nin": [1, 2.0]}}) == {"$and": [{"p": {"$ne": 1}}, {"p": {"$ne": 2.0}}]}


def test_guards_against_chroma_truncating_float_values_on_int_metadata():
    assert where({"n": {"$gte": 7.5}}) == {"$and": [{"n": {"$gte": 7.5}}, {"n": {"$ne": 7}}]}
    assert where({"n": {"$lt": 7.5}}) == {"$or": [{"n": {"$lt": 7.5}}, {"n": {"$eq": 7}}]}
    assert where({"n": {"$gt": 7.5}}) == {"n": {"$gt": 7.5}}  # already right for ints
    assert where({"n": {"$gt": -0.5}}) == {"$or": [{"n": {"$gt": -0.5}}, {"n": {"$eq": 0}}]}
    assert where({"n": {"$lte": -7.5}}) == {"$and": [{"n": {"$lte": -7.5}}, {"n": {"$ne": -7}}]}
    assert where({"n": 7.5}) == {"$and": [{"n": {"$eq": 7.5}}, {"n": {"$ne": 7}}]}
    assert where({"n": {"$ne": 7.5}}) == {"$or": [{"n": {"$ne": 7.5}}, {"n": {"$eq": 7}}]}
    assert where({"n": {"$in": [1, 2.5, 3.0]}}) == {
        "$or": [
            {"n": {"$eq": 1}},
            {"n": {"$eq": 3.0}},
            {"$and": [{"n": {"$eq": 2.5}}, {"n": {"$ne": 2}}]},
        ]
    }
    assert where({"n": {"$gte": 7.0}}) == {"n": {"$gte": 7.0}}  # whole floats compare exactly


def _walk(node: Any) -> None:
    """Chroma's grammar: one key per dict, >= 2 children in $and/$or, homogeneous lists."""
    assert isinstance(node, dict) and len(node) == 1, node
    ((key, value),) = node.items()
    if key in ("$and", "$or"):
        assert isinstance(value, list) and len(value) >= 2, node
        for child in value:
            _walk(child)
        return
    assert not key.startswith("$") and isinstance(value, dict) and len(value) == 1, node
    ((op, operand),) = value.items()
    assert op in ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin"), node
    if op in ("$in", "$nin"):
        assert len(operand) >= 1 and len({type(v) for v in operand}) == 1, node


@given(random_filters())
@settings(max_examples=300, deadline=None)
def test_random_filters_compile_to_valid_where_clauses(flt):
    compiled = parse(flt)
    if compiled in (TRUE, FALSE):
        return
    if NEGATED_RANGE in capabilities_needed(flt):
        with pytest.raises(UnsupportedFilterError):
            to_chroma(compiled)
        return
    _walk(to_chroma(compiled))
