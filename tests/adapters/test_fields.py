"""How stored fields are profiled and read as columns (`emb_opt.adapters.fields`), beyond
what the conformance suite checks on every backend."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from emb_opt.adapters.fields import ColumnReader, profile, read_column
from emb_opt.errors import EmbOptError, FieldError


def kinds(rows, declared=None):
    return {f.name: (f.kind, f.width) for f in profile(rows, declared or {})}


def test_kinds_come_from_the_values_when_no_schema_declares_them():
    rows = [
        {"n": 1, "f": 2.5, "d": Decimal("1.5"), "np": np.float32(3), "s": "7", "b": True},
        {"n": 2, "f": None, "d": Decimal("2"), "np": np.int64(4), "s": "8", "b": False},
        {"mixed": 1, "lists": [1.0, 2.0], "ragged": [1.0], "nested": {"a": 1}},
        {"mixed": "one", "lists": [3, 4], "ragged": [1.0, 2.0], "empty": []},
    ]
    assert kinds(rows) == {
        "n": ("number", 1),
        "f": ("number", 1),
        "d": ("number", 1),
        "np": ("number", 1),
        "s": ("text", 0),  # numbers stored as strings are text
        "b": ("other", 0),  # bools are no numbers
        "mixed": ("other", 0),
        "lists": ("vector", 2),
        "ragged": ("other", 0),  # lists of several lengths
        "nested": ("other", 0),
        "empty": ("other", 0),
    }


def test_share_present_and_distinct_values_count_the_items_that_hold_a_value():
    rows = [{"a": 1, "v": [1, 2]}, {"a": 1.0, "v": [1.0, 2.0]}, {"a": None}, None]
    (a, v) = profile(rows, {})
    assert (a.name, a.present, a.distinct, a.sampled) == ("a", 0.5, 1, 4)  # 1 == 1.0
    assert (v.name, v.present, v.distinct) == ("v", 0.5, 1)


def test_a_declared_kind_wins_and_a_declared_field_the_sample_lacks_is_reported():
    rows = [{"code": "12", "v": [1.0, 2.0, 3.0]}, {"code": "13", "v": [4.0, 5.0, 6.0]}]
    declared = {"code": ("text", 0), "v": ("vector", None), "never": ("number", 1)}
    found = {f.name: f for f in profile(rows, declared)}
    assert (found["v"].kind, found["v"].width) == ("vector", 3)  # the length from the sample
    assert (found["never"].kind, found["never"].width, found["never"].present) == ("number", 1, 0)
    ragged = {f.name: f for f in profile([{"v": [1.0]}, {"v": [1.0, 2.0]}], declared)}
    assert (ragged["v"].kind, ragged["v"].width) == ("other", 0)
    assert profile([], declared)[0].sampled == 0


def test_read_column_gives_nan_where_missing_and_marks_what_it_cannot_read():
    plain = read_column([1, None, 2.5])
    assert plain.shape == () and plain.wrong is None
    np.testing.assert_array_equal(plain.values, [1.0, math.nan, 2.5])
    vectors = read_column([None, [1, 2], (3.0, 4.0), np.array([5, 6]), [7.0], "x", True])
    assert vectors.shape == (2,) and vectors.values.shape == (7, 2)
    assert vectors.wrong.tolist() == [False, False, False, False, True, True, True]
    assert np.isnan(vectors.values[[0, 4, 5, 6]]).all()
    assert read_column([None, None]).values.shape == (2,)
    assert read_column([10**400, 1]).wrong.tolist() == [True, False]  # beyond float64


def test_a_reader_holds_a_field_to_its_first_shape_across_batches():
    reader = ColumnReader(["v"])
    assert reader(["a"], [{"v": [1.0, 2.0]}])["v"].shape == (1, 2)
    assert reader(["b"], [{}])["v"].shape == (1, 2)  # known from the batch before
    with pytest.raises(FieldError) as error:
        reader(["c", "d"], [{"v": [1.0, 2.0]}, {"v": [1.0, 2.0, 3.0]}])
    assert str(error.value) == (
        "field 'v' of item 'd' holds [1.0, 2.0, 3.0]: expected a list of 2 numbers, as the "
        "field holds on other items"
    )
    assert isinstance(error.value, EmbOptError | ValueError)
    assert ColumnReader(["x"])(["a", "b"], None)["x"].shape == (2,)
