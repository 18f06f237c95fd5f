"""Milvus collections made by quick setup (`create_collection(name, dimension=...)`).

Every metadata key lives in the dynamic field with no kinds recorded, nulls are stored as
given, and some rows lack keys. On Milvus Lite the adapter learns the kinds of the keys a
filter compares from a sample of rows or from `field_kinds`; the 2.3.5 server compares
JSON values by type and needs none. Either way: few refusals, no wrong id.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from engines import unique
from hypothesis import HealthCheck, given, settings
from pymilvus import MilvusClient

from emb_opt.adapters.milvus import MilvusDataSource, connect
from emb_opt.adapters.spec import SourceSpec
from emb_opt.errors import UnsupportedFilterError
from emb_opt.filters import matches, parse
from emb_opt.testing import FILTER_CASES, ConformanceCorpus, conformance_corpus
from emb_opt.testing.suite import query_batch, random_filters

pytestmark = pytest.mark.engine  # starts a real database server

RANDOM_TREES = 100
MOST_REFUSED = 0.05
K = 5


@pytest.fixture(scope="module", params=["lite", "server"])
def client(request, tmp_path_factory):
    if request.param == "server":
        return MilvusClient(uri=request.getfixturevalue("milvus_server").uri)
    return MilvusClient(str(tmp_path_factory.mktemp("lite") / "lite.db"))


def is_lite(client: MilvusClient) -> bool:
    return client.get_server_version().startswith("milvus_lite")


def quick_setup(client: MilvusClient, corpus: ConformanceCorpus) -> str:
    """A collection as `MilvusClient` quick setup makes it, holding `corpus` as given."""
    name = unique("quick")
    client.create_collection(name, dimension=corpus.dimension, metric_type="L2")
    client.insert(
        name,
        [
            {"id": i, "vector": vector.tolist(), **row}
            for i, vector, row in zip(corpus.ids, corpus.embeddings, corpus.metadata)
        ],
    )
    client.flush(name)
    return name


@pytest.fixture(scope="module")
def quick(client):
    corpus = conformance_corpus(2000)
    return corpus, quick_setup(client, corpus)


def random_trees(count: int) -> list[Any]:
    """`count` filter trees from the conformance suite's generator, the same every run."""
    trees: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(flt=random_filters())
    def collect(flt: Any) -> None:
        if flt not in trees:
            trees.append(flt)

    collect()
    return trees


def wrong_ids(corpus: ConformanceCorpus, source: MilvusDataSource, flt: Any) -> set[Any]:
    """Ids the source returns or misses against the reference: every id its filter accepts
    (a scan) and the kNN hits of four queries."""
    compiled = parse(flt)
    expected = {i for i, row in zip(corpus.ids, corpus.metadata) if matches(compiled, row)}
    scanned = {i for batch in source.scan() for i in batch.ids}
    hits = {item.id for response in source(query_batch(corpus)) for item in response.query_results}
    return (scanned ^ expected) | (hits - expected)


def test_random_filters_are_answered_exactly_with_few_refusals(client, quick):
    corpus, name = quick
    trees = random_trees(RANDOM_TREES)
    assert len(trees) >= 80
    refused, unknown_refused, wrong = [], 0, {}
    for flt in trees:
        try:
            MilvusDataSource(client, name, k=K, filter=flt, kind_sample=0)
        except UnsupportedFilterError:
            unknown_refused += 1  # what kinds unknown (the adapter before sampling) refuses
        try:
            source = MilvusDataSource(client, name, k=K, filter=flt)
        except UnsupportedFilterError:
            refused.append(flt)
            continue
        if found := wrong_ids(corpus, source, flt):
            wrong[repr(flt)] = sorted(found)[:10]
    print(
        f"\n{client.get_server_version()}: {len(trees)} random filters; refused "
        f"{unknown_refused} with kinds unknown, {len(refused)} with kinds sampled"
    )
    assert wrong == {}
    assert len(refused) <= MOST_REFUSED * len(trees), refused


