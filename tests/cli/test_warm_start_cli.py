"""`score.direction: minimize` and `start.scores` from a config: runs, ask/tell, resume, and
bad scores files refused in one line before any run directory exists."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from run_processes import finish, start_run

from emb_opt.cli.main import main
from emb_opt.objectives import target_distance_score
from emb_opt.synthetic import random_corpus

CORPUS = random_corpus(3000, 16, seed=0)  # what write_config's synthetic data holds
PASSING = [i for i in range(3000) if CORPUS.metadata[i]["rand"] < 0.9]  # write_config's filter
REJECTED = [i for i in range(3000) if CORPUS.metadata[i]["rand"] >= 0.9]
KNOWN_IDS = PASSING[:300:10]
GUIDED = {"update": {"name": "guided", "batch": 10, "queries": 4, "initial": 20}, "prune": None}


def scores_file(path: Path, ids=KNOWN_IDS, scores=None) -> Path:
    """id,score rows of `ids` under the `target` objective (or the given scores)."""
    if scores is None:
        scores = [repr(float(s)) for s in target_distance_score(CORPUS.embeddings[ids])]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "score"])
        writer.writerows(zip(ids, scores))
    return path


def rows(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]


def test_a_warm_started_run_never_rescores_the_known_items(write_config, tmp_path, capsys):
    known = scores_file(tmp_path / "known.csv")
    config = write_config(
        strategy=GUIDED, start={"scores": str(known)}, stop={"iterations": 4, "max_score_calls": 30}
    )
    assert main(["run", str(config), "--quiet"]) == 0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    counters = manifest["counters"]
    assert counters["known_scores"] == len(KNOWN_IDS) and counters["score_calls"] == 30
    assert counters["unique_items"] == 30 + len(KNOWN_IDS)  # a rescored item would not add one
    found = {row["id"]: row for row in rows(out)}
    assert {i for i, row in found.items() if row["source"] == "known"} == set(KNOWN_IDS)
    assert all(found[i]["iteration"] == -1 for i in KNOWN_IDS)
    table = pq.read_table(out / "results.parquet").to_pydict()
    assert table["source"].count("known") == len(KNOWN_IDS)
    # resuming never reads the scores file again
    known.unlink()
    assert main(["run", str(config), "--quiet", "--resume"]) == 0
    assert {row["id"] for row in rows(out) if row["source"] == "known"} == set(KNOWN_IDS)
    assert main(["inspect", str(out)]) == 0
    assert "known scores    30" in capsys.readouterr().out


def test_an_earlier_run_directory_is_a_warm_start(write_config, tmp_path):
    first = write_config("first.yaml", output={"dir": str(tmp_path / "first")})
    assert main(["run", str(first), "--quiet"]) == 0
    earlier = {row["id"]: row["score"] for row in rows(tmp_path / "first")}
    second = write_config("second.yaml", strategy=GUIDED, start={"scores": str(tmp_path / "first")})
    assert main(["run", str(second), "--quiet"]) == 0
    known = {row["id"]: row["score"] for row in rows(tmp_path / "out") if row["source"] == "known"}
    assert known.keys() == earlier.keys()
    assert all(known[i] == pytest.approx(earlier[i]) for i in known)


@pytest.mark.slow
def test_minimize_from_the_config_orders_and_reports_lowest_first(write_config, tmp_path):
    config = write_config(score={"function": "target", "direction": "minimize"})
    code, stderr = finish(start_run(config, tmp_path / "low"))
    assert code == 0, stderr
    scores = [row["score"] for row in rows(tmp_path / "low")]
    assert scores == sorted(scores)
    manifest = json.loads((tmp_path / "low" / "manifest.json").read_text())
    assert manifest["direction"] == "minimize" and manifest["best_score"] == scores[0]
    inspected = subprocess.run(
        [sys.executable, "-m", "emb_opt", "inspect", str(tmp_path / "low")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "direction       minimize" in inspected


def test_a_repeated_id_in_the_scores_file_is_averaged_and_resumes(write_config, tmp_path):
    known = scores_file(tmp_path / "known.csv", [0, 10, 0, 0], ["0.5", "0.4", "0.3", "0.1"])
    config = write_config(strategy=GUIDED, start={"scores": str(known)}, stop={"iterations": 2})
    assert main(["run", str(config), "--quiet"]) == 0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counters"]["known_scores"] == 2  # items, not rows
    found = {row["id"]: row for row in rows(out)}
    assert (found[0]["score"], found[0]["n_scores"]) == (pytest.approx(0.3), 3)
    assert (found[10]["score"], found[10]["n_scores"]) == (pytest.approx(0.4), 1)
    table = pq.read_table(out / "results.parquet").to_pydict()
    assert dict(zip(table["id"], table["n_scores"]))[0] == 3
    known.unlink()  # a resume reads them from the log
    (out / "results.jsonl").unlink()
    assert main(["run", str(config), "--quiet", "--resume"]) == 0
    again = {row["id"]: row for row in rows(out)}
    assert (again[0]["score"], again[0]["n_scores"]) == (pytest.approx(0.3), 3)


def test_rows_the_collection_lacks_are_skipped_and_counted(write_config, tmp_path, caplog):
    stale = [987654, 987655, REJECTED[0]]  # two ids never held, one the filter rejects
    held = PASSING[:2]
    ids = [held[0], stale[0], held[1], *stale[1:], stale[0]]
    known = scores_file(tmp_path / "known.csv", ids, ["0.5"] * len(ids))
    config = write_config(start={"scores": str(known)}, stop={"iterations": 1})
    assert main(["run", str(config), "--quiet"]) == 0
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "emb_opt.warmstart"]
    assert warning == (
        f"start.scores {known}: skipped 4 rows whose id is not in the collection (or fails "
        f"the source's filter): {stale[0]}, {stale[1]}, {stale[2]}"
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counters"]["known_scores"] == 2
    assert {row["id"] for row in rows(tmp_path / "out") if row["source"] == "known"} == set(held)


@pytest.mark.slow
def test_the_skipped_rows_are_said_on_stderr(write_config, tmp_path):
    known = scores_file(tmp_path / "known.csv", [PASSING[0], 987654], ["0.5", "0.4"])
    config = write_config(start={"scores": str(known)}, stop={"iterations": 1})
    code, stderr = finish(start_run(config, tmp_path / "run"))
    assert code == 0, stderr
    line = f"start.scores {known}: skipped 1 row whose id is not in the collection"
    assert line in stderr


BAD_FILES = {
    "no id held": (
        [987654, REJECTED[0]],
        ["0.5", "0.4"],
        f"no id of the file is in the collection (or fails the source's filter): 987654, "
        f"{REJECTED[0]}",
    ),
    "not a number": (KNOWN_IDS[:3], ["0.5", "high", "0.2"], "row 3: id '10' has score 'high'"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_scores_file_is_one_line_and_leaves_no_directory(
    write_config, tmp_path, capsys, case
):
    ids, scores, message = BAD_FILES[case]
    known = scores_file(tmp_path / "known.csv", ids, scores)
    config = write_config(start={"scores": str(known)})
    assert main(["run", str(config), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert not (tmp_path / "out").exists()


def test_a_scores_file_without_a_score_column_is_one_line(write_config, tmp_path, capsys):
    known = tmp_path / "known.csv"
    known.write_text("id,value\n0,0.5\n")
    config = write_config(start={"scores": str(known)})
    assert main(["run", str(config), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "expected the columns id,score" in error
    assert not (tmp_path / "out").exists()


def test_old_scores_go_in_the_warm_start_and_are_never_asked(write_config, tmp_path, capsys):
    scores = target_distance_score(CORPUS.embeddings[KNOWN_IDS])
    known = tmp_path / "known.jsonl"
    known.write_text(
        "".join(json.dumps({"id": i, "score": float(s)}) + "\n" for i, s in zip(KNOWN_IDS, scores))
    )
    plain = write_config(
        "plain.yaml", score={"function": None, "external": True}, strategy=GUIDED,
        output={"dir": str(tmp_path / "plain")},
    )  # fmt: skip
    assert main(["ask", str(plain)]) == 0
    capsys.readouterr()
    assert main(["tell", str(tmp_path / "plain"), str(known)]) == 2
    error = capsys.readouterr().err
    assert "is not waiting for a score" in error and f"start: {{scores: {known}}}" in error
    config = write_config(
        score={"function": None, "external": True}, strategy=GUIDED, start={"scores": str(known)}
    )
    assert main(["ask", str(config)]) == 0
    asked = Path(capsys.readouterr().out.strip())
    with open(asked) as handle:
        asked_ids = {int(row["id"]) for row in csv.DictReader(handle)}
    assert asked_ids and not asked_ids & set(KNOWN_IDS)
    assert main(["status", str(tmp_path / "out")]) == 0
    assert "known items  30" in capsys.readouterr().out


def test_start_ids_the_collection_lacks_are_one_line(write_config, tmp_path, capsys):
    config = write_config(start={"random": None, "ids": [PASSING[0], 987654, REJECTED[0]]})
    assert main(["run", str(config), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"emb-opt: error: start.ids: unknown ids [987654, {REJECTED[0]}]: FaissDataSource "
        "holds no item of these ids that passes its filter"
    )
    assert not (tmp_path / "out").exists()
