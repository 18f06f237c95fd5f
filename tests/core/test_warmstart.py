"""Known scores looked up in the collection: by id, or by a metadata field (`start.key`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.config.schema import StartConfig
from emb_opt.errors import ConfigError
from emb_opt.warmstart import fetch_known, read_known

N = 40


def metadata() -> list[dict]:
    rows = [{"smiles": f"C{i}", "cid": 1000 + i, "tag": "a" if i % 2 else "b"} for i in range(N)]
    rows[8]["smiles"] = rows[3]["smiles"] = "CCO"  # one compound, two items
    rows[4]["cid"], rows[6]["cid"] = "1002", 1005.0  # the text of a number, a whole float
    return rows


def source(**options) -> NumpyDataSource:
    vectors = np.random.default_rng(0).standard_normal((N, 4)).astype(np.float32)
    return NumpyDataSource(vectors, k=3, metadata=metadata(), **options)


def found(known) -> list[tuple]:
    return [(item.id, score) for item, score, _ in known]


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "emb_opt.warmstart"]


def test_rows_are_found_by_a_metadata_field_a_batch_of_values_per_scan(caplog):
    where = source()
    narrowed = []
    narrow = where.narrowed
    where.narrowed = lambda flt: narrowed.append(flt) or narrow(flt)
    answers = [("C5", 0.5, None), ("C7", 0.7, None), ("C5", 0.6, None), ("C99", 0.1, None)]
    known = fetch_known(where, answers, key="smiles", batch=2)
    assert found(known) == [(5, 0.5), (7, 0.7), (5, 0.6)]
    assert narrowed == [{"smiles": {"$in": ["C5", "C7"]}}, {"smiles": {"$in": ["C99"]}}]
    assert warnings(caplog) == [
        "start.scores: skipped 1 row whose smiles value is not in the collection: C99"
    ]


def test_every_item_holding_the_value_gets_the_score():
    known = fetch_known(source(), [("CCO", 2.0, None), ("C9", None, "broken")], key="smiles")
    assert sorted(found(known)) == [(3, 2.0), (8, 2.0), (9, None)]
    assert [reason for _, _, reason in known if reason] == ["broken"]


def test_a_whole_number_matches_numbers_and_its_text():
    known = fetch_known(source(), [("1002", 1.0, None), ("1005", 2.0, None)], key="cid")
    assert sorted(found(known)) == [(2, 1.0), (4, 1.0), (5, 2.0), (6, 2.0)]


def test_the_source_filter_applies_to_lookups_by_key(caplog):
    known = fetch_known(
        source(filter={"tag": "a"}), [("C5", 1.0, None), ("C6", 2.0, None)], key="smiles"
    )
    assert found(known) == [(5, 1.0)]
    assert warnings(caplog) == [
        "start.scores: skipped 1 row whose smiles value is not in the collection "
        "(or fails the source's filter): C6"
    ]


def test_no_row_found_is_refused_naming_the_values():
    with pytest.raises(ConfigError) as refused:
        fetch_known(source(), [("X1", 1.0, None), ("X2", 2.0, None)], key="smiles")
    assert str(refused.value) == (
        "start.scores: no smiles value of the file is in the collection: X1, X2"
    )


def test_ids_that_only_look_like_numbers_are_text(caplog):
    vectors = np.eye(4, dtype=np.float32)
    ids = ["--5", "5", 7, "x"]
    where = NumpyDataSource(vectors, k=1, ids=ids)
    answers = [(text, 1.0, None) for text in ("--5", "5", "7", "٣", "1e3")]
    known = fetch_known(where, answers)
    assert found(known) == [("--5", 1.0), ("5", 1.0), (7, 1.0)]
    assert warnings(caplog) == [
        "start.scores: skipped 2 rows whose id is not in the collection: ٣, 1e3"
    ]


def test_a_run_directory_and_a_jsonl_file_give_the_key_values(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    results = [
        {"id": 1, "item": "a", "score": 0.5, "metadata": {"smiles": "C1"}},
        {"id": 2, "item": "b", "score": 0.25, "metadata": {"smiles": "C2"}},
    ]
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    assert read_known(run, key="smiles") == [("C1", 0.5, None), ("C2", 0.25, None)]
    assert read_known(run, key="item") == [("a", 0.5, None), ("b", 0.25, None)]
    named = tmp_path / "named.jsonl"
    named.write_text('{"smiles": "C3", "score": 1}\n{"id": "C4", "score": 2}\n')
    assert read_known(named, key="smiles") == [("C3", 1.0, None), ("C4", 2.0, None)]
    with pytest.raises(ConfigError, match=r": row 1: no 'cid' value; row 2: no 'cid' value$"):
        read_known(run, key="cid")


def test_the_key_needs_scores_and_a_field_name():
    assert StartConfig(scores="known.csv", key="smiles").key == "smiles"
    with pytest.raises(ValidationError, match=r"key: finds the items of start\.scores"):
        StartConfig(random=3, key="smiles")
    with pytest.raises(ValidationError, match=r"key: invalid field name 'a\.b'"):
        StartConfig(scores="known.csv", key="a.b")


def test_a_lookup_by_key_needs_a_narrowable_source(numpy_source):
    class FetchOnly:
        def fetch(self, ids):
            return numpy_source.fetch(ids)

    with pytest.raises(ConfigError) as refused:
        fetch_known(FetchOnly(), [("x", 1.0, None)], key="smiles")
    assert str(refused.value) == (
        "start.scores (key: smiles): FetchOnly cannot narrow its filter "
        "(it does not implement Narrowable: narrowed)"
    )


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_a_table_may_name_its_id_column_after_the_key(tmp_path, suffix):
    from emb_opt import formats

    path = tmp_path / f"prior{suffix}"
    columns = [
        formats.Column("smiles", "text", ["C3", "C4"]),
        formats.Column("score", "float", [1.0, 2.0]),
    ]
    formats.write(path, formats.Table(columns))
    assert read_known(path, key="smiles") == [("C3", 1.0, None), ("C4", 2.0, None)]
