"""The adapter conformance suite. An adapter's test module subclasses it and provides a loader:

    class TestMyAdapter(DataSourceConformance):
        unsupported = frozenset()          # capabilities from emb_opt.testing.cases it lacks
        string_ids = "any"                 # the string ids it holds: "any" or "uuid"

        @pytest.fixture(scope="class")
        @classmethod
        def load_source(cls, tmp_path_factory):
            def load(corpus):                # a ConformanceCorpus: embeddings, ids, metadata
                ...                          # a new collection holding it
                def make(k, filter=None, distance_cutoff=None):
                    return MyDataSource(..., k=k, filter=filter, distance_cutoff=distance_cutoff)
                return make
            return load

`make_source` (the factory over the conformance corpus) is `load_source(conformance)` unless
the class provides it too. Every check compares with exact euclidean kNN over the items the
reference evaluator accepts; the scan checks (`emb_opt.testing.scan_suite`) compare scans
with the accepted items, the fetch checks (`emb_opt.testing.fetch_suite`) fetched items with
the corpus rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..errors import UnsupportedFilterError
from ..filters import matches, parse
from ..protocols import DataSource, Describable, Fetchable, Narrowable, Sampleable, Searchable
from ..schemas import Query
from .cases import FILTER_CASES, FilterCase, capabilities_needed
from .corpus import (
    RARE_BUCKET,
    TRICKY_STRINGS,
    ConformanceCorpus,
    conformance_corpus,
    query_batch,
)
from .fetch_suite import FetchConformance, Loader
from .fields_suite import FieldConformance
from .scan_suite import ScanConformance

Factory = Callable[..., Any]
K = 5


def expected_neighbours(
    corpus: ConformanceCorpus, query: np.ndarray, flt: Any, k: int
) -> tuple[list[Any], np.ndarray]:
    """Ids and distances of the exact k nearest items the filter accepts."""
    compiled = parse(flt)
    accepted = np.array([matches(compiled, row) for row in corpus.metadata], dtype=bool)
    rows = np.flatnonzero(accepted)
    distances = np.linalg.norm(corpus.embeddings[rows].astype(np.float64) - query, axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return [corpus.ids[r] for r in rows[order]], distances[order]


def assert_same_neighbours(corpus: ConformanceCorpus, source: Searchable, flt: Any, k: int) -> None:
    queries = query_batch(corpus)
    responses = source(queries)
    assert len(responses) == len(queries)
    for query, response in zip(queries, responses):
        ids, distances = expected_neighbours(corpus, query.embedding, flt, k)
        got = [item.id for item in response.query_results]
        assert Counter(got) == Counter(ids), f"filter {flt!r}: got {got}, expected {ids}"
        got_distances = [item.internal.distance for item in response.query_results]
        assert got_distances == pytest.approx(list(distances), rel=1e-4, abs=1e-4)


@st.composite
def random_filters(draw: Any, depth: int = 2) -> Any:
    """Random plain-data filters over the conformance fields."""
    if depth == 0 or draw(st.booleans()):
        field, values = draw(
            st.sampled_from(
                [
                    ("rand", st.floats(0, 1, allow_nan=False).map(lambda v: round(v, 2))),
                    ("n", st.integers(0, 9)),
                    ("price", st.integers(0, 49)),
                    ("flag", st.booleans()),
                    ("tag", st.sampled_from(TRICKY_STRINGS)),
                ]
            )
        )
        numeric = field in ("rand", "n", "price")
        op = draw(
            st.sampled_from(
                ["$eq", "$ne", "$in", "$nin"] + (["$lt", "$lte", "$gt", "$gte"] if numeric else [])
            )
        )
        if op in ("$in", "$nin"):
            return {field: {op: draw(st.lists(values, min_size=1, max_size=3))}}
        return {field: {op: draw(values)}}
    children = draw(st.lists(random_filters(depth=depth - 1), min_size=1, max_size=3))
    logic = draw(st.sampled_from(["$and", "$or", "$not"]))
    return {"$not": children[0]} if logic == "$not" else {logic: children}


class DataSourceConformance(ScanConformance, FetchConformance, FieldConformance):
    """Checks every adapter must pass; subclasses provide `load_source` and `unsupported`.

    The kNN checks live here, the `scan` / `count` checks in `ScanConformance`, the `fetch`
    checks in `FetchConformance`, the `stored_fields` and projected scan checks in
    `FieldConformance`.
    """

    unsupported: frozenset[str] = frozenset()
    property_examples = 40

    @pytest.fixture(scope="class")
    @classmethod
    def conformance(cls) -> ConformanceCorpus:
        return conformance_corpus()

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls) -> Loader:
        raise NotImplementedError("a conformance test class must provide load_source")

    @pytest.fixture(scope="class")
    @classmethod
    def make_source(cls, conformance: ConformanceCorpus, load_source: Loader) -> Factory:
        return load_source(conformance)

    @pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.name)
    def test_filter_case(
        self, conformance: ConformanceCorpus, make_source: Factory, case: FilterCase
    ) -> None:
        if case.needs & self.unsupported:
            with pytest.raises(UnsupportedFilterError):
                make_source(k=K, filter=case.filter)(query_batch(conformance))
            return
        assert_same_neighbours(conformance, make_source(k=K, filter=case.filter), case.filter, K)

    @pytest.mark.parametrize("flt", [{"bucket": RARE_BUCKET}, {"bucket": {"$lt": 20}}])
    def test_selective_filter_still_fills_k(
        self, conformance: ConformanceCorpus, make_source: Factory, flt: Any
    ) -> None:
        source = make_source(k=K, filter=flt)
        matching = sum(matches(parse(flt), row) for row in conformance.metadata)
        for response in source(query_batch(conformance)):
            assert len(response.query_results) == min(K, matching)
        assert_same_neighbours(conformance, source, flt, K)

    def test_random_filters_match_the_reference(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        @settings(
            max_examples=self.property_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(flt=random_filters())
        def check(flt: Any) -> None:
            try:
                source = make_source(k=K, filter=flt)
                assert_same_neighbours(conformance, source, flt, K)
            except UnsupportedFilterError:
                assert capabilities_needed(flt) & self.unsupported, (
                    f"unexpectedly unsupported: {flt!r}"
                )

        check()

    def test_always_false_filter_makes_no_database_call(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        source = make_source(k=K, filter={"$and": [{"n": 1}, {"tag": {"$in": []}}]})

        def forbidden(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the database was called for an always-false filter")

        source._search = forbidden
        assert [r.query_results for r in source(query_batch(conformance))] == [[]] * 4

    def test_unfiltered_results_are_the_nearest_with_euclidean_distances(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        source = make_source(k=K)
        assert source.dimension == conformance.dimension
        assert_same_neighbours(conformance, source, None, K)

    def test_results_carry_embedding_and_metadata(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        for response in make_source(k=K)(query_batch(conformance)):
            for item in response.query_results:
                row = conformance.ids.index(item.id)
                assert np.allclose(item.embedding, conformance.embeddings[row], atol=1e-6)
                stored = {k: v for k, v in conformance.metadata[row].items() if v is not None}
                data = {k: v for k, v in (item.data or {}).items() if k in stored}
                assert data == pytest.approx(stored)

    def test_distance_cutoff_keeps_only_closer_items(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        queries = query_batch(conformance)
        full = make_source(k=K)(queries)
        cutoff = float(np.median([r.query_results[2].internal.distance for r in full]))
        cut = make_source(k=K, distance_cutoff=cutoff)(queries)
        for whole, part in zip(full, cut):
            kept = [i.id for i in whole.query_results if i.internal.distance <= cutoff]
            assert [i.id for i in part.query_results] == pytest.approx(kept)
            assert all(i.internal.distance <= cutoff for i in part.query_results)

    def test_implements_the_tiers_the_core_reads(self, make_source: Factory) -> None:
        source = make_source(k=K)
        for tier in (DataSource, Sampleable, Fetchable, Narrowable, Describable):
            assert isinstance(source, tier), f"{type(source).__name__} is no {tier.__name__}"

    def test_wrong_dimension_is_a_clear_error(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        wrong = conformance.dimension + 3
        with pytest.raises(
            ValueError, match=f"dimension {wrong}, expected {conformance.dimension}"
        ):
            make_source(k=K)([Query(embedding=np.zeros(wrong))])

    def test_sample_returns_distinct_items_passing_the_filter(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        flt = {"tag": {"$in": ["red", "blue"]}}
        items = make_source(k=K, filter=flt).sample(20, seed=1)
        assert len(items) == 20 == len({item.id for item in items})
        for item in items:
            assert matches(parse(flt), conformance.metadata[conformance.ids.index(item.id)])