def test_filter_table_is_answered_exactly(client, quick):
    """Cross-kind comparisons (True vs 1, "3" vs 3), missing keys and injection strings.

    Only a key that no row holds stays of unknown kind, so Lite refuses `no_such_field == 1`.
    """
    corpus, name = quick
    refused = set()
    for case in FILTER_CASES:
        try:
            source = MilvusDataSource(client, name, k=K, filter=case.filter)
        except UnsupportedFilterError:
            refused.add(case.name)
            continue
        assert wrong_ids(corpus, source, case.filter) == set(), case.name
    unseen = {"missing_field_positive", "missing_field_negative"}
    assert refused == (unseen if is_lite(client) else set())


def test_declared_kinds_join_the_sampled_ones(client, quick):
    _, name = quick
    source = MilvusDataSource(
        client, name, filter={"n": 1, "flag": True}, field_kinds={"n": "number"}
    )
    expected = {"n": "number", "flag": "bool"} if is_lite(client) else {}
    assert source.schema.kinds == expected  # servers compare JSON values by type


def test_declared_kinds_that_contradict_the_rows_never_give_wrong_ids(client, quick):
    corpus, name = quick
    contradicting = {"flag": "number", "tag": "bool", "rand": "str"}
    for flt in ({"flag": True}, {"flag": 1}, {"tag": {"$ne": True}}, {"rand": {"$lt": 0.5}}):
        if is_lite(client):
            with pytest.raises(ValueError, match=r"field_kinds says .* but the collection's rows"):
                MilvusDataSource(client, name, filter=flt, field_kinds=contradicting)
        else:
            source = MilvusDataSource(client, name, filter=flt, field_kinds=contradicting)
            assert wrong_ids(corpus, source, flt) == set()


def test_a_sample_short_of_every_row_settles_no_kind(tmp_path):
    """Bools in the sampled rows, ints beyond: `x` stays unknown, so Lite refuses what
    it would compare like Python (True == 1) and answers the rest exactly."""
    client = MilvusClient(str(tmp_path / "lite.db"))
    corpus = conformance_corpus(60)
    rows = [{"x": i % 2 == 0} if i < 40 else {"x": i % 2} for i in range(60)]
    corpus = ConformanceCorpus(corpus.embeddings, corpus.ids, rows)
    name = quick_setup(client, corpus)
    for flt in ({"x": True}, {"x": 1}, {"x": {"$ne": 0}}):
        with pytest.raises(UnsupportedFilterError, match="kind of field 'x' is unknown"):
            MilvusDataSource(client, name, filter=flt, kind_sample=30)
        with pytest.raises(UnsupportedFilterError, match="'x' holds values of several kinds"):
            MilvusDataSource(client, name, filter=flt)
    source = MilvusDataSource(client, name, k=K, filter={"x": {"$in": [3, 5]}}, kind_sample=30)
    assert wrong_ids(corpus, source, {"x": {"$in": [3, 5]}}) == set()
    with pytest.raises(ValueError, match="kind_sample must be an int from 0 to 16384"):
        MilvusDataSource(client, name, kind_sample=20_000)


def test_a_config_declares_kinds_in_its_source_options(tmp_path):
    corpus = conformance_corpus(50)
    path = tmp_path / "lite.db"
    name = quick_setup(MilvusClient(str(path)), corpus)
    source = SourceSpec(
        backend="milvus",
        path=str(path),
        collection=name,
        filter={"flag": True},
        options={"field_kinds": {"flag": "bool"}, "kind_sample": 0},
    )
    with connect(source) as adapter:
        assert adapter.schema.kinds == {"flag": "bool"}
        assert adapter.expression == "flag == true"
    wrong = replace(source, options={"field_kinds": {"flag": "str"}})
    with pytest.raises(ValueError, match=r"'flag' holds str values, but .* hold bool values"):
        connect(wrong)
