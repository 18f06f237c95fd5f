"""The base class compiles an adapter's filter: an adapter that never asks for it still
searches, scans, counts and fetches with the compiled filter."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters.base import MATCHES_NOTHING, QueryHits, VectorDataSource
from emb_opt.errors import UnsupportedFilterError
from emb_opt.filters import Filter, parse
from emb_opt.schemas import Query

FILTER = {"tag": "red"}


class Toy(VectorDataSource):
    """An adapter whose `_compile` wraps the IR and whose reads record the filter they get;
    it never calls `_compile_filter` itself."""

    def __init__(self, filter=None, refuse: bool = False) -> None:
        super().__init__(k=1, filter=filter)
        self.refuse, self.seen, self.compiled, self.closed = refuse, [], [], False

    @property
    def dimension(self) -> int:
        return 2

    def _compile(self, flt: Filter):
        if self.refuse:
            raise UnsupportedFilterError(f"Toy cannot filter on {flt}")
        self.compiled.append(flt)
        return ("native", flt)

    def _filter_compiled(self) -> None:
        self.statement = f"WHERE {self.native_filter!r}"

    def _hits(self, read: str) -> QueryHits:
        self.seen.append((read, self.native_filter))
        return QueryHits([7], np.zeros(1), np.zeros((1, 2), np.float32))

    def _search(self, queries):
        return [self._hits("search") for _ in queries]

    def _scan(self, batch_size, bounds=None):
        yield self._hits("scan")

    def _count(self) -> int:
        self._hits("count")
        return 1

    def _find(self, ids):
        return self._hits("fetch")

    def close(self) -> None:
        self.closed = True


def test_every_read_gets_the_filter_the_adapter_compiles():
    source = Toy(FILTER)
    source([Query(embedding=np.zeros(2))])
    list(source.scan())
    source.count()
    source.fetch([7])
    native = ("native", parse(FILTER))
    assert source.seen == [(read, native) for read in ("search", "scan", "count", "fetch")]
    assert source.compiled == [parse(FILTER)]  # once, when the adapter was built
    assert source.statement == f"WHERE {native!r}"


def test_a_narrowed_copy_gets_both_filters_compiled():
    view = Toy(FILTER).narrowed({"n": {"$gt": 1}})
    list(view.scan())
    both = parse({"tag": "red", "n": {"$gt": 1}})
    assert view.seen == [("scan", ("native", both))]
    assert view.statement == f"WHERE {('native', both)!r}"


def test_a_filter_that_matches_nothing_reaches_neither_compile_nor_the_engine():
    source = Toy({"tag": {"$in": []}})
    assert source.native_filter is MATCHES_NOTHING and source.compiled == []
    assert source([Query(embedding=np.zeros(2))])[0].query_results == []
    assert source.count() == 0 and list(source.scan()) == [] and source.seen == []


def test_a_filter_the_adapter_refuses_fails_its_construction_and_closes_it():
    built: list[Toy] = []

    class Refusing(Toy):
        def __init__(self, filter) -> None:
            super().__init__(filter, refuse=True)
            built.append(self)

    with pytest.raises(UnsupportedFilterError, match="Toy cannot filter"):
        Refusing(FILTER)
    assert [source.closed for source in built] == [True]
