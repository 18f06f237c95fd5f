"""A lab behind ask/tell: plates given up and told late, failed wells, plates told one by one
and plates told twice, as a campaign has them."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from asktell_runs import fill, write

from emb_opt.cli.main import main
from emb_opt.log import load_log


def say(capsys, *args: str) -> str:
    """What `emb-opt ARGS` prints (it must succeed)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.strip()


def facts(text: str) -> dict[str, str]:
    """The facts `status` or `inspect` printed, by name (two spaces part name and value)."""
    pairs = [re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines()]
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def results(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


@pytest.fixture
def lab(tmp_path):
    """An ask/tell config (plates of 12, the first 12 at random) and its run directory."""
    return write(tmp_path, "lab", external=True), tmp_path / "lab"


def test_a_plate_given_up_and_told_a_week_later_enters_the_run(lab, capsys):
    config, run = lab
    plate = fill(Path(say(capsys, "ask", str(config))))
    rows = rows_of(plate)
    first = write_rows(plate.with_name("first.csv"), rows[:5])
    said = say(capsys, "tell", str(run), str(first), "--proceed", "--yes")
    assert "told 5 score(s); gave up 7 item(s)" in said
    assert facts(say(capsys, "status", str(run)))["given up"].startswith("7 ")
    assert manifest(run)["counters"]["score_calls"] == 5  # given-up wells spend no budget

    said = say(capsys, "tell", str(run), str(plate))  # the whole plate arrives late
    assert "told 7 score(s) (7 late" in said and "5 row(s) told before, unchanged" in said
    told = {row["id"]: float(row["score"]) for row in rows}
    found = {str(row["id"]): row["score"] for row in results(run)}
    assert found == pytest.approx(told)
    log = load_log(run / "log")
    assert log.counters.score_calls == 12 and log.given_up_count() == 0
    assert facts(say(capsys, "status", str(run)))["given up"] == "0"


def test_a_late_plate_told_as_replicates_takes_its_first_scores_as_late(lab, capsys):
    config, run = lab
    plate = fill(Path(say(capsys, "ask", str(config))))
    say(capsys, "tell", str(run), "--proceed", "--yes")  # the whole plate given up
    said = say(capsys, "tell", str(run), str(plate), "--replicate")
    assert f"added {len(rows_of(plate))} replicate score(s)" in said
    log = load_log(run / "log")
    assert log.given_up_count() == 0 and log.counters.score_calls == len(rows_of(plate))


def test_a_failed_well_is_topped_up_and_shown_with_its_reason(lab, capsys):
    config, run = lab
    plate = fill(Path(say(capsys, "ask", str(config))))
    rows = rows_of(plate)
    failed = rows[3]["id"]
    rows[3] = {**rows[3], "score": "", "reason": "the well dried out"}
    say(capsys, "tell", str(run), str(write_rows(plate, rows)))
    nxt = Path(say(capsys, "ask", str(run)))
    assert len(rows_of(nxt)) == len(rows)  # a full plate, not the one missing well
    shown = facts(say(capsys, "status", str(run)))
    assert shown["failed"] == f"1: {failed} (the well dried out)"
    failures = [row for row in results(run) if row["score"] is None]
    assert [(str(r["id"]), r["reason"]) for r in failures] == [(failed, "the well dried out")]
    assert manifest(run)["counters"]["failed"] == 1


def test_told_plates_show_at_once_in_status_results_and_inspect(lab, capsys):
    config, run = lab
    plates = [Path(say(capsys, "ask", str(config), "--n", "4"))]
    plates += [Path(say(capsys, "ask", str(run), "--n", "4")) for _ in range(2)]
    filled = [fill(plate) for plate in plates]
    for plate in filled[:2]:
        assert "item(s) still waiting" in say(capsys, "tell", str(run), str(plate))
    status = facts(say(capsys, "status", str(run)))
    assert status["score calls"] == "8" and status["told"] == "8 of 12"
    assert status["iteration"] == "0" and status["waiting"] == "4"
    assert status["results"] == "8" and len(results(run)) == 8
    scores = [float(row["score"]) for plate in filled[:2] for row in rows_of(plate)]
    assert float(status["best score"]) == pytest.approx(max(scores))
    shown = facts(say(capsys, "inspect", str(run)))
    assert shown["score calls"] == "8"
    assert float(shown["best score"]) == pytest.approx(max(scores), abs=1e-6)


def test_a_plate_told_again_after_a_partial_tell_applies_only_the_rest(lab, capsys):
    config, run = lab
    plate = fill(Path(say(capsys, "ask", str(config))))
    rows = rows_of(plate)
    bad = write_rows(plate.with_name("bad.csv"), [{**rows[0], "score": "n/a"}, *rows[1:]])
    assert "skipped row 2" in say(capsys, "tell", str(run), str(bad), "--partial")
    said = say(capsys, "tell", str(run), str(plate))
    assert said.startswith("told 1 score(s); iteration done")
    assert f"{len(rows) - 1} row(s) told before, unchanged" in said
    assert "nothing new" in say(capsys, "tell", str(run), str(plate))  # a third time

    changed = write_rows(plate.with_name("changed.csv"), [{**rows[1], "score": "-123.5"}])
    assert main(["tell", str(run), str(changed)]) == 2
    err = capsys.readouterr().err
    assert f"id '{rows[1]['id']}' was told" in err and "now -123.5" in err
    assert "--replicate" in err


def test_status_reads_only_the_run_directory(tmp_path, capsys):
    """`status` answers with the source gone: it opens no source and no database."""
    import numpy as np
    import yaml

    embeddings = tmp_path / "embeddings.npy"
    np.save(embeddings, np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32))
    config = write(tmp_path, "lab", external=True)
    raw = yaml.safe_load(config.read_text())
    raw["source"] = {
        "backend": "faiss",
        "k": 5,
        "data": {"kind": "files", "embeddings": str(embeddings)},
    }
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "lab"
    plate = Path(say(capsys, "ask", str(config)))
    embeddings.unlink()
    shown = facts(say(capsys, "status", str(run)))
    assert shown["waiting"] == str(len(rows_of(plate))) and shown["out in"] == plate.name
