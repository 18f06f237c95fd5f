"""to_qdrant: must_not for complements, Range for numbers, never an empty clause (no engine)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from qdrant_client import models

from emb_opt.filters import FALSE, TRUE, parse
from emb_opt.filters.to_qdrant import to_qdrant
from emb_opt.testing.suite import random_filters


def compiled(flt: Any) -> models.Filter:
    return to_qdrant(parse(flt))


def field(key: str, **condition: Any) -> models.FieldCondition:
    return models.FieldCondition(key=key, **condition)


def test_constants():
    assert to_qdrant(TRUE) is None
    with pytest.raises(ValueError, match="always-false"):
        to_qdrant(FALSE)


def test_numbers_use_range_bools_and_strings_match_values():
    assert compiled({"price": 10.5}) == models.Filter(
        must=[field("price", range=models.Range(gte=10.5, lte=10.5))]
    )
    assert compiled({"n": 3}) == models.Filter(must=[field("n", range=models.Range(gte=3, lte=3))])
    assert compiled({"flag": True}) == models.Filter(
        must=[field("flag", match=models.MatchValue(value=True))]
    )
    assert compiled({"tag": {"$in": ["a", "b"]}}) == models.Filter(
        must=[field("tag", match=models.MatchAny(any=["a", "b"]))]
    )
    big = 2**60 + 1  # beyond float precision: MatchValue, not a float Range
    assert compiled({"n": big}) == models.Filter(
        must=[field("n", match=models.MatchValue(value=big))]
    )


def test_complements_use_must_not_never_match_except():
    assert compiled({"tag": {"$nin": ["a", "b"]}}) == models.Filter(
        must_not=[field("tag", match=models.MatchAny(any=["a", "b"]))]
    )
    assert compiled({"$not": {"rand": {"$lt": 0.5}}}) == models.Filter(
        must_not=[field("rand", range=models.Range(lt=0.5))]
    )
    assert "MatchExcept" not in repr(compiled({"n": {"$nin": [1, 2]}, "tag": {"$ne": "x"}}))


def _walk(node: Any) -> None:
    if isinstance(node, models.Filter):
        clauses = [node.must, node.should, node.must_not]
        assert any(clause is not None for clause in clauses), node
        for clause in clauses:
            if clause is not None:
                assert len(clause) >= 1, node  # an empty should matches nothing on a server
                for child in clause:
                    _walk(child)
        assert node.min_should is None
    else:
        assert isinstance(node, models.FieldCondition), node
        assert not isinstance(node.match, models.MatchExcept)
        if isinstance(node.match, (models.MatchValue, models.MatchAny)):
            values = getattr(node.match, "value", None), getattr(node.match, "any", None) or []
            assert not any(isinstance(v, float) for v in [values[0], *values[1]])


@given(random_filters())
@settings(max_examples=300, deadline=None)
def test_random_filters_never_emit_an_empty_clause(flt):
    node = parse(flt)
    if node in (TRUE, FALSE):
        return
    _walk(to_qdrant(node))
