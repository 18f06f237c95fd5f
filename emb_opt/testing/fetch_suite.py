"""Conformance checks for `fetch`, mixed into `DataSourceConformance`.

`fetch(ids)` returns the items of `ids` in the order asked (an id asked twice, twice), with
the corpus vectors and metadata; it reads them `fetch_batch` at a time; and an id the
collection lacks, one of a kind it cannot hold and one whose item the filter rejects are
alike unknown: one `UnknownIdError` naming them all. String ids are checked on a collection
of their own, made by `load_source`; `string_ids` says which the backend holds ("any": any
text, tricky ones included; "uuid": UUIDs only, as Qdrant).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ..errors import UnknownIdError
from .corpus import TRICKY_STRINGS, ConformanceCorpus
from .scan_suite import ALWAYS_FALSE, accepted_ids, assert_same_metadata

Factory = Callable[..., Any]
Loader = Callable[[ConformanceCorpus], Factory]
SOME = {"tag": {"$in": ["red", "blue"]}}
STRING_ROWS = 40


def assert_fetched(corpus: ConformanceCorpus, items: list[Any], ids: list[Any]) -> None:
    """`items` are the corpus rows of `ids`, in that order, with their vectors and metadata."""
    assert [item.id for item in items] == ids
    position = {item_id: row for row, item_id in enumerate(corpus.ids)}
    for item in items:
        row = position[item.id]
        assert np.allclose(item.embedding, corpus.embeddings[row], atol=1e-6)
        assert_same_metadata(item.data, corpus.metadata[row], item.id)
        assert item.internal.distance in (None, 0.0)


def string_corpus(corpus: ConformanceCorpus, kind: str) -> ConformanceCorpus:
    """The first `STRING_ROWS` rows of `corpus` under string ids of `kind`."""
    if kind == "uuid":
        rng = np.random.default_rng(3)
        ids: list[Any] = [str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(STRING_ROWS)]
    else:
        tricky = [text for text in TRICKY_STRINGS if text]  # an id is never empty
        ids = [*tricky, "7", "-1", " padded ", "x" * 300]
        ids += [f"item {row}" for row in range(len(ids), STRING_ROWS)]
    rows = slice(0, STRING_ROWS)
    return ConformanceCorpus(corpus.embeddings[rows], ids, corpus.metadata[rows])


class FetchConformance:
    """`fetch` checks; the class using it provides `conformance`, `make_source` and
    `load_source`."""

    string_ids = "any"

    def test_fetch_returns_the_items_asked_for_in_order(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        rng = np.random.default_rng(2)
        ids = [conformance.ids[row] for row in rng.permutation(len(conformance.ids))[:60]]
        assert_fetched(conformance, make_source(k=1).fetch(ids), ids)
        assert make_source(k=1).fetch([]) == []

    def test_an_id_asked_twice_gives_two_items(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        ids = [conformance.ids[5], conformance.ids[9], conformance.ids[5]]
        items = make_source(k=1).fetch(ids)
        assert_fetched(conformance, items, ids)
        assert items[0] is not items[2]

    def test_integer_ids_of_any_integer_type(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        ids = [conformance.ids[3], conformance.ids[12]]
        items = make_source(k=1).fetch(np.array(ids, dtype=np.int64))
        assert_fetched(conformance, items, ids)

    def test_unknown_ids_are_one_error_naming_them(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        known = conformance.ids[:3]
        unknown = [10**6, "no such id", -1, True, 2**70, 4.5, None]
        asked = [known[0], *unknown[:3], known[1], *unknown[3:], known[2]]
        with pytest.raises(UnknownIdError) as refused:
            make_source(k=1).fetch(asked)
        assert refused.value.ids == unknown
        assert isinstance(refused.value, ValueError)
        message = str(refused.value)
        assert "unknown ids" in message and "1000000" in message and "'no such id'" in message

    def test_an_item_the_filter_rejects_is_unknown(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        source = make_source(k=1, filter=SOME)
        accepted = accepted_ids(conformance, SOME)
        rejected = [i for i in conformance.ids if i not in set(accepted)][:4]
        assert_fetched(conformance, source.fetch(accepted[:30]), accepted[:30])
        with pytest.raises(UnknownIdError, match="that passes its filter") as refused:
            source.fetch([accepted[0], *rejected, accepted[1]])
        assert refused.value.ids == rejected

    def test_an_always_false_filter_fetches_nothing_without_a_database_call(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        source = make_source(k=1, filter=ALWAYS_FALSE)

        def forbidden(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the database was called for an always-false filter")

        source._find = forbidden
        with pytest.raises(UnknownIdError) as refused:
            source.fetch(conformance.ids[:2])
        assert refused.value.ids == conformance.ids[:2]

    def test_more_ids_than_one_read_takes(
        self, conformance: ConformanceCorpus, make_source: Factory
    ) -> None:
        source = make_source(k=1)
        order = np.random.default_rng(4).permutation(len(conformance.ids))
        ids = [conformance.ids[row] for row in order]
        assert len(ids) > source.fetch_batch
        assert_fetched(conformance, source.fetch(ids), ids)
        reads: list[int] = []
        find = source._find

        def counted(some: list[Any]) -> Any:
            reads.append(len(some))
            return find(some)

        source._find = counted
        source.fetch_batch = 7
        with pytest.raises(UnknownIdError):
            source.fetch([*ids[:50], 10**6])
        assert reads == [7] * 7 + [2]
        reads.clear()
        assert_fetched(conformance, source.fetch(ids[:50]), ids[:50])
        assert reads == [7] * 7 + [1]

    def test_string_ids_as_the_backend_stores_them(
        self, conformance: ConformanceCorpus, load_source: Loader
    ) -> None:
        corpus = string_corpus(conformance, self.string_ids)
        source = load_source(corpus)(k=1)
        ids = list(reversed(corpus.ids))
        assert_fetched(corpus, source.fetch(ids), ids)
        with pytest.raises(UnknownIdError) as refused:
            source.fetch([ids[0], "not stored", 7, ids[1]])
        assert refused.value.ids == ["not stored", 7]
        flt = {"n": {"$lt": 5}}
        accepted = set(accepted_ids(corpus, flt))
        kept = [i for i in ids if i in accepted]
        filtered = load_source(corpus)(k=1, filter=flt)
        assert_fetched(corpus, filtered.fetch(kept), kept)
        rejected = next(i for i in ids if i not in accepted)
        with pytest.raises(UnknownIdError):
            filtered.fetch([rejected])
