"""What `ask` writes, `tell` reads: ids and scores come back exactly in every format, whatever
the items' metadata holds (huge text, any Unicode, nested values)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emb_opt.asktell import Asked
from emb_opt.cli.asktell import _as_given, _write_asked
from emb_opt.cli.main import main
from emb_opt.formats import Column, Table, format_names, write
from emb_opt.scorefile import parse_row, read_rows, row_id

HUGE = "C" * 200_000  # over the 128 KiB the csv module reads by default
# the formats that hold any text (an xlsx cell holds no control character and at most 32,767
# characters: test_formats.py has its tests)
ANY_TEXT = [format for format in format_names() if format != "xlsx"]
RUN = "0123abcd4567"  # the run id a plate carries
AWKWARD = 'a\u2028b\u2029c\x0cd\x0be\x1cf\x85g\r\nh\x00i"j,k'  # line breaks only splitlines sees


def fill(path: Path, scores: dict[str, float]) -> Path:
    """Put the scores into an asked file the way a person's tool would, in its own format."""
    rows = read_rows(path)
    filled = path.with_name(path.stem + "-scored" + path.suffix)
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        column = pa.array([scores[str(row["id"])] for row in rows], pa.float64())
        pq.write_table(
            table.set_column(table.schema.get_field_index("score"), "score", column), filled
        )
    elif path.suffix == ".jsonl":
        lines = [json.dumps({**row, "score": scores[str(row["id"])]}) for row in rows]
        filled.write_text("".join(line + "\n" for line in lines))
    elif path.suffix == ".csv":
        with open(filled, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**row, "score": repr(scores[row["id"]])} for row in rows)
    else:  # a format no other tool writes: its own writer does
        rows = [{**row, "score": scores[str(row["id"])]} for row in rows]
        kinds = {name: "float" if name == "score" else "value" for name in rows[0]}
        columns = [Column(name, kind, [row[name] for row in rows]) for name, kind in kinds.items()]
        write(filled, Table(columns))
    return filled


def told(path: Path, waiting: set[str]) -> dict[str, float | None]:
    """What `tell` makes of a filled file: id -> score (a problem fails the test)."""
    seen: set[str] = set()
    answers = {}
    for row in read_rows(path):
        (id, score, reason), problem = parse_row(row, seen, row_id(row, waiting))
        assert problem is None and reason is None and id in waiting, (problem, id)
        answers[id] = score
    return answers


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.just(HUGE),
)
METADATA = st.dictionaries(
    st.text(min_size=1, max_size=10),
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=4,
)
IDS = st.one_of(
    st.lists(st.integers(0, 2**62).map(str), min_size=1, max_size=6, unique=True),
    st.lists(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12),
        min_size=1,
        max_size=6,
        unique=True,
    ),
)


@pytest.mark.parametrize("format", ANY_TEXT)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ids=IDS, metadata=st.lists(METADATA, min_size=6, max_size=6), data=st.data())
def test_ids_and_scores_round_trip_whatever_the_metadata_holds(
    tmp_path, format, ids, metadata, data
):
    asked = [
        Asked(id, f"item {AWKWARD} {n}", meta, np.zeros(2))
        for n, (id, meta) in enumerate(zip(ids, metadata))
    ]
    path = tmp_path / f"asked.{format}"
    _write_asked(path, asked, RUN)
    scores = {a.id: data.draw(st.floats(-1e300, 1e300)) for a in asked}
    assert told(fill(path, scores), set(scores)) == scores


