"""Table files as lab people send them back: Excel's CSV UTF-8 (a byte order mark, CRLF),
European Excel (semicolons, decimal commas), real .xlsx workbooks; every writer read back
by its reader; a file whose content is not its suffix refused; rows read as a stream."""

from __future__ import annotations

import codecs
import json
import math
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from asktell_runs import CORPUS, write
from hypothesis import given, settings
from hypothesis import strategies as st

from emb_opt import formats
from emb_opt.asktell import Asked
from emb_opt.cli.asktell import _write_asked
from emb_opt.cli.main import main
from emb_opt.errors import ConfigError
from emb_opt.formats import format_names
from emb_opt.objectives import target_distance_score
from emb_opt.scorefile import first_row_number, open_rows, parse_row, read_rows, row_id

BOM = codecs.BOM_UTF8
RUN = "0123abcd4567"  # the run id a plate carries


def parsed(path: Path) -> list[tuple[int, tuple, str | None]]:
    """(row number, (id, score, reason), problem) of each row, as `tell` numbers them."""
    rows = read_rows(path)
    return [
        (number, *parse_row(row, None)) for number, row in enumerate(rows, first_row_number(path))
    ]


def answers(path: Path) -> dict[str, float | None]:
    """id -> score of a file whose rows are all good."""
    found = {}
    for number, (id, score, _), problem in parsed(path):
        assert problem is None, f"row {number}: {problem}"
        found[id] = score
    return found


