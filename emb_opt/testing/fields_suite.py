"""Conformance checks for `stored_fields` and projected scans, mixed into `DataSourceConformance`.

On a collection of `fields_corpus` (loaded by the class's `load_source`): `stored_fields()`
reports each field with the kind and width it has, and how many sampled items hold it and
how many distinct values, on the items the filter accepts; `scan(fields=...)` gives columns
equal to what each item stores (ids exactly, floats to 1e-6 relative, NaN where missing), with
a filter, in parts, and on a narrowed view; a field holding text, numbers as strings or bools
is a ValueError naming it; `scan()` without fields is the scan as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from ..filters import matches, parse
from ..protocols import Describable, ScanBatch
from .corpus import NUMERIC_FIELDS, STORED_KINDS, ConformanceCorpus, fields_corpus
from .fetch_suite import Loader
from .scan_suite import accepted_ids, assert_scan_matches, scanned

Factory = Callable[..., Any]
FIELD_FILTERS = {"all": None, "groups": {"group": {"$in": [1, 3]}}}
NOT_NUMBERS = ("label", "code", "flag")  # text, numbers stored as strings, bools


def expected_column(corpus: ConformanceCorpus, ids: Sequence[Any], name: str) -> np.ndarray:
    """Field `name` of the items `ids` as float64, NaN where an item lacks it."""
    position = {item_id: row for row, item_id in enumerate(corpus.ids)}
    values = [corpus.metadata[position[i]].get(name) for i in ids]
    width = next((len(v) for v in values if isinstance(v, list)), None)
    blank = [math.nan] * width if width else math.nan
    return np.array([blank if v is None else v for v in values], dtype=np.float64)


def assert_columns_match(
    corpus: ConformanceCorpus, batches: list[ScanBatch], names: Sequence[str]
) -> None:
    """Every batch holds `names` as columns equal to the stored values, and no metadata."""
    position = {item_id: row for row, item_id in enumerate(corpus.ids)}
    for batch in batches:
        assert batch.metadata is None, "a projected scan returned metadata"
        assert batch.columns is not None and set(batch.columns) == set(names)
        rows = [position[i] for i in batch.ids]
        assert np.allclose(batch.embeddings, corpus.embeddings[rows], atol=1e-6)
        for name in names:
            want, got = expected_column(corpus, batch.ids, name), batch.columns[name]
            assert got.dtype == np.float64 and got.shape == want.shape, (name, got.shape)
            np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True, err_msg=name)


def expected_profile(corpus: ConformanceCorpus, flt: Any) -> dict[str, tuple[float, int, int]]:
    """name -> (share present, distinct values, items) over the items `flt` accepts."""
    compiled = parse(flt)
    rows = [row for row in corpus.metadata if matches(compiled, row)]
    found = {}
    for name in STORED_KINDS:
        values = [row[name] for row in rows if row.get(name) is not None]
        distinct = {tuple(v) if isinstance(v, list) else v for v in values}
        found[name] = (len(values) / len(rows), len(distinct), len(rows))
    return found


class FieldConformance:
    """`stored_fields` and `scan(fields=...)` checks; the class using it provides
    `load_source` (over a corpus it is given). `whole_payloads` says why the backend's
    projected scan cannot read only the fields (None: it reads only them)."""

    whole_payloads: str | None = None

    @pytest.fixture(scope="class")
    @classmethod
    def stored(cls) -> ConformanceCorpus:
        return fields_corpus()

    @pytest.fixture(scope="class")
    @classmethod
    def make_fields_source(cls, stored: ConformanceCorpus, load_source: Loader) -> Factory:
        return load_source(stored)

    @pytest.mark.parametrize("flt", FIELD_FILTERS.values(), ids=list(FIELD_FILTERS))
    def test_stored_fields_report_each_field_as_stored(
        self, stored: ConformanceCorpus, make_fields_source: Factory, flt: Any
    ) -> None:
        source = make_fields_source(k=1, filter=flt)
        assert isinstance(source, Describable)
        reported = {field.name: field for field in source.stored_fields()}
        assert set(reported) == set(STORED_KINDS), sorted(reported)
        for name, (share, distinct, sampled) in expected_profile(stored, flt).items():
            field = reported[name]
            assert (field.kind, field.width) == STORED_KINDS[name], field
            assert field.sampled == sampled, field
            assert field.present == pytest.approx(share), field
            assert field.distinct == distinct, field

    def test_stored_fields_of_a_narrowed_view(
        self, stored: ConformanceCorpus, make_fields_source: Factory
    ) -> None:
        view = make_fields_source(k=1, filter={"group": {"$lt": 4}}).narrowed({"group": 2})
        reported = {field.name: field for field in view.stored_fields()}
        profile = expected_profile(stored, {"group": 2})
        assert {name: f.sampled for name, f in reported.items()} == {
            name: sampled for name, (_, _, sampled) in profile.items()
        }
        assert reported["rare"].present == pytest.approx(profile["rare"][0])

    @pytest.mark.parametrize("flt", FIELD_FILTERS.values(), ids=list(FIELD_FILTERS))
    @pytest.mark.parametrize("batch_size", [7, 1000])
    def test_projected_scan_columns_equal_the_stored_values(
        self, stored: ConformanceCorpus, make_fields_source: Factory, flt: Any, batch_size: int
    ) -> None:
        source = make_fields_source(k=1, filter=flt)
        batches = scanned(source, batch_size, fields=NUMERIC_FIELDS)
        ids = [i for batch in batches for i in batch.ids]
        assert sorted(ids) == sorted(accepted_ids(stored, flt))
        assert_columns_match(stored, batches, NUMERIC_FIELDS)

    def test_projected_parts_together_are_the_projected_scan(
        self, stored: ConformanceCorpus, make_fields_source: Factory
    ) -> None:
        flt = FIELD_FILTERS["groups"]
        source, reader = make_fields_source(k=1, filter=flt), make_fields_source(k=1, filter=flt)
        full = [i for batch in scanned(source, 25, fields=("weight",)) for i in batch.ids]
        for count in (2, 3):
            batches = [
                batch
                for part in source.partitions(count)
                for batch in scanned(reader, 25, part, fields=("profile", "count"))
            ]
            assert [i for batch in batches for i in batch.ids] == full
            assert_columns_match(stored, batches, ("profile", "count"))

    def test_a_projected_read_holds_only_the_fields(self, make_fields_source: Factory) -> None:
        if self.whole_payloads:
            pytest.skip(self.whole_payloads)
        source = make_fields_source(k=1)
        read = [hits for hits in source._scan(40, None, ("weight", "rare"))]
        assert sum(len(hits.ids) for hits in read) == source.count()
        keys = {key for hits in read for row in hits.metadata or () for key in row or {}}
        assert keys <= {"weight", "rare"}, sorted(keys)

    def test_a_narrowed_view_projects_what_both_filters_accept(
        self, stored: ConformanceCorpus, make_fields_source: Factory
    ) -> None:
        view = make_fields_source(k=1, filter={"group": {"$ne": 0}}).narrowed(
            {"weight": {"$lt": 50}}
        )
        batches = scanned(view, 16, fields=("rare", "weight"))
        both = {"$and": [{"group": {"$ne": 0}}, {"weight": {"$lt": 50}}]}
        assert sorted(i for b in batches for i in b.ids) == sorted(accepted_ids(stored, both))
        assert_columns_match(stored, batches, ("rare", "weight"))

    @pytest.mark.parametrize("name", NOT_NUMBERS)
    def test_projecting_a_field_that_holds_no_numbers_names_it(
        self, make_fields_source: Factory, name: str
    ) -> None:
        with pytest.raises(ValueError, match=f"field '{name}' of item "):
            list(make_fields_source(k=1).scan(50, fields=["weight", name]))

    def test_no_fields_and_an_absent_field(
        self, stored: ConformanceCorpus, make_fields_source: Factory
    ) -> None:
        source = make_fields_source(k=1)
        none = scanned(source, 100, fields=())
        assert all(batch.columns == {} and batch.metadata is None for batch in none)
        absent = scanned(source, 100, fields=["nowhere"])
        assert all(np.isnan((batch.columns or {})["nowhere"]).all() for batch in absent)
        assert sum(len(batch.ids) for batch in absent) == len(stored.ids)

    def test_a_scan_without_fields_is_unchanged(
        self, stored: ConformanceCorpus, make_fields_source: Factory
    ) -> None:
        source = make_fields_source(k=1, filter=FIELD_FILTERS["groups"])
        assert_scan_matches(stored, source, FIELD_FILTERS["groups"], 40)
        assert all(batch.columns is None for batch in source.scan(40))

    def test_fields_must_be_a_list_of_names(self, make_fields_source: Factory) -> None:
        source = make_fields_source(k=1)
        with pytest.raises(ValueError, match=r"for one field, pass \['weight'\]"):
            source.scan(10, fields="weight")
        with pytest.raises(ValueError, match="non-empty str field names, got 3"):
            source.scan(10, fields=["weight", 3])