@pytest.mark.parametrize("format", ANY_TEXT)
def test_metadata_comes_back_as_written(tmp_path, format):
    metadata = [
        {
            "smiles": "C\u2028C",
            "mw": 180.2,
            "n": 3,
            "note": HUGE,
            "tags": ["a", {"b": 1}],
            "lone": "\ud800x",
        },
        {"smiles": "CC\x0c", "mw": 17, "n": None, "note": "", "tags": None, "lone": "y"},
    ]
    asked = [Asked(str(n), "CCO", meta, np.zeros(2)) for n, meta in enumerate(metadata)]
    path = tmp_path / f"asked.{format}"
    _write_asked(path, asked, RUN)
    rows = read_rows(path)
    if format == "parquet":
        table = pq.read_table(path)
        assert (
            table.schema.field("id").type == pa.int64()
            and table.schema.field("score").type == pa.float64()
        )
        assert table.schema.field("metadata.mw").type == pa.float64()
        assert table.schema.field("metadata.n").type == pa.int64()
        assert table.schema.field("metadata.smiles").type == pa.string()
        tags = table.schema.field("metadata.tags")  # nested: JSON text, marked as such
        assert tags.metadata == {b"emb_opt.encoding": b"json"}
        assert [row["metadata.smiles"] for row in rows] == ["C\u2028C", "CC\x0c"]
        assert [row["metadata.note"] for row in rows] == [HUGE, ""]
        assert json.loads(rows[0]["metadata.tags"]) == ["a", {"b": 1}]
        assert json.loads(rows[0]["metadata.lone"]) == "\ud800x"  # JSON escapes what UTF-8 cannot
    else:
        got = [m if isinstance(m, dict) else json.loads(m) for m in (r["metadata"] for r in rows)]
        assert got == metadata


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_an_id_utf8_cannot_hold_is_refused_in_one_line(tmp_path, format):
    from emb_opt.errors import ConfigError

    asked = [Asked("ok", "C", {}, np.zeros(2)), Asked("bad\udc80", "C", {}, np.zeros(2))]
    with pytest.raises(ConfigError, match=r"id 'bad\\\\udc80'.*--format jsonl"):
        _write_asked(tmp_path / f"asked.{format}", asked, RUN)
    assert not (tmp_path / f"asked.{format}").exists()
    _write_asked(tmp_path / "asked.jsonl", asked, RUN)
    assert told(
        fill(tmp_path / "asked.jsonl", {"ok": 1.0, "bad\udc80": 2.0}), {"ok", "bad\udc80"}
    ) == {
        "ok": 1.0,
        "bad\udc80": 2.0,
    }


def files_run(directory: Path) -> Path:
    """An external-score config over 300 items whose metadata is huge and awkward text."""
    rng = np.random.default_rng(0)
    directory.mkdir()
    np.save(directory / "emb.npy", rng.normal(size=(300, 8)).astype(np.float32))
    rows = [
        {"item": f"C{i}", "note": HUGE if i % 2 else AWKWARD, "weight": float(i)}
        for i in range(300)
    ]
    (directory / "meta.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = {
        "source": {
            "backend": "faiss",
            "k": 5,
            "data": {"kind": "files", "embeddings": "emb.npy", "metadata": "meta.jsonl"},
        },
        "score": {"external": True},
        "strategy": {"update": {"name": "guided", "batch": 8, "queries": 4, "initial": 8}},
        "start": {"random": 3, "seed": 1},
        "stop": {"iterations": 2},
        "output": {"dir": "run"},
    }
    path = directory / "lab.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("format", ANY_TEXT)
def test_tell_reads_the_file_ask_wrote_with_huge_and_awkward_metadata(tmp_path, capsys, format):
    config = files_run(tmp_path / "lab")
    assert main(["ask", str(config), "--format", format]) == 0
    asked = Path(capsys.readouterr().out.strip())
    ids = [str(row["id"]) for row in read_rows(asked)]
    assert ids
    filled = fill(asked, {id: math.pi * n for n, id in enumerate(ids)})
    assert main(["tell", str(tmp_path / "lab" / "run"), str(filled)]) == 0
    assert f"told {len(ids)} score(s); iteration done" in capsys.readouterr().out


def test_an_id_is_a_number_only_when_its_text_is_one_written_plainly():
    """A parquet plate gives ids back as integers where they are ("²" is a digit to
    `str.isdigit`, yet no integer: it stayed text instead of ending the ask)."""
    assert [_as_given(id) for id in ["12", "-3", "²", "٣", "--5", "-0", "007"]] == [
        12, -3, "²", "٣", "--5", "-0", "007"
    ]  # fmt: skip