def excel_workbook(path: Path, rows: list[list], other_sheet_active: bool = True) -> Path:
    """An .xlsx as a person saves it: the data on the first sheet, another sheet in front,
    and formatted but empty rows below the data (Excel keeps them in the file)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Plate 1"
    for row in rows:
        sheet.append(row)
    for below in range(len(rows) + 1, len(rows) + 4):
        sheet.cell(row=below, column=1).number_format = "0.00"
        sheet.cell(row=below, column=2).value = None
    notes = book.create_sheet("Notes")
    notes.append(["id", "score"])
    notes.append(["not", "this sheet"])
    if other_sheet_active:
        book.active = 1
    book.save(path)
    return path


# --- reading: what Excel and instruments write ----------------------------------------------


def test_a_csv_utf8_file_from_excel_with_a_bom_and_crlf_is_read(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_bytes(BOM + b"id,score\r\n7,0.5\r\n8,-1.25e-3\r\n")
    assert answers(path) == {"7": 0.5, "8": -0.00125}


@pytest.mark.parametrize(
    "header", ["ID,Score", " id , SCORE ", "Id,sCoRe,Valid,Reason", "ID,Score,Notes"]
)
def test_the_header_is_read_in_any_case_with_spaces_around(tmp_path, header):
    path = tmp_path / "plate.csv"
    width = header.count(",") + 1
    path.write_text(f"{header}\n7,0.5{',' * (width - 2)}\n")
    assert answers(path) == {"7": 0.5}


def test_other_columns_keep_their_names(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text(" ID ,Score, Plate Well \n7,0.5,A1\n")
    assert read_rows(path) == [{"id": "7", "score": "0.5", "Plate Well": "A1"}]


def test_semicolons_and_decimal_commas_as_european_excel_saves_them(tmp_path):
    path = tmp_path / "plate.csv"
    text = "ID;Score;Reason\r\n7;0,93;\r\n8;-1,5e-3;\r\n9;12;\r\n10;1,234;\r\n11;;dry well\r\n"
    path.write_bytes(BOM + text.encode())
    assert answers(path) == {"7": 0.93, "8": -0.0015, "9": 12.0, "10": 1.234, "11": None}


def test_tab_separated_utf16_text_as_excel_saves_unicode_text(tmp_path):
    path = tmp_path / "plate.txt"
    path.write_bytes("ID\tScore\r\nµ-7\t0,5\r\n8\t2\r\n".encode("utf-16"))  # with its mark
    assert answers(path) == {"µ-7": 0.5, "8": 2.0}


@pytest.mark.parametrize(
    ("separator", "score"),
    [(";", "1.234,5"), (";", "1,234,567"), ("\t", "1 234,5"), (",", '"0,93"'), (",", '"1,234"')],
)
def test_a_thousands_separator_is_refused_not_guessed(tmp_path, separator, score):
    path = tmp_path / "plate.csv"
    path.write_text(f"id{separator}score\n7{separator}0.5\n8{separator}{score}\n")
    (_, good, fine), (number, _, problem) = parsed(path)
    assert fine is None and good == ("7", 0.5, None)
    assert number == 3 and problem is not None
    assert repr(score.strip('"')) in problem and "thousands separator" in problem, problem


def test_a_decimal_comma_is_read_only_in_the_score_column(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text("id;score\n1,5;0,25\n")
    assert answers(path) == {"1,5": 0.25}


def test_two_columns_that_name_one_column_are_refused(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text("id,score,ID\n7,0.5,8\n")
    with pytest.raises(ConfigError, match=r"plate.csv: the columns 'id' and 'ID' both name 'id'"):
        read_rows(path)


def test_an_xlsx_saved_by_excel_is_read_from_its_first_sheet(tmp_path):
    rows = [
        ["ID", "Score", "Valid", "Reason"],
        [7, 0.5, None, None],  # an id Excel stores as a number
        ["A-8", "0.75", None, None],  # a number stored as text
        ["A-9", 3, False, None],  # Excel's FALSE
        ["A-10", None, None, "dry well"],
    ]
    path = excel_workbook(tmp_path / "plate.xlsx", rows)
    assert parsed(path) == [
        (2, ("7", 0.5, None), None),
        (3, ("A-8", 0.75, None), None),
        (4, ("A-9", None, "marked invalid"), None),
        (5, ("A-10", None, "dry well"), None),
    ]


def test_an_empty_xlsx_row_between_rows_is_named_by_its_excel_row_number(tmp_path):
    path = excel_workbook(tmp_path / "plate.xlsx", [["id", "score"], [7, 0.5], [], [8, 0.25]])
    problems = [(number, problem) for number, _, problem in parsed(path) if problem]
    assert problems == [(3, "the row has no id")]


def test_an_xlsx_score_with_a_decimal_comma_in_text_is_refused(tmp_path):
    path = excel_workbook(tmp_path / "plate.xlsx", [["id", "score"], [7, "0,5"]])
    [(_, _, problem)] = parsed(path)
    assert problem is not None and "'0,5'" in problem and "thousands separator" in problem


def workbook_bytes(tmp_path: Path) -> bytes:
    return excel_workbook(tmp_path / "real.xlsx", [["id", "score"], [1, 0.5]]).read_bytes()


def parquet_bytes(tmp_path: Path) -> bytes:
    pq.write_table(pa.table({"id": [1], "score": [0.5]}), tmp_path / "real.parquet")
    return (tmp_path / "real.parquet").read_bytes()


MISMATCHES = {  # file name, its content, what the message says it holds
    "csv named xlsx": ("plate.xlsx", lambda _: b"id,score\n1,0.5\n", "holds text"),
    "xlsx named csv": ("plate.csv", workbook_bytes, "holds an Excel workbook (xlsx)"),
    "parquet named csv": ("plate.csv", parquet_bytes, "holds Parquet data"),
    "parquet named jsonl": ("plate.jsonl", parquet_bytes, "holds Parquet data"),
    "csv named parquet": ("plate.parquet", lambda _: b"id,score\n1,0.5\n", "holds text"),
    "json lines named csv": ("plate.csv", lambda _: b'{"id": 1, "score": 0.5}\n', "JSON text"),
    "an old xls named xlsx": (
        "plate.xlsx",
        lambda _: bytes.fromhex("d0cf11e0a1b11ae1") + bytes(500),
        "holds an old Excel workbook (.xls)",
    ),
    "binary junk named csv": (
        "plate.csv",
        lambda _: bytes(range(256)) * 4,
        "holds binary data",
    ),
    "a zip named xlsx": ("plate.xlsx", lambda _: b"PK\x05\x06" + bytes(18), "holds a zip archive"),
}


@pytest.mark.parametrize("case", MISMATCHES)
def test_a_file_whose_content_is_not_its_suffix_is_refused_saying_what_it_holds(tmp_path, case):
    name, content, holds = MISMATCHES[case]
    path = tmp_path / name
    path.write_bytes(content(tmp_path))
    with pytest.raises(ConfigError) as refused:
        read_rows(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: the suffix {path.suffix} says "), message
    assert holds in message, message


@pytest.mark.parametrize("name", ["plate.xls", "plate.dat", "plate"])
def test_an_unknown_suffix_is_refused_naming_the_suffixes_there_are(tmp_path, name):
    path = tmp_path / name
    path.write_text("id,score\n1,0.5\n")
    with pytest.raises(ConfigError, match=r"no table format has the suffix .*\.csv.*\.xlsx"):
        read_rows(path)


@pytest.mark.parametrize("rows_before", [0, 10_000])  # the bad byte in the first 64 KiB, or after
def test_text_in_another_encoding_is_refused_with_the_excel_hint(tmp_path, rows_before):
    path = tmp_path / "plate.csv"
    text = "id,score\n" + "".join(f"{n},0.5\n" for n in range(rows_before)) + "café,0.5\n"
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(ConfigError) as refused:
        read_rows(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and 'save it as "CSV UTF-8"' in message, message
    assert "not in UTF-8" in message if rows_before == 0 else "b'\\xe9'" in message, message


def test_an_error_of_the_reader_of_the_rows_is_not_taken_for_the_file(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text("id,score\n1,0.5\n")
    with pytest.raises(KeyError, match="mine"), open_rows(path) as rows:
        next(rows)
        raise KeyError("mine")


# --- rows as a stream ------------------------------------------------------------------------


def write_big(path: Path, rows: int) -> None:
    ids, scores = list(range(rows)), [n / 7 for n in range(rows)]
    if path.suffix == ".parquet":
        pq.write_table(pa.table({"id": ids, "score": scores}), path)
    elif path.suffix == ".jsonl":
        text = "".join(json.dumps({"id": i, "score": s}) + "\n" for i, s in zip(ids, scores))
        path.write_text(text)
    elif path.suffix == ".xlsx":
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(["ID", "Score"])
        for row in zip(ids, scores):
            sheet.append(row)
        book.save(path)
    else:
        path.write_text("ID;Score\n" + "".join(f"{i};{s}\n" for i, s in zip(ids, scores)))


STREAMS = {  # suffix: rows written, MB of Python objects reading them may keep at once
    ".csv": (100_000, 5),
    ".jsonl": (100_000, 5),
    ".parquet": (100_000, 5),  # a record batch at a time
    ".xlsx": (40_000, 8),  # openpyxl keeps ~120 bytes a row read (its parser's row elements)
}


@pytest.mark.slow
@pytest.mark.parametrize("suffix", STREAMS)
def test_rows_are_read_as_a_stream_in_bounded_memory(tmp_path, suffix):
    """Reading every row keeps a few MB of Python objects at once; the list of them all
    takes over 12 MB at these sizes."""
    rows, most = STREAMS[suffix]
    path = tmp_path / f"big{suffix}"
    write_big(path, rows)
    tracemalloc.start()
    try:
        with open_rows(path) as stream:
            count = sum(1 for _ in stream)
        streamed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        listed = len(read_rows(path))
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == listed == rows
    assert whole > 12e6 and streamed < most * 1e6, (streamed, whole)


# --- writing: every writer read back by its reader ------------------------------------------


def table() -> formats.Table:
    return formats.Table(
        [
            formats.Column("id", "id", [12, "007", "=1+1"]),
            formats.Column("item", "value", ["CCO", None, "c1ccccc1"]),
            formats.Column("metadata", "metadata", [{"mw": 46.07, "tag": "a"}, None, {"n": 3}]),
            formats.Column("score", "float", [0.5, None, -1.25]),
            formats.Column("n", "int", [1, 2, 3]),
        ]
    )


@pytest.mark.parametrize("suffix", list(formats.FORMATS))
def test_every_format_reads_back_what_it_wrote(tmp_path, suffix):
    path = tmp_path / f"table{suffix}"
    formats.write(path, table())
    rows = formats.read_rows(path)
    assert [str(row["id"]) for row in rows] == ["12", "007", "=1+1"]
    scores = [row["score"] for row in rows]
    numbers = [None if s in (None, "") else float(s) for s in scores]
    assert numbers[1] is None and numbers[0] == pytest.approx(0.5) and numbers[2] == -1.25
    assert [int(row["n"]) for row in rows] == [1, 2, 3]
    assert [row["item"] or None for row in rows] == ["CCO", None, "c1ccccc1"]
    if "metadata" in rows[0]:  # one column: an object, or JSON text
        metadata = [row["metadata"] for row in rows]
        metadata = [m if isinstance(m, dict) else json.loads(m) for m in metadata]
        assert metadata == [{"mw": 46.07, "tag": "a"}, {}, {"n": 3}]
    else:  # a column per metadata key
        assert [row["metadata.mw"] for row in rows] == [46.07, None, None]
        assert [row["metadata.n"] for row in rows] == [None, None, 3]


def test_tsv_is_written_with_tabs(tmp_path):
    formats.write(tmp_path / "table.tsv", table())
    assert (tmp_path / "table.tsv").read_text().splitlines()[0] == "id\titem\tmetadata\tscore\tn"


def plate(ids: list[str], metadata: list[dict] | None = None) -> list[Asked]:
    metadata = metadata or [{} for _ in ids]
    return [
        Asked(id, f"C{n}", meta, np.zeros(2)) for n, (id, meta) in enumerate(zip(ids, metadata))
    ]


def fill_in_excel(path: Path, scores: dict[str, float | str]) -> Path:
    """Type the scores into an asked .xlsx as a person does in Excel, and save it."""
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    id_column, score_column = header.index("id") + 1, header.index("score") + 1
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row=row, column=score_column).value = scores[sheet.cell(row, id_column).value]
    filled = path.with_name(path.stem + "-scored.xlsx")
    book.save(filled)
    return filled


def test_an_xlsx_plate_keeps_ids_as_text_and_metadata_as_typed_columns(tmp_path):
    ids = ["12", "007", "=A1", str(2**62)]
    metadata = [{"mw": 180.2, "n": 3, "big": 2**62, "tags": ["a", {"b": 1}]}, {}, {}, {}]
    path = tmp_path / "asked.xlsx"
    _write_asked(path, plate(ids, metadata), RUN)
    sheet = openpyxl.load_workbook(path).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    assert header == [
        "id", "item", "metadata.mw", "metadata.n", "metadata.big", "metadata.tags", "score",
        "reason", "run",
    ]  # fmt: skip
    first = [cell.value for cell in sheet[2]]
    assert first == ["12", "C0", 180.2, 3, str(2**62), '["a", {"b": 1}]', None, None, RUN]
    assert [sheet.cell(row, 1).data_type for row in range(2, 6)] == ["s"] * 4  # no formula
    scores = {"12": 0.5, "007": "0.25", "=A1": 1, str(2**62): -2.5e-3}  # "0.25": text
    filled = fill_in_excel(path, scores)
    seen: set[str] = set()
    told = {}
    for row in read_rows(filled):
        (id, score, _), problem = parse_row(row, seen, row_id(row, set(ids)))
        assert problem is None and id in ids, (problem, id)
        told[id] = score
    assert told == {"12": 0.5, "007": 0.25, "=A1": 1.0, str(2**62): -2.5e-3}


@pytest.mark.parametrize(
    ("ids", "metadata", "says"),
    [
        (["a\x0bb"], None, "id 'a\\x0bb': its id holds the control character '\\x0b'"),
        (
            ["ok"],
            [{"note": "a\r\nb"}],
            "id 'ok': its metadata.note holds the control character '\\r'",
        ),
        (["ok"], [{"note": "N" * 40_000}], "its metadata.note holds 40,000 characters"),
        (["x\udc80"], None, "id 'x\\\\udc80': its id holds a lone surrogate"),
    ],
)
def test_text_no_excel_cell_holds_is_refused_naming_the_id(tmp_path, ids, metadata, says):
    path = tmp_path / "asked.xlsx"
    with pytest.raises(ConfigError) as refused:
        _write_asked(path, plate(ids, metadata), RUN)
    message = str(refused.value)
    assert says in message and message.endswith("; ask with --format jsonl"), message
    assert not path.exists() and list(tmp_path.iterdir()) == []


# --- the command line: ask a plate, fill it in as Excel does, tell it -----------------------


def true_scores(ids: list[str]) -> list[float]:
    return [float(s) for s in target_distance_score(CORPUS.embeddings[[int(i) for i in ids]])]


def test_ask_xlsx_fill_it_in_excel_and_tell_it(tmp_path, capsys):
    assert "xlsx" in format_names()
    config = write(tmp_path, "lab", external=True)
    assert main(["ask", str(config), "--format", "xlsx"]) == 0
    asked = Path(capsys.readouterr().out.strip())
    assert asked.suffix == ".xlsx"
    ids = [row["id"] for row in read_rows(asked)]
    scores = dict(zip(ids, true_scores(ids)))
    filled = fill_in_excel(asked, {id: score for id, score in scores.items()})
    assert main(["tell", str(tmp_path / "lab"), str(filled)]) == 0
    assert f"told {len(ids)} score(s); iteration done" in capsys.readouterr().out
    results = [
        json.loads(line) for line in (tmp_path / "lab" / "results.jsonl").read_text().splitlines()
    ]
    assert {str(r["id"]) for r in results} == set(ids)
    for result in results:
        assert math.isclose(result["score"], scores[str(result["id"])], rel_tol=1e-12)


def test_a_format_added_to_the_mapping_is_asked_and_told_with_no_other_line(
    tmp_path, capsys, monkeypatch
):
    """A new format is its module and its line in `FORMATS`: here JSON lines under `.toy`."""
    jsonl = formats.FORMATS[".jsonl"]
    toy = formats.Format("toy lines", jsonl.content, jsonl.open, jsonl.write, header=False)
    monkeypatch.setitem(formats.FORMATS, ".toy", toy)
    assert "toy" in format_names()
    config = write(tmp_path, "lab", external=True)
    assert main(["ask", str(config), "--format", "toy"]) == 0
    asked = Path(capsys.readouterr().out.strip())
    assert asked.suffix == ".toy"
    rows = read_rows(asked)
    scores = dict(zip([row["id"] for row in rows], true_scores([row["id"] for row in rows])))
    filled = tmp_path / "scored.toy"
    filled.write_text("".join(json.dumps({"id": i, "score": s}) + "\n" for i, s in scores.items()))
    assert main(["tell", str(tmp_path / "lab"), str(filled)]) == 0
    assert f"told {len(scores)} score(s); iteration done" in capsys.readouterr().out


def test_ask_csv_save_it_from_european_excel_and_tell_it(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    assert main(["ask", str(config)]) == 0
    asked = Path(capsys.readouterr().out.strip())
    ids = [row["id"] for row in read_rows(asked)]
    scores = dict(zip(ids, true_scores(ids)))
    lines = ["ID;Score;Reason"] + [f"{id};{scores[id]:.6f};".replace(".", ",") for id in ids]
    filled = tmp_path / "from-excel.csv"
    filled.write_bytes(BOM + "\r\n".join(lines).encode() + b"\r\n;;\r\n;;\r\n")  # empty rows too
    assert main(["tell", str(tmp_path / "lab"), str(filled)]) == 0
    assert f"told {len(ids)} score(s); iteration done" in capsys.readouterr().out
    results = [
        json.loads(line) for line in (tmp_path / "lab" / "results.jsonl").read_text().splitlines()
    ]
    for result in results:
        assert result["score"] == pytest.approx(scores[str(result["id"])], abs=1e-6)


def test_without_openpyxl_an_xlsx_file_is_one_error_naming_the_extra(tmp_path, monkeypatch):
    path = excel_workbook(tmp_path / "plate.xlsx", [["id", "score"], [7, 0.5]])
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # `import openpyxl` fails
    with pytest.raises(ImportError, match=r"openpyxl is not installed.*\[cli\]"):
        read_rows(path)
    with pytest.raises(ImportError, match=r"openpyxl is not installed.*\[cli\]"):
        _write_asked(tmp_path / "asked.xlsx", plate(["7"]), RUN)


def test_ask_refuses_a_format_it_has_not(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    assert main(["ask", str(config), "--format", "xls"]) == 2
    known = ", ".join(format_names())
    assert f"--format must be one of {known}, got 'xls'" in capsys.readouterr().err
    assert known.startswith("csv, jsonl, parquet, xlsx")


EXCEL_TEXT = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], include_characters="\t\n"), max_size=12
)


@settings(max_examples=20, deadline=None)
@given(
    ids=st.lists(EXCEL_TEXT.filter(lambda id: id.strip()), min_size=1, max_size=5, unique=True),
    data=st.data(),
)
def test_any_text_an_excel_cell_holds_round_trips_as_an_xlsx_plate_id(ids, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "asked.xlsx"
        _write_asked(path, plate(ids), RUN)
        scores = {id: data.draw(st.floats(-1e300, 1e300)) for id in ids}
        filled = fill_in_excel(path, scores)
        seen: set[str] = set()
        told = {}
        for row in read_rows(filled):
            (id, score, _), problem = parse_row(row, seen, row_id(row, set(ids)))
            assert problem is None, problem
            told[id] = score
    assert told.keys() == scores.keys()
    assert all(told[id] == pytest.approx(scores[id], rel=1e-15) for id in ids)
