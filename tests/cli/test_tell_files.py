"""Tell files of any size in bounded memory, a capped problems file, rows that say two things
refused, and plates told only to the run that asked for them."""

from __future__ import annotations

import csv
import json
import shutil
import tracemalloc
from pathlib import Path

import pytest
from test_bad_input import cli, one_line
from test_bad_rows import EXTERNAL, asked_ids, write_scores

from emb_opt import formats, scorefile
from emb_opt.cli.main import main


def log_bytes(run: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (run / "log").iterdir()}


# --- a row with a score and a reason ----------------------------------------------------------


def test_a_row_with_a_score_and_a_reason_is_refused_naming_it(write_config, tmp_path, capsys):
    ids = asked_ids(write_config(score=EXTERNAL), capsys)
    run, scores = tmp_path / "out", tmp_path / "scores.csv"
    rows = [{"id": id, "score": 0.5, "reason": ""} for id in ids]
    rows[1]["reason"] = "re-test: a bubble in the well"
    with open(scores, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "score", "reason"])
        writer.writeheader()
        writer.writerows(rows)
    before = log_bytes(run)
    code, err = cli(capsys, "tell", str(run), str(scores))
    assert code == 2
    one_line(err, f"row 3: id '{ids[1]}' has both a score ('0.5') and a reason", "nothing was told")
    assert log_bytes(run) == before
    assert main(["tell", str(run), str(scores), "--partial"]) == 0
    assert f"told {len(ids) - 1} score(s)" in capsys.readouterr().out


# --- the problems file is capped ----------------------------------------------------------


@pytest.mark.parametrize("partial", [False, True], ids=["refused", "partial"])
def test_the_problems_file_lists_the_first_problems_and_counts_the_rest(
    write_config, tmp_path, capsys, monkeypatch, partial
):
    monkeypatch.setattr(scorefile, "LISTED", 20)
    ids = asked_ids(write_config(score=EXTERNAL), capsys)
    unknown = [{"id": f"no-such-{n}", "score": 0.5} for n in range(500)]
    scores = write_scores(tmp_path / "scores.csv", [{"id": ids[0], "score": 0.5}, *unknown])
    run = tmp_path / "out"
    code = main(["tell", str(run), str(scores), *(["--partial"] * partial)])
    said = "".join(capsys.readouterr())
    assert code == (0 if partial else 2)
    assert "and 495 more (the first 20 in " in said
    (listed,) = (run / "ask").glob("problems-*.txt")
    lines = listed.read_text().splitlines()
    assert lines[0] == str(scores) and len(lines) == 1 + 20 + 1
    assert lines[1] == "row 3: id 'no-such-0' is not waiting for a score"
    assert lines[-1] == "and 480 more row(s) with a problem, not listed"


# --- memory ---------------------------------------------------------------------------------

ROWS = 100_000


def peak_of_tell(run: Path, scores: Path, *extra: str) -> tuple[int, int]:
    """The exit code and the most memory (bytes of Python objects) `tell` held at once."""
    tracemalloc.start()
    try:
        code = main(["tell", str(run), str(scores), *extra])
        return code, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow  # 100,000 rows read under tracemalloc
@pytest.mark.parametrize(
    ("case", "extra", "code"),
    [("unknown", (), 2), ("unknown", ("--partial",), 0), ("repeated", (), 0)],
    ids=["refused", "partial", "told before"],
)
def test_a_tell_file_takes_the_same_memory_whatever_its_length(
    write_config, tmp_path, capsys, case, extra, code
):
    """A file of the asked rows and 100,000 more (ids never asked, or the asked rows again)
    takes within 4 MB of what the asked rows alone take (the first LISTED problems: 1.6 MB);
    kept as lists, the rows took 15 MB (told before) to 64 MB (never asked) more."""
    ids = asked_ids(write_config(score=EXTERNAL), capsys)
    run = tmp_path / "out"
    shutil.copytree(run, tmp_path / "copy")
    asked = [{"id": id, "score": 0.5} for id in ids]
    small = write_scores(tmp_path / "small.csv", asked)
    if case == "repeated":
        assert main(["tell", str(run), str(small)]) == 0
        assert main(["tell", str(tmp_path / "copy"), str(small)]) == 0
        further = [asked[n % len(asked)] for n in range(ROWS)]
    else:
        further = [{"id": f"{10**7 + n}", "score": 0.5} for n in range(ROWS)]
    big = write_scores(tmp_path / "big.csv", asked + further)
    capsys.readouterr()
    assert peak_of_tell(tmp_path / "copy", small, *extra)[0] == 0
    baseline = peak_of_tell(tmp_path / "copy", small, *extra)[1]  # told before: a no-op
    got, peak = peak_of_tell(run, big, *extra)
    assert got == code, capsys.readouterr()
    assert peak < baseline + 4e6, (peak, baseline)


