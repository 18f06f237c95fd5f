"""`Columns` and `mask`: mixed-type columns, Arrow inputs, laziness, and the import boundary."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from emb_opt.filters import Columns, F, mask, matches, parse

MIXED = [
    {"x": 1, "t": "red"},
    {"x": "1", "t": "blue"},
    {"x": True},
    {"x": None, "t": None},
    {},
    None,
    {"x": 2.5, "t": "red"},
    {"x": [1], "t": 3},
    {"x": 0, "t": False},
    {"x": float("nan"), "t": "Red"},
]

FILTERS = [
    {"x": 1},
    {"x": "1"},
    {"x": True},
    {"x": {"$ne": 1}},
    {"x": {"$gt": 0}},
    {"x": {"$lte": 2.5}},
    {"x": {"$in": [0, 2.5]}},
    {"x": {"$nin": [0, 2.5]}},
    {"x": {"$in": [True, False]}},
    {"t": {"$in": ["red", "blue"]}},
    {"t": {"$nin": ["red"]}},
    {"t": "green"},
    {"t": {"$ne": "green"}},
    {"$or": [{"x": {"$lt": 1}}, {"t": "red"}]},
    {"$not": {"x": {"$gte": 1}}},
    {"nobody": {"$lt": 1}},
    {"nobody": {"$ne": "a"}},
]


@pytest.mark.parametrize("plain", FILTERS)
def test_mixed_type_columns_match_reference(plain):
    flt = parse(plain)
    expected = [matches(flt, row) for row in MIXED]
    assert mask(flt, Columns.from_records(MIXED)).tolist() == expected


def test_mixed_type_column_values():
    cols = Columns.from_records(MIXED)
    assert mask({"x": 1}, cols).tolist() == [True] + [False] * 9
    assert mask({"x": {"$gte": 0}}, cols).nonzero()[0].tolist() == [0, 6, 8]
    assert mask({"t": "red"}, cols).nonzero()[0].tolist() == [0, 6]
    assert mask({"t": {"$ne": "red"}}, cols).nonzero()[0].tolist() == [1, 2, 3, 4, 5, 7, 8, 9]


def test_dict_of_lists_and_numpy_columns():
    cols = Columns.from_arrow({"x": [1, None, "a", 2.0], "y": np.array([0.1, 0.5, 0.9, 0.2])})
    assert len(cols) == 4
    assert mask({"x": 2}, cols).tolist() == [False, False, False, True]
    assert mask({"x": {"$ne": 1}}, cols).tolist() == [False, True, True, True]
    assert mask({"y": {"$lt": 0.3}}, cols).tolist() == [True, False, False, True]
    assert mask({"z": {"$nin": [1]}}, cols).tolist() == [True] * 4


def test_dict_columns_must_have_one_length():
    with pytest.raises(ValueError, match="different lengths"):
        Columns.from_arrow({"a": [1, 2], "b": [1]})
    assert len(Columns.from_arrow({})) == 0


def test_arrow_table_types():
    table = pa.table(
        {
            "i": pa.array([1, None, 3, -4], pa.int64()),
            "u": pa.array([1, 2, None, 4], pa.uint8()),
            "f": pa.array([0.5, float("nan"), None, 2.0], pa.float32()),
            "b": pa.array([True, None, False, True]),
            "s": pa.array(["red", None, "blue", "red"]),
            "ls": pa.array(["red", "a\\", None, ""], pa.large_string()),
            "d": pa.array(["x", "y", None, "x"]).dictionary_encode(),
            "n": pa.array([None] * 4, pa.null()),
            "l": pa.array([[1], None, [], [2]]),
        }
    )
    cols = Columns.from_arrow(table)
    assert len(cols) == 4
    assert mask({"i": {"$gte": 1}}, cols).tolist() == [True, False, True, False]
    assert mask({"i": {"$ne": 3.0}}, cols).tolist() == [True, True, False, True]
    assert mask({"u": {"$in": [2, 4]}}, cols).tolist() == [False, True, False, True]
    assert mask({"f": {"$lt": 1}}, cols).tolist() == [True, False, False, False]
    assert mask({"f": {"$ne": 0.5}}, cols).tolist() == [False, True, True, True]
    assert mask({"b": True}, cols).tolist() == [True, False, False, True]
    assert mask({"b": {"$ne": True}}, cols).tolist() == [False, True, True, False]
    assert mask({"b": False}, cols).tolist() == [False, False, True, False]
    assert mask({"b": {"$in": [False, True]}}, cols).tolist() == [True, False, True, True]
    assert mask({"b": 1}, cols).tolist() == [False] * 4
    assert mask({"s": {"$in": ["red", "green"]}}, cols).tolist() == [True, False, False, True]
    assert mask({"s": {"$nin": ["red"]}}, cols).tolist() == [False, True, True, False]
    assert mask({"ls": "a\\"}, cols).tolist() == [False, True, False, False]
    assert mask({"ls": ""}, cols).tolist() == [False, False, False, True]
    assert mask({"d": "x"}, cols).tolist() == [True, False, False, True]
    assert mask({"n": {"$ne": 1}}, cols).tolist() == [True] * 4
    assert mask({"l": 1}, cols).tolist() == [False] * 4
    assert mask({"absent": {"$gt": 0}}, cols).tolist() == [False] * 4
    assert mask({"absent": {"$ne": 0}}, cols).tolist() == [True] * 4
    assert mask({"i": 1, "s": "red"}, cols).tolist() == [True, False, False, False]


def test_arrow_chunked_and_union_columns():
    chunked = pa.chunked_array([pa.array([1, 2]), pa.array([None, 4])])
    union = pa.UnionArray.from_sparse(
        pa.array([0, 1, 0], pa.int8()),
        [pa.array([1, None, 3]), pa.array(["a", "b", "c"])],
    )
    cols = Columns.from_arrow(pa.table({"c": chunked, "m": pa.array([1, 2, 3, 4])}))
    assert mask({"c": {"$gt": 1}}, cols).tolist() == [False, True, False, True]
    ucols = Columns.from_arrow({"u": union})
    assert mask({"u": "b"}, ucols).tolist() == [False, True, False]
    assert mask({"u": 3}, ucols).tolist() == [False, False, True]


def test_big_integers_compare_as_float64():
    # Documented limit: float64 is exact up to 2**53; `matches` is exact Python arithmetic.
    big = 2**53 + 1
    rows = [{"x": big}, {"x": 2**53}, {"x": 10**400}, {"x": -(10**400)}]
    cols = Columns.from_records(rows)
    assert mask({"x": 2**53}, cols).tolist()[:2] == [True, True]
    assert [matches({"x": 2**53}, r) for r in rows[:2]] == [False, True]
    assert mask({"x": {"$gt": 1e308}}, cols).tolist() == [False, False, True, False]
    assert mask({"x": {"$lt": -1e308}}, cols).tolist() == [False, False, False, True]


def test_columns_are_built_lazily_and_reused():
    cols = Columns.from_records([{"a": 1, "b": "x"}, {"a": 2}])
    assert "loaded=[]" in repr(cols)
    first = cols.field("a")
    mask(F("a") > 1, cols)
    assert cols.field("a") is first
    assert "loaded=['a']" in repr(cols)
    assert mask(F("a") > 1, cols).tolist() == [False, True]


def test_mask_returns_fresh_arrays():
    cols = Columns.from_records([{"a": 1}, {"a": 2}, {}])
    out = mask((F("a") == 1) | (F("a") == 2), cols)
    out[:] = False
    assert mask(F("a") == 1, cols).tolist() == [True, False, False]
    assert mask(F("a") == 1, cols).dtype == np.bool_


def test_importing_filters_does_not_import_pyarrow():
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import emb_opt.filters as f\n"
        "c = f.Columns.from_arrow({'a': [1, None]})\n"
        "assert f.mask({'a': 1}, c).tolist() == [True, False]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


ARROW_COLUMNS = {
    "int": pa.array([1, None, -2, 0, 3], pa.int64()),
    "float": pa.array([0.5, None, -0.0, float("nan"), float("inf")], pa.float64()),
    "bool": pa.array([True, None, False, False, True]),
    "str": pa.array(["red", None, "", "1", "a\\"]),
    "null": pa.array([None] * 5, pa.null()),
}
GRID_VALUES = [0, 1, -2, 0.5, 3.0, True, False, "red", "", "1", "a\\", "zzz"]


@pytest.mark.parametrize("arrow_kind", sorted(ARROW_COLUMNS))
def test_arrow_columns_exhaustive_grid(arrow_kind):
    column = ARROW_COLUMNS[arrow_kind]
    cols = Columns.from_arrow(pa.table({"x": column}))
    records = [{"x": value} for value in column.to_pylist()]
    for value in GRID_VALUES:
        numeric = not isinstance(value, str | bool)
        ops = ["$eq", "$ne", "$in", "$nin"] + (["$lt", "$lte", "$gt", "$gte"] if numeric else [])
        for op in ops:
            operand = [value] if op in ("$in", "$nin") else value
            flt = parse({"x": {op: operand}})
            expected = [matches(flt, record) for record in records]
            assert mask(flt, cols).tolist() == expected, (op, value)
    both = parse({"x": {"$in": [True, False]}})
    assert mask(both, cols).tolist() == [matches(both, record) for record in records]
