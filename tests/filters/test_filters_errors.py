"""Every kind of bad filter raises FilterError, and the message names the path to the bad node."""

from __future__ import annotations

import math

import pytest

from emb_opt.errors import EmbOptError
from emb_opt.filters import FilterError, UnsupportedFilterError, parse

BAD = [
    # (filter, exact message prefix)
    (
        {"$and": [{"a": 1}, {"price": {"$lt": "cheap"}}]},
        "$and[1].price.$lt: expected a number, got 'cheap'",
    ),
    ({"price": {"$gte": True}}, "price.$gte: expected a number, got True (bool is not a number)"),
    ({"price": {"$lt": [1]}}, "price.$lt: expected a number, got [1]"),
    ({"price": {"$gt": None}}, "price.$gt: None is not a filter value"),
    ({"price": {"$lt": math.nan}}, "price.$lt: NaN is not a filter value"),
    ({"a": None}, "a: None is not a filter value"),
    ({"a": {"$eq": None}}, "a.$eq: None is not a filter value"),
    ({"a": {"$ne": None}}, "a.$ne: None is not a filter value"),
    ({"a": {"$in": ["x", None]}}, "a.$in[1]: None is not a filter value"),
    ({"a": [1, 2]}, "a: expected a single value, got [1, 2]; use {'$in': [...]}"),
    ({"a": {"$eq": [1]}}, "a.$eq: expected a str, int, float or bool, got [1]"),
    ({"a": {"$eq": {"b": 1}}}, "a.$eq: expected a str, int, float or bool, got {'b': 1}"),
    ({"tag": {"$in": "red"}}, "tag.$in: expected a list of values, got 'red'"),
    ({"tag": {"$nin": {"red": 1}}}, "tag.$nin: expected a list of values, got {'red': 1}"),
    (
        {"tag": {"$in": ["red", 1]}},
        "tag.$in[1]: expected values of one kind (all str, all bool or all numbers), "
        "got number 1 after str 'red'",
    ),
    ({"tag": {"$nin": [1, True]}}, "tag.$nin[1]: expected values of one kind"),
    ({"tag": {"$in": [[1]]}}, "tag.$in[0]: expected a str, int, float or bool, got [1]"),
    ({"a.b": 1}, "invalid field name 'a.b'; field names match [A-Za-z_][A-Za-z0-9_]*"),
    ({"1x": 1}, "invalid field name '1x'"),
    ({"": 1}, "invalid field name ''"),
    ({"a b": 1}, "invalid field name 'a b'"),
    ({"é": 1}, "invalid field name 'é'"),
    ({"a\n": 1}, "invalid field name 'a\\n'"),
    ({"$or": [{"ok": 1}, {"a-b": 1}]}, "$or[1]: invalid field name 'a-b'"),
    ({3: 1}, "expected a field name (str), got 3"),
    ({"$not": [{"a": 1}]}, "$not: expected one filter dict, got [{'a': 1}]"),
    ({"$not": {"a": 1, "b": 2}}, "$not: expected exactly one condition, got 2 keys ['a', 'b']"),
    ({"$not": {}}, "$not: expected exactly one condition, got 0 keys []"),
    ({"$not": "a"}, "$not: expected one filter dict, got 'a'"),
    (
        {"tag": {"$regex": "r.*"}},
        "tag.$regex: unknown operator '$regex'; expected one of $eq, $ne,",
    ),
    ({"tag": {"$exists": True}}, "tag.$exists: unknown operator '$exists'"),
    ({"tag": {"eq": 1}}, "tag.eq: expected an operator ($eq, $ne,"),
    ({"tag": {}}, "tag: expected at least one operator ($eq,"),
    ({"$regex": "x"}, "$regex: unknown operator '$regex'; expected $and, $or, $not or a field"),
    ({"$nor": [{"a": 1}]}, "$nor: unknown operator '$nor'"),
    ({"$eq": 1}, "$eq: operator '$eq' needs a field"),
    ({"$and": []}, "$and: expected a non-empty list of filters, got []"),
    ({"$or": []}, "$or: expected a non-empty list of filters, got []"),
    ({"$and": {"a": 1}}, "$and: expected a non-empty list of filters, got {'a': 1}"),
    ({"$or": "a"}, "$or: expected a non-empty list of filters, got 'a'"),
    ({"$and": [{"a": 1}, {}]}, "$and[1]: expected a non-empty filter dict, got {}"),
    ({"$and": [{"a": 1}, 5]}, "$and[1]: expected a non-empty filter dict, got 5"),
    ({"$or": [{"$and": [{"a": 1}, {"b": {"$in": [1, "x"]}}]}]}, "$or[0].$and[1].b.$in[1]: "),
    ({"$not": {"$or": [{"p": {"$lt": "1"}}]}}, "$not.$or[0].p.$lt: expected a number, got '1'"),
    ([{"a": 1}], "expected a filter dict (or None), got [{'a': 1}]"),
    ("a == 1", "expected a filter dict (or None), got 'a == 1'"),
    (True, "expected a filter dict (or None), got True"),
]


@pytest.mark.parametrize(("plain", "message"), BAD)
def test_bad_filter_message(plain, message):
    with pytest.raises(FilterError) as caught:
        parse(plain)
    assert str(caught.value).startswith(message), str(caught.value)


def test_none_message_points_to_missing_field_semantics():
    with pytest.raises(FilterError, match=r"\$ne/\$nin"):
        parse({"a": None})


def test_error_classes():
    with pytest.raises(ValueError):
        parse({"a": {"$lt": "x"}})
    assert issubclass(FilterError, EmbOptError)
    assert issubclass(UnsupportedFilterError, FilterError)
    assert issubclass(UnsupportedFilterError, NotImplementedError)


def test_field_no_item_has_is_legal():
    assert parse({"never_stored": {"$gt": 1}}).field == "never_stored"