# --- plates carry their run's id ------------------------------------------------------------


def two_runs(tmp_path: Path, write_config, capsys) -> tuple[Path, Path, Path]:
    """Two ask/tell runs of one config in two folders; each asked for 5 items once. Their
    directories and the first run's plate."""
    runs, plates = [], []
    for name in ("first", "second"):
        config = write_config(score=EXTERNAL, output={"dir": "out"})
        folder = tmp_path / name
        folder.mkdir()
        moved = config.rename(folder / "lab.yaml")
        assert main(["ask", str(moved), "--n", "5"]) == 0
        plates.append(Path(capsys.readouterr().out.strip()))
        runs.append(folder / "out")
    return runs[0], runs[1], plates[0]


def filled(plate: Path, suffix: str, drop_run: bool = False) -> Path:
    """The plate with every score 0.5, written as `suffix` says (`drop_run`: without its run
    column, as an earlier emb_opt wrote plates)."""
    rows = formats.read_rows(plate)
    names = ["id", "score"] + ([] if drop_run else ["run"])
    kinds = {"id": "text", "score": "float", "run": "text"}
    values = {"id": [r["id"] for r in rows], "score": [0.5] * len(rows)}
    values["run"] = [r["run"] for r in rows]
    path = plate.with_name(f"{plate.stem}-scored{suffix}")
    formats.write(path, formats.Table([formats.Column(n, kinds[n], values[n]) for n in names]))
    return path


def run_id(run: Path) -> str:
    return json.loads((run / "manifest.json").read_text())["run_id"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".xlsx"])
@pytest.mark.parametrize("replicate", [False, True], ids=["tell", "replicate"])
def test_a_plate_of_another_run_of_the_same_config_is_refused_naming_both(
    write_config, tmp_path, capsys, suffix, replicate
):
    first, second, plate = two_runs(tmp_path, write_config, capsys)
    assert run_id(first) != run_id(second)
    scores = filled(plate, suffix)
    if replicate:  # the plate's items were scored in the first run: re-tests of them
        assert main(["tell", str(first), str(scores)]) == 0
        assert main(["tell", str(second), str(filled(second_plate(second), suffix))]) == 0
    before = log_bytes(second)
    extra = ["--replicate"] if replicate else ["--partial"]
    code, err = cli(capsys, "tell", str(second), str(scores), *extra)
    assert code == 2
    row = 2 if suffix in (".csv", ".xlsx") else 1  # after a header row, or none
    theirs, ours = run_id(first), run_id(second)
    one_line(
        err, f"row {row} is from a plate of run {theirs}", f"{second} is run {ours}", "nothing"
    )
    assert log_bytes(second) == before


def second_plate(run: Path) -> Path:
    return next((run / "ask").glob("iteration-*-0.csv"))


def test_a_plate_without_a_run_column_is_told_as_before(write_config, tmp_path, capsys):
    first, _, plate = two_runs(tmp_path, write_config, capsys)
    assert main(["tell", str(first), str(filled(plate, ".csv", drop_run=True))]) == 0
    assert "told" in capsys.readouterr().out


def test_a_run_of_an_earlier_version_gets_an_id_at_its_next_ask(write_config, tmp_path, capsys):
    first, _, plate = two_runs(tmp_path, write_config, capsys)
    manifest = json.loads((first / "manifest.json").read_text())
    del manifest["run_id"]  # as an earlier emb_opt left it
    (first / "manifest.json").write_text(json.dumps(manifest))
    code, err = cli(capsys, "tell", str(first), str(filled(plate, ".csv")))
    assert code == 2
    one_line(err, "a run of an earlier emb_opt (no run id)")
    assert main(["tell", str(first), str(filled(plate, ".csv", drop_run=True))]) == 0
    capsys.readouterr()
    assert main(["ask", str(first)]) == 0
    later = Path(capsys.readouterr().out.strip())
    assert {row["run"] for row in formats.read_rows(later)} == {run_id(first)}
