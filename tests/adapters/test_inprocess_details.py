"""Details of the in-process adapters beyond the conformance suite: metrics, fetch, protocol."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters import DataSource, scan_to_items
from emb_opt.adapters.faiss import FaissDataSource, import_faiss
from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.adapters.spec import SourceSpec
from emb_opt.schemas import Query


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).standard_normal((500, 12)).astype(np.float32)


@pytest.mark.parametrize(
    ("metric", "distance"),
    [
        ("l2", lambda x, q: np.linalg.norm(x - q, axis=1)),
        ("cosine", lambda x, q: 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))),
        ("ip", lambda x, q: -(x @ q)),
    ],
)
def test_numpy_metrics_rank_by_smaller_is_closer(vectors, metric, distance):
    query = np.random.default_rng(1).standard_normal(12)
    (response,) = NumpyDataSource(vectors, k=7, metric=metric)([Query(embedding=query)])
    expected = distance(vectors.astype(np.float64), query)
    order = np.argsort(expected)[:7]
    assert [item.id for item in response.query_results] == order.tolist()
    got = [item.internal.distance for item in response.query_results]
    assert got == pytest.approx(expected[order], rel=1e-4, abs=1e-4)
    assert response.data == {"metric": metric}


def test_faiss_inner_product_index_reports_minus_the_product(vectors):
    faiss = import_faiss()
    index = faiss.IndexFlatIP(12)
    index.add(vectors)
    query = vectors[3] * 2
    (response,) = FaissDataSource(index, k=3)([Query(embedding=query)])
    assert response.data == {"metric": "ip"}
    first = response.query_results[0]
    assert first.internal.distance == pytest.approx(-float(vectors[first.id] @ query), rel=1e-5)


def test_adapters_satisfy_the_protocol_and_fetch_by_id(vectors):
    source = NumpyDataSource(vectors, k=3, ids=[f"item-{i}" for i in range(500)])
    assert isinstance(source, DataSource)
    items = source.fetch(["item-7", "item-2"])
    assert [i.id for i in items] == ["item-7", "item-2"]
    assert np.array_equal(items[0].embedding, vectors[7])
    with pytest.raises(ValueError, match=r"unknown ids \['nope'\]"):
        source.fetch(["nope"])


def test_bad_construction_arguments_are_named(vectors):
    with pytest.raises(ValueError, match="metric must be one of l2, cosine, ip, got 'manhattan'"):
        NumpyDataSource(vectors, metric="manhattan")
    with pytest.raises(ValueError, match="ids has 3 entries but the index holds 500 vectors"):
        NumpyDataSource(vectors, ids=[1, 2, 3])
    with pytest.raises(ValueError, match="distance_cutoff must be a finite number"):
        NumpyDataSource(vectors, distance_cutoff=float("nan"))


def test_faiss_scan_reads_vectors_back_from_the_index(vectors):
    faiss = import_faiss()
    index = faiss.IndexFlatL2(12)
    index.add(vectors)
    for flt, expected in ((None, np.arange(500)), ({"n": 2}, np.arange(2, 500, 5))):
        source = FaissDataSource(index, metadata=[{"n": i % 5} for i in range(500)], filter=flt)
        batches = list(source.scan(np.int64(7)))
        assert [len(b.ids) for b in batches[:-1]] == [7] * (len(batches) - 1)
        assert [i for b in batches for i in b.ids] == expected.tolist()
        assert np.array_equal(np.concatenate([b.embeddings for b in batches]), vectors[expected])
        assert source.count() == len(expected)


def test_unfiltered_numpy_scan_is_a_read_only_view_with_items(vectors):
    items = [f"item {i}" for i in range(500)]
    source = NumpyDataSource(vectors, ids=[f"id-{i}" for i in range(500)], items=items)
    (batch,) = source.scan()
    assert batch.ids[:2] == ["id-0", "id-1"] and batch.items == items and batch.metadata is None
    assert np.shares_memory(batch.embeddings, vectors) and not batch.embeddings.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        batch.embeddings[0, 0] = 1.0
    assert source.embeddings.flags.writeable  # the source's own matrix stays writeable
    (item, *_) = scan_to_items(batch)
    assert (item.id, item.item, item.data, item.internal.distance) == ("id-0", "item 0", None, None)


def test_huggingface_scan_carries_the_item_column():
    from datasets import Dataset

    from emb_opt.adapters.huggingface import HuggingFaceDataSource

    rng = np.random.default_rng(3)
    embeddings = rng.standard_normal((40, 4)).astype(np.float32)
    dataset = Dataset.from_dict(
        {"embedding": list(embeddings), "text": [f"t{i}" for i in range(40)], "n": list(range(40))}
    )
    dataset.add_faiss_index("embedding")
    source = HuggingFaceDataSource(dataset, item_key="text", filter={"n": {"$gte": 30}})
    batches = list(source.scan(4))
    assert [b.ids for b in batches] == [[30, 31, 32, 33], [34, 35, 36, 37], [38, 39]]
    assert batches[0].items == ["t30", "t31", "t32", "t33"]
    assert batches[0].metadata[0] == {"n": 30}
    assert np.allclose(np.concatenate([b.embeddings for b in batches]), embeddings[30:])
    unfiltered = HuggingFaceDataSource(dataset, item_key="text")
    assert [len(b.ids) for b in unfiltered.scan(16)] == [16, 16, 8] and unfiltered.count() == 40


@pytest.mark.parametrize("enabled", [True, False])
def test_huggingface_prints_no_progress_bars_and_keeps_the_global_setting(capfd, enabled):
    """No tqdm bar when the CLI builds the dataset and index, nor per search; the user's
    `datasets` progress-bar setting is untouched."""
    import datasets

    from emb_opt.adapters.huggingface import connect
    from emb_opt.config.backends import source_spec
    from emb_opt.config.schema import SourceConfig
    from emb_opt.utils import build_batch_from_embeddings

    was_enabled = datasets.is_progress_bar_enabled()
    (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
    try:
        config = {"backend": "hf", "k": 10, "data": {"kind": "synthetic", "n": 3000, "dim": 8}}
        source = connect(source_spec(SourceConfig.model_validate(config)))
        queries = build_batch_from_embeddings(np.random.default_rng(0).standard_normal((10, 8)))
        for _ in range(2):
            source(queries.model_copy(deep=True))
        assert datasets.is_progress_bar_enabled() == enabled
    finally:
        (datasets.enable_progress_bars if was_enabled else datasets.disable_progress_bars)()
    err = capfd.readouterr().err
    assert "it/s" not in err and "%|" not in err, err


@pytest.mark.parametrize("backend", ["numpy", "faiss", "hf"])
def test_in_process_sources_travel_by_value_and_answer_the_same(backend):
    """What a Ray task receives: the source itself, pickled (its filter mask already built)."""
    import functools
    import pickle

    from emb_opt.config.build import open_source
    from emb_opt.synthetic import random_corpus

    spec = SourceSpec(
        backend=backend,
        k=5,
        filter={"rand": {"$lt": 0.5}},
        data=functools.partial(random_corpus, 600, 8, 3),
        options={"index": "HNSW16"} if backend == "faiss" else {},
    )
    source = open_source(spec)
    source.count()  # the mask and its columns exist before pickling
    copy = pickle.loads(pickle.dumps(source.opener()))()
    assert copy is not source
    queries = [Query(embedding=q) for q in np.random.default_rng(4).standard_normal((3, 8))]
    for mine, theirs in zip(source(queries), copy(queries)):
        assert [i.id for i in mine.query_results] == [i.id for i in theirs.query_results]
    parts = source.partitions(3)
    assert [i for p in parts for b in copy.scan(50, p) for i in b.ids] == [
        i for b in source.scan(50) for i in b.ids
    ]


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_a_memory_mapped_matrix_travels_as_its_file(tmp_path, vectors, metric):
    import pickle

    np.save(tmp_path / "x.npy", vectors)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    source = NumpyDataSource(np.asarray(mapped, dtype=np.float32), k=4, metric=metric)
    sent = pickle.dumps(source)
    assert len(sent) < vectors.nbytes  # the file's name, not its rows
    copy = pickle.loads(sent)
    assert isinstance(copy.embeddings.base, np.memmap) and not copy.embeddings.flags.writeable
    assert np.array_equal(copy.embeddings, vectors)
    query = [Query(embedding=vectors[3] + 0.01)]
    assert [i.id for i in copy(query)[0].query_results] == [
        i.id for i in source(query)[0].query_results
    ]
    rows = pickle.loads(pickle.dumps(NumpyDataSource(mapped[100:200], k=2)))  # an inner region
    assert isinstance(rows.embeddings.base, np.memmap)
    assert np.array_equal(rows.embeddings, vectors[100:200])
    in_memory = pickle.loads(pickle.dumps(NumpyDataSource(vectors[10:20], k=2)))
    assert np.array_equal(in_memory.embeddings, vectors[10:20])


def test_a_memory_mapped_source_scans_a_batch_at_a_time_and_sends_no_derived_rows(
    tmp_path, monkeypatch
):
    import pickle

    from emb_opt.adapters import numpy as numpy_adapter

    monkeypatch.setattr(numpy_adapter, "RELEASE_BYTES", 1)  # let go after every batch

    vectors = np.random.default_rng(2).standard_normal((100_000, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", vectors)
    source = NumpyDataSource(np.load(tmp_path / "x.npy", mmap_mode="r"), k=3)
    resident = []
    for batch in source.scan(1000):
        first, last = batch.ids[0], batch.ids[-1] + 1
        assert np.array_equal(batch.embeddings, vectors[first:last])
        resident.append(_resident_kb(tmp_path / "x.npy"))
    if resident[-1] is None:
        pytest.skip("no /proc/self/smaps here to read the resident pages from")
    assert max(resident) < 8_000  # kB: a 256 kB batch and the read-ahead, not the 25.6 MB file
    source([Query(embedding=vectors[5])])  # an l2 search makes the squared norms
    assert len(pickle.dumps(source.opener())) < 10_000  # not the norms (800 kB), nor the rows


def _resident_kb(path) -> int | None:
    """Kilobytes of `path` resident in this process (from /proc/self/smaps), or None."""
    import re
    from pathlib import Path

    try:
        lines = Path("/proc/self/smaps").read_text().splitlines()
    except OSError:
        return None
    total, inside = 0, False
    for line in lines:
        if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):  # a mapping's first line ends in its file
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_a_copy_on_write_memory_map_is_sent_by_value(tmp_path, vectors):
    import pickle

    np.save(tmp_path / "x.npy", vectors)
    private = np.load(tmp_path / "x.npy", mmap_mode="c")
    private[0] = 7.0  # in this process only: another process must receive this row
    copy = pickle.loads(pickle.dumps(NumpyDataSource(private).opener()))()
    assert np.array_equal(copy.embeddings, private)


class CountedRows(list):
    """Metadata rows that count how often a row is read."""

    reads = 0

    def __getitem__(self, index):
        CountedRows.reads += 1
        return super().__getitem__(index)

    def __iter__(self):
        for row in super().__iter__():
            CountedRows.reads += 1
            yield row


@pytest.mark.parametrize("kind", ["numpy", "faiss"])
def test_a_projected_scan_slices_cached_columns_and_reads_no_row_again(vectors, kind):
    rows = CountedRows({"a": float(i), "v": [i, -i]} for i in range(len(vectors)))
    if kind == "numpy":
        source = NumpyDataSource(vectors, metadata=rows, filter={"a": {"$gte": 100}})
    else:
        index = import_faiss().IndexFlatL2(vectors.shape[1])
        index.add(vectors)
        source = FaissDataSource(index, metadata=rows, filter={"a": {"$gte": 100}})
    list(source.scan(64, fields=["a", "v"]))  # makes the columns (and the filter mask)
    CountedRows.reads = 0
    batches = list(source.scan(64, fields=["a", "v"]))
    assert CountedRows.reads == 0
    a = np.concatenate([batch.columns["a"] for batch in batches])
    assert a.tolist() == [float(i) for i in range(100, len(vectors))]
    v = np.concatenate([batch.columns["v"] for batch in batches])
    assert v.shape == (len(vectors) - 100, 2) and v[:, 1].tolist() == (-a).tolist()
    unfiltered = next(NumpyDataSource(vectors, metadata=rows).scan(50, fields=["a"]))
    assert not unfiltered.columns["a"].flags.writeable  # a view of the cached column


def test_a_value_the_projection_cannot_read_fails_only_where_it_is_scanned(vectors):
    from emb_opt.errors import FieldError

    rows = [{"a": float(i), "group": i % 2} for i in range(len(vectors))]
    rows[7]["a"] = "seven"  # in group 1
    rows[8]["a"] = [1.0, 2.0]  # in group 0
    ids = [f"id-{i}" for i in range(len(vectors))]
    even = NumpyDataSource(vectors, ids=ids, metadata=rows, filter={"group": 0})
    wrong = r"field 'a' of item 'id-8' holds \[1.0, 2.0\]: expected a number, as"
    with pytest.raises(FieldError, match=wrong):
        list(even.scan(100, fields=["a"]))
    rows[8]["a"] = 8.0
    even = NumpyDataSource(vectors, ids=ids, metadata=rows, filter={"group": 0})
    assert sum(len(b.ids) for b in even.scan(100, fields=["a"])) == len(vectors) // 2
    odd = NumpyDataSource(vectors, ids=ids, metadata=rows, filter={"group": 1})
    text = "field 'a' of item 'id-7' holds 'seven': expected a number"
    with pytest.raises(ValueError, match=text):
        list(odd.scan(100, fields=["a"]))


def test_a_row_source_whose_fetch_always_builds_metadata_projects_too(vectors):
    """An in-process adapter written before projections (`_fetch(rows, distances)`, as in
    docs/extending.md) scans columns all the same."""
    from emb_opt.adapters.rows import RowDataSource, RowTable

    class Plain(RowDataSource):
        def __init__(self, embeddings, metadata):
            super().__init__(3)
            self.embeddings = embeddings
            self.rows = RowTable(len(embeddings), metadata=metadata)

        @property
        def dimension(self):
            return self.embeddings.shape[1]

        def _nearest(self, queries, allowed):
            raise NotImplementedError

        def _fetch(self, rows, distances):
            return self.rows.hits(rows, distances, self.embeddings[rows])

    source = Plain(vectors, [{"a": i} for i in range(len(vectors))])
    (field,) = source.stored_fields()
    assert (field.name, field.kind, field.distinct) == ("a", "number", len(vectors))
    batches = list(source.scan(128, fields=["a"]))
    assert all(batch.metadata is None for batch in batches)
    assert np.concatenate([b.columns["a"] for b in batches]).tolist() == list(range(len(vectors)))
