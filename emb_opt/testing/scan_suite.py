"""Conformance checks for `scan`, `count` and `partitions`, mixed into `DataSourceConformance`.

A scan must yield exactly the items the reference evaluator accepts, each once, in non-empty
batches of at most `batch_size`, carrying the corpus vectors and metadata; items built from
scan rows must equal the items a kNN search returns for the same ids. The parts of a scan,
each read by another source opened like the first, must together be the full scan: every
item once, in scan order. A narrowed source (`narrowed(flt)`) scans, counts and fetches
what both its filter and `flt` accept; closing it leaves the source open.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from ..adapters.base import SCAN_BATCH, ScanBatch, scan_to_items
from ..errors import UnsupportedFilterError
from ..filters import matches, parse
from ..protocols import DataSource, Partition, Partitioned
from .cases import FILTER_CASES, FilterCase
from .corpus import RARE_BUCKET, TRICKY_STRINGS, ConformanceCorpus, query_batch

Factory = Callable[..., Any]
ALWAYS_FALSE = {"$and": [{"n": 1}, {"tag": {"$in": []}}]}
BAD_BATCH_SIZES = (0, -3, 2.5, "8", True, None)
PARTITION_FILTERS = {
    "all": None,
    "some": {"tag": {"$in": ["red", "blue"]}},
    "few": {"bucket": RARE_BUCKET},
    "none": {"bucket": {"$gt": 5000}},  # matches nothing, which only the engine can tell
}
PARTITION_COUNTS = (1, 2, 3, 8)
NARROWED = {  # (the source's filter, the further one)
    "tricky_in": ({"n": {"$lt": 5}}, {"tag": {"$in": list(TRICKY_STRINGS)}}),
    "numbers_or_text": (None, {"$or": [{"bucket": {"$in": [3, 7, 11]}}, {"tag": "it's"}]}),
    "disjoint": ({"n": 1}, {"n": 2}),
}


def accepted_ids(corpus: ConformanceCorpus, flt: Any) -> list[Any]:
    """The ids the reference evaluator accepts, in corpus order."""
    compiled = parse(flt)
    return [i for i, row in zip(corpus.ids, corpus.metadata) if matches(compiled, row)]


def scanned(
    source: DataSource,
    batch_size: int,
    partition: Partition | None = None,
    fields: Sequence[str] | None = None,
) -> list[ScanBatch]:
    """Every batch of a scan (of one part of a `Partitioned` source; projected on `fields`),
    each checked for shape and size."""
    projection = {} if fields is None else {"fields": fields}
    if partition is None:
        batches = list(source.scan(batch_size, **projection))
    else:
        assert isinstance(source, Partitioned), f"{type(source).__name__} is not Partitioned"
        batches = list(source.scan(batch_size, partition, **projection))
    for batch in batches:
        n = len(batch.ids)
        assert 0 < n <= batch_size, f"batch of {n} rows for batch_size={batch_size}"
        assert batch.embeddings.dtype == np.float32
        assert batch.embeddings.shape == (n, source.dimension)
        for column in (batch.items, batch.metadata, *(batch.columns or {}).values()):
            assert column is None or len(column) == n
    return batches


def assert_scan_matches(
    corpus: ConformanceCorpus, source: DataSource, flt: Any, batch_size: int
) -> None:
    """The scan yields exactly the accepted items, with the corpus vectors and metadata."""
    expected = accepted_ids(corpus, flt)
    batches = scanned(source, batch_size)
    ids = [i for batch in batches for i in batch.ids]
    assert len(ids) == len(set(ids)), f"filter {flt!r}: scan repeated ids"
    assert sorted(ids) == sorted(expected), (
        f"filter {flt!r}, batch_size={batch_size}: missing {sorted(set(expected) - set(ids))[:5]}"
        f", unexpected {sorted(set(ids) - set(expected))[:5]}"
    )
    position = {item_id: row for row, item_id in enumerate(corpus.ids)}
    for batch in batches:
        rows = [position[i] for i in batch.ids]
        assert np.allclose(batch.embeddings, corpus.embeddings[rows], atol=1e-6)
        metadata = batch.metadata or [None] * len(rows)
        for row, got in zip(rows, metadata):
            assert_same_metadata(got, corpus.metadata[row], corpus.ids[row])


def assert_same_metadata(got: dict[str, Any] | None, stored: dict[str, Any], item_id: Any) -> None:
    """Equal non-null fields; floats (in lists too) within 1e-12 relative (Chroma and Qdrant
    Edge return some 1 ULP off)."""
    want = {k: v for k, v in stored.items() if v is not None}
    have = {k: v for k, v in (got or {}).items() if v is not None}
    assert have.keys() == want.keys(), f"id {item_id}: fields {sorted(have)} != {sorted(want)}"
    for key, value in want.items():
        assert _same_value(have[key], value), f"id {item_id}: {key}: {have[key]!r} != {value!r}"


def _same_value(have: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(have, float):
        return math.isclose(have, want, rel_tol=1e-12)
    if isinstance(want, list) and isinstance(have, list) and len(have) == len(want):
        return all(map(_same_value, have, want))
    return (type(have), have) == (type(want), want)


def pagination_size(matching: int) -> int:
    """A batch size that splits the result into a few pages (at least 7 rows each)."""
    return max(7, -(-matching // 3))


class ScanConformance:
    """`scan` / `count` checks; the class using it provides `conformance` and `make_source`."""

    unsupported: frozenset[str] = frozenset()

    @pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.name)
    def test_scan_filter_case(
        self, conformance: ConformanceCorpus, make_source: Factory, case: FilterCase
    ) -> None:
        if case.needs & self.unsupported:
            with pytest.raises(UnsupportedFilterError):
                list(make_source(k=1, filter=case.filter).scan())
            return
        source = make_source(k=1, filter=case.filter)
        matching = len(accepted_ids(conformance, case.filter))
        for batch_size in (pagination_size(matching), SCAN_BATCH):
            assert_scan_matches(conformance, source, case.filter, batch_size)
        assert source.count() == matching

    @pytest.mark.parametrize("flt", [None, {"bucket": {"$lt": 20}}], ids=["all", "selective"])
    def test_scan_pages_of_seven(
        self, conformance: ConformanceCorpus, make_source: Factory, flt: Any
    ) -> None:
        source = make_source(k=1, filter=flt)
        assert_scan_matches(conformance, source, flt, 7)
        assert source.count() == len(accepted_ids(conformance, flt))

    def test_always_false_scan_makes_no_database_call(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        source = make_source(k=1, filter=ALWAYS_FALSE)

        def forbidden(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the database was called for an always-false filter")

        source._scan = source._count = source._partition_bounds = forbidden
        assert list(source.scan(7)) == []
        assert source.count() == 0
        assert source.partitions(3) == []

    @pytest.mark.parametrize("flt", PARTITION_FILTERS.values(), ids=list(PARTITION_FILTERS))
    def test_parts_together_are_the_scan(
        self, conformance: ConformanceCorpus, make_source: Factory, flt: Any
    ) -> None:
        source, reader = make_source(k=1, filter=flt), make_source(k=1, filter=flt)
        expected = accepted_ids(conformance, flt)
        batch_size = pagination_size(len(expected))
        full = [i for batch in scanned(source, batch_size) for i in batch.ids]
        assert sorted(full) == sorted(expected)
        for count in PARTITION_COUNTS:
            parts = source.partitions(count)
            assert 1 <= len(parts) <= count, f"{len(parts)} parts for count={count}"
            assert [part.number for part in parts] == list(range(len(parts)))
            joined = [  # each part read by another source, as another process would
                i
                for part in parts
                for batch in scanned(reader, batch_size, part)
                for i in batch.ids
            ]
            assert joined == full, (
                f"filter {flt!r}, {len(parts)} parts: {len(joined)} ids for {len(full)}, "
                f"repeated {sorted({i for i in joined if joined.count(i) > 1})[:5]}, "
                f"missing {sorted(set(full) - set(joined))[:5]}"
            )

    @pytest.mark.parametrize("case", list(NARROWED))
    def test_a_narrowed_source_holds_what_both_filters_accept(
        self, conformance: ConformanceCorpus, make_source: Factory, case: str
    ) -> None:
        first, further = NARROWED[case]
        both = {"$and": [first, further]} if first else further
        source = make_source(k=1, filter=first)
        view = source.narrowed(further)
        expected = accepted_ids(conformance, both)
        assert_scan_matches(conformance, view, both, pagination_size(len(expected)))
        assert view.count() == len(expected)
        outside = [i for i in accepted_ids(conformance, first) if i not in set(expected)][:3]
        assert [item.id for item in view.fetch(expected[:5])] == expected[:5]
        with pytest.raises(ValueError, match="unknown ids"):
            view.fetch(outside)
        view.close()
        assert source.count() == len(accepted_ids(conformance, first))

    def test_narrowed_to_nothing_makes_no_database_call(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        view = make_source(k=1).narrowed(ALWAYS_FALSE)

        def forbidden(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the database was called for an always-false filter")

        view._scan = view._count = forbidden
        assert list(view.scan(7)) == [] and view.count() == 0

    @pytest.mark.parametrize("count", BAD_BATCH_SIZES, ids=repr)
    def test_partitions_reject_a_bad_count(self, make_source: Factory, count: Any) -> None:
        message = f"count must be a positive integer, got {count!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            make_source(k=1).partitions(count)

    def test_items_from_scan_rows_equal_knn_items(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        flt = {"tag": {"$in": ["red", "blue"]}}
        source = make_source(k=5, filter=flt)
        scanned_items = {
            item.id: item for batch in source.scan(50) for item in scan_to_items(batch)
        }
        for response in source(query_batch(conformance)):
            assert response.query_results
            for hit in response.query_results:
                row = scanned_items[hit.id]
                assert (row.id, row.item, row.data, row.score) == (
                    hit.id,
                    hit.item,
                    hit.data,
                    hit.score,
                )
                assert np.array_equal(row.embedding, hit.embedding)
                assert row.internal.distance is None

    @pytest.mark.parametrize("batch_size", BAD_BATCH_SIZES, ids=repr)
    def test_scan_rejects_a_bad_batch_size(self, make_source: Factory, batch_size: Any) -> None:
        source = make_source(k=1)
        message = f"batch_size must be a positive integer, got {batch_size!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            source.scan(batch_size)
