"""The PostgreSQL compiler without a server: values bound, names quoted, exact number forms."""

from __future__ import annotations

import math

import pytest

from emb_opt.errors import UnsupportedFilterError
from emb_opt.filters import parse
from emb_opt.filters._native import finite_bounds
from emb_opt.filters.to_sql import SqlSchema, double_comparison, to_sql
from emb_opt.testing.corpus import TRICKY_STRINGS

COLUMNS = SqlSchema(
    {"n": "int8", "x": "float8", "flag": "bool", "tag": "text", "at": "timestamptz"}
)
JSONB = SqlSchema({}, "metadata")


def compiled(flt, schema=COLUMNS) -> tuple[str, dict]:
    where, params = to_sql(parse(flt), schema)
    return where.as_string(None), params


@pytest.mark.parametrize("schema", [COLUMNS, JSONB], ids=["columns", "jsonb"])
def test_values_are_bound_and_names_quoted(schema):
    text, params = compiled({"tag": {"$in": list(TRICKY_STRINGS)}, "n": {"$ne": 3}}, schema)
    assert not any(value in text for value in TRICKY_STRINGS if len(value) > 2)
    assert '"tag"' in text or "'tag'" in text
    assert len(params) == 2 and all(f"%({name})s" in text for name in params)


def test_the_positive_form_is_negated_with_is_not_true():
    text, _ = compiled({"$not": {"x": {"$lt": 1.5}}})
    assert text == '("x" < %(p0)s::float8) IS NOT TRUE'
    assert compiled({"tag": {"$ne": "red"}})[0] == '("tag" = %(p0)s::text) IS NOT TRUE'


def test_fields_of_another_kind_or_nowhere_compare_as_constants():
    assert compiled({"flag": 1})[0] == "FALSE"
    assert compiled({"tag": {"$nin": ["a\x00b"]}})[0] == "(FALSE) IS NOT TRUE"
    assert compiled({"nowhere": {"$gt": 1}})[0] == "NULL"
    with pytest.raises(UnsupportedFilterError, match="'at' is a timestamptz column"):
        compiled({"at": 1})


def test_ints_against_floats_and_floats_against_ints_stay_exact():
    assert compiled({"x": 2**53 + 1})[0] == "FALSE"  # no double equals it
    text, params = compiled({"x": {"$gt": 2**53 + 1}})
    assert params["p0"] == 2.0**53 and text.startswith('("x" > %(p0)s::float8 AND')  # NaN guard
    text, params = compiled({"n": {"$lt": 7.5}})
    assert text == '"n" < %(p0)s::numeric' and float(params["p0"]) == 7.5
    text, params = compiled({"n": {"$gte": 10**400}})
    assert params["p0"] == 10**400


def test_large_jsonb_numbers_compare_as_the_value_read_back():
    text, params = compiled({"j": {"$lt": 2**60 + 1}}, JSONB)
    assert "scale(" in text and params["p0"] == 2**60 + 1 and params["p1"] == 2.0**60
    assert "scale(" not in compiled({"j": {"$lt": 2**53}}, JSONB)[0]


def test_double_comparison():
    assert double_comparison("lt", [3]) == ("lt", [3.0])
    assert double_comparison("lt", [2**53 + 1]) == ("lte", [2.0**53])
    assert double_comparison("gte", [2**53 + 1]) == ("gt", [2.0**53])
    assert double_comparison("in", [2**53 + 1, 4]) == ("in", [4.0])
    assert double_comparison("eq", [2**53 + 1]) is None
    assert double_comparison("lt", [10**400]) == ("lte", [1.7976931348623157e308])
    assert double_comparison("gt", [-(10**400)]) == ("gt", [-math.inf])


def test_infinite_bounds_leave_big_ints_exact():
    flt = finite_bounds(parse({"x": {"$in": [2**60 + 1, math.inf]}}))
    assert (2**60 + 1) in flt.children[0].values
    assert finite_bounds(parse({"x": {"$lt": 10**400}})) == parse({"x": {"$lt": 10**400}})
