"""The reference semantics of `matches`, checked against `mask` on the same rows."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.filters import FALSE, TRUE, Columns, F, mask, matches, negate, parse

OPS = ["$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin"]


def _operand(op: str, value):
    return [value] if op in ("$in", "$nin") else value


def check(flt, metadata, expected: bool) -> None:
    """`matches` gives `expected`; `mask` over records and its negation agree."""
    flt = parse(flt)
    assert matches(flt, metadata) is expected
    assert mask(flt, Columns.from_records([metadata])).tolist() == [expected]
    assert matches(negate(flt), metadata) is (not expected)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("metadata", [{}, {"x": None}, None, {"other": 1}])
def test_missing_and_null_fields(op, metadata):
    # Positive comparisons fail on a missing/null field; $ne and $nin (their complements) pass.
    check({"x": {op: _operand(op, 1)}}, metadata, op in ("$ne", "$nin"))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("stored", ["1", True, [1], {"v": 1}, (1,)])
def test_numeric_comparison_on_non_numbers(op, stored):
    check({"x": {op: _operand(op, 1)}}, {"x": stored}, op in ("$ne", "$nin"))


@pytest.mark.parametrize(
    ("flt", "stored", "expected"),
    [
        ({"x": True}, 1, False),
        ({"x": 1}, True, False),
        ({"x": 0}, False, False),
        ({"x": False}, 0, False),
        ({"x": {"$in": [1, 0]}}, True, False),
        ({"x": {"$in": [True]}}, 1, False),
        ({"x": {"$ne": 1}}, True, True),
        ({"x": {"$nin": [True]}}, 1, True),
        ({"x": {"$gt": 0}}, True, False),
        ({"x": {"$lte": 1}}, False, False),
        ({"x": True}, True, True),
        ({"x": False}, False, True),
        ({"x": {"$in": [True, False]}}, False, True),
        ({"x": {"$in": [False]}}, True, False),
        ({"x": {"$ne": False}}, True, True),
        ({"x": True}, np.bool_(True), True),
        ({"x": 1}, np.bool_(True), False),
    ],
)
def test_bool_is_not_int(flt, stored, expected):
    check(flt, {"x": stored}, expected)


@pytest.mark.parametrize(
    ("flt", "stored", "expected"),
    [
        ({"x": 2}, 2.0, True),
        ({"x": 2.0}, 2, True),
        ({"x": {"$in": [1, 2.0]}}, 2, True),
        ({"x": {"$in": [1.5, 3]}}, 3.0, True),
        ({"x": {"$ne": 2}}, 2.0, False),
        ({"x": {"$lt": 2.5}}, 2, True),
        ({"x": {"$lte": 2}}, 2.0, True),
        ({"x": {"$gt": 2}}, 2.0, False),
        ({"x": {"$gte": 2.0}}, 2, True),
        ({"x": 0.1 + 0.2}, 0.3, False),
        ({"x": -0.0}, 0.0, True),
        ({"x": {"$lt": 1e308}}, float("inf"), False),
        ({"x": {"$gt": 1e308}}, float("inf"), True),
        ({"x": {"$gt": 0}}, float("nan"), False),
        ({"x": {"$lte": 0}}, float("nan"), False),
        ({"x": 1}, float("nan"), False),
        ({"x": {"$ne": 1}}, float("nan"), True),
        ({"x": 3}, np.int64(3), True),
        ({"x": {"$lt": 1}}, np.float32(0.5), True),
        ({"x": "2"}, 2, False),
        ({"x": 2}, "2", False),
    ],
)
def test_numbers(flt, stored, expected):
    check(flt, {"x": stored}, expected)


TRICKY = [
    'say "hi"',
    "it's",
    '") or true or ("',
    "trailing\\",
    "back\\slash",
    "line\nbreak",
    "tab\tand\r\n",
    "naïve ☃ 日本語 🙂",
    "100%",
    "a_b",
    "%",
    "_",
    "",
    " ",
    "NULL",
    "None",
]


@pytest.mark.parametrize("value", TRICKY)
def test_strings_match_exactly(value):
    check({"s": value}, {"s": value}, True)
    check({"s": {"$in": [value, "zzz"]}}, {"s": value}, True)
    check({"s": {"$nin": [value]}}, {"s": value}, False)
    # No wildcard, case or whitespace folding: near misses do not match.
    for other in {value + "x", value.upper() if value.upper() != value else value + " ", "zzz"}:
        check({"s": value}, {"s": other}, False)
        check({"s": {"$ne": value}}, {"s": other}, True)


def test_percent_and_underscore_are_not_wildcards():
    check({"s": "a%"}, {"s": "abc"}, False)
    check({"s": "a_c"}, {"s": "abc"}, False)


def test_logic():
    row = {"a": 1, "b": "red", "c": 7}
    check({"a": 1, "b": "red"}, row, True)
    check({"a": 1, "b": "blue"}, row, False)
    check({"$or": [{"a": 2}, {"b": "red"}]}, row, True)
    check({"$or": [{"a": 2}, {"b": "blue"}]}, row, False)
    check({"$not": {"a": 1}}, row, False)
    check({"$not": {"c": {"$lt": 5}}}, row, True)
    check({"$not": {"c": {"$lt": 5}}}, {}, True)  # not (x < 5) includes missing x
    check({"$not": {"a": {"$gt": 0, "$lt": 5}}}, row, False)
    check(TRUE, row, True)
    check(FALSE, row, False)
    check(TRUE, None, True)


def test_plain_filters_are_accepted():
    assert matches({"a": {"$gt": 0}}, {"a": 1}) is True
    assert matches(None, {"a": 1}) is True
    assert mask({"a": 1}, Columns.from_records([{"a": 1}, {"a": 2}])).tolist() == [True, False]


def test_builder_filters():
    row = {"rand": 0.5, "tag": "red"}
    assert matches((F("rand") < 0.9) & F("tag").is_in(["red", "blue"]), row)
    assert not matches(~(F("rand") < 0.9) | (F("tag") == "x"), row)
