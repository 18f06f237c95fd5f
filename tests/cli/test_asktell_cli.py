"""`emb-opt ask` / `tell` / `status`: rounds that end as the callable run does, bad scores
files that change nothing, and tells that a SIGKILL leaves before or after, never between."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from asktell_runs import CORPUS, fill, results, write

from emb_opt.cli.main import main
from emb_opt.cli.manifest import MANIFEST
from emb_opt.log import load_log


def ask(target: Path, capsys, *args: str) -> str:
    assert main(["ask", str(target), *args]) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture
def callable_run(tmp_path, capsys):
    config = write(tmp_path, "straight", function="target")
    assert main(["run", str(config), "--quiet"]) == 0
    capsys.readouterr()
    return tmp_path / "straight"


@pytest.mark.slow
def test_ten_rounds_of_ask_and_tell_end_as_the_callable_run(tmp_path, capsys, callable_run):
    config = write(tmp_path, "lab", external=True)
    run, order, rounds = tmp_path / "lab", np.random.default_rng(0), 0
    while (said := ask(config if rounds == 0 else run, capsys)).endswith(".csv"):
        asked = Path(said)
        assert asked.parent == run / "ask" and asked.exists()
        assert main(["status", str(run)]) == 0
        assert "waiting      " in capsys.readouterr().out
        assert main(["tell", str(run), str(fill(asked, order))]) == 0
        assert "iteration done" in capsys.readouterr().out
        assert main(["inspect", str(run)]) == 0  # readable at every point
        capsys.readouterr()
        rounds += 1
    assert rounds == 10 and said.startswith("the search has stopped: 10 iterations done")
    assert results(run) == results(callable_run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert (
        manifest["counters"] == json.loads((callable_run / "manifest.json").read_text())["counters"]
    )
    assert (run / "best_and_top_k.png").exists()


def test_plates_of_n_go_out_in_separate_files_and_can_be_told_apart(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    first = Path(ask(config, capsys, "--n", "5"))
    second = Path(ask(run, capsys, "--n", "5", "--format", "jsonl"))
    assert first != second and second.suffix == ".jsonl"
    assert len(first.read_text().splitlines()) == 6 and len(second.read_text().splitlines()) == 5
    assert main(["tell", str(run), str(fill(first))]) == 0
    assert "told 5 score(s); 7 item(s) still waiting" in capsys.readouterr().out
    assert main(["status", str(run)]) == 0
    facts = status_facts(capsys.readouterr().out)
    assert facts["waiting"] == "7" and facts["out in"] == second.name
    assert facts["not out yet"] == "2"
    # the told plate is visible before the round is in
    assert facts["score calls"] == "5" and facts["told"] == "5 of 12"
    assert facts["results"] == "5"


BAD_ROWS = {
    "unknown id": lambda rows: [*rows, {**rows[0], "id": "999999"}],
    "duplicate": lambda rows: [*rows, {**rows[0], "score": "-1.5"}],
    "nan": lambda rows: [{**rows[0], "score": "nan"}, *rows[1:]],
    "text": lambda rows: [{**rows[0], "score": "high"}, *rows[1:]],
    "missing score": lambda rows: [{**rows[0], "score": ""}, *rows[1:]],
}
MESSAGES = {
    "unknown id": "row 14: id '999999' is not waiting for a score",
    "duplicate": "row 14: id .* was told .* before, now -1.5",
    "nan": "row 2: id .* has score 'nan'; scores must be finite",
    "text": "row 2: id .* has score 'high', which is not a number",
    "missing score": "row 2: id .* has no score",
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_scores_file_is_refused_whole_unless_partial(tmp_path, capsys, case):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    asked = Path(ask(config, capsys))
    filled = fill(asked)
    with open(filled) as handle:
        rows = list(csv.DictReader(handle))
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(BAD_ROWS[case](rows))
    before = {path: path.read_bytes() for path in (run / "log").iterdir()}
    assert main(["tell", str(run), str(filled)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "nothing was told" in error
    assert re.search(MESSAGES[case], error), error
    assert {path: path.read_bytes() for path in (run / "log").iterdir()} == before
    assert main(["tell", str(run), str(filled), "--partial"]) == 0
    out = capsys.readouterr().out
    assert "skipped row" in out


def test_invalid_rows_count_as_invalid_items_with_their_reason(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    filled = fill(Path(ask(config, capsys)))
    with open(filled) as handle:
        rows = list(csv.DictReader(handle))
    rows[0] = {**rows[0], "score": "", "reason": "the well dried out"}
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["tell", str(run), str(filled)]) == 0
    log = load_log(run / "log")
    dried = log.items[repr(int(rows[0]["id"]))]
    assert dried.internal.removal_reason == "the well dried out"


def test_run_refuses_an_external_config_and_a_config_needs_one_source_of_scores(tmp_path, capsys):
    assert main(["run", str(write(tmp_path, "lab", external=True))]) == 2
    assert "emb-opt ask" in capsys.readouterr().err
    assert main(["ask", str(write(tmp_path, "both", function="target", external=True))]) == 2
    assert "either a score function" in capsys.readouterr().err


@pytest.mark.slow
def test_a_tell_killed_at_any_moment_leaves_the_run_before_or_after(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    asked = Path(ask(config, capsys))
    filled = fill(asked)
    waiting = len(asked.read_text().splitlines()) - 1
    for delay in np.linspace(0.2, 2.5, 8):
        process = subprocess.Popen(
            [sys.executable, "-m", "emb_opt", "tell", str(run), str(filled)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert main(["status", str(run)]) == 0
        status = capsys.readouterr().out
        if f"waiting      {waiting}" not in status:  # after: the whole plate was told
            assert "iteration    1" in status and "waiting      0" in status
            break
        assert "iteration    0" in status  # before: nothing of it
    else:
        assert main(["tell", str(run), str(filled)]) == 0
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    assert "iteration    1" in capsys.readouterr().out


def test_proceed_goes_on_without_the_items_still_waiting(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    first = Path(ask(config, capsys, "--n", "5"))
    assert main(["tell", str(run), str(fill(first)), "--proceed"]) == 0
    assert "told 5 score(s); gave up 7 item(s) without a score; iteration done" in (
        capsys.readouterr().out
    )
    assert main(["tell", str(run), "--proceed"]) == 2
    assert "nothing is waiting" in capsys.readouterr().err
    log = load_log(run / "log")
    reasons = [item.internal.removal_reason for item in log.items.values()]
    assert log.counters.iterations == 1 and reasons.count("no score was told") == 7
    second = Path(ask(run, capsys))
    asked = {row.split(",")[0] for row in second.read_text().splitlines()[1:]}
    assert asked and not asked & {str(item.id) for item in log.items.values()}  # asked once


def _run_over_files(tmp_path: Path, capsys) -> tuple[Path, Path]:
    """An ask/tell run over an .npy file with its first round asked: (run, plate)."""
    np.save(tmp_path / "emb.npy", CORPUS.embeddings)
    config = write(tmp_path, "plate", external=True)
    document = yaml.safe_load(config.read_text())
    document["source"].update(data={"kind": "files", "embeddings": "emb.npy"}, filter=None)
    config.write_text(yaml.safe_dump(document))
    return tmp_path / "plate", Path(ask(config, capsys))


def test_a_run_whose_data_changed_is_refused_unless_accepted(tmp_path, capsys):
    run, plate = _run_over_files(tmp_path, capsys)

    def files() -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != MANIFEST}

    scores = fill(plate)
    before = files()
    np.save(tmp_path / "emb.npy", CORPUS.embeddings[::-1])  # same shape, other rows
    assert main(["tell", str(run), str(scores)]) == 2  # the round ends: the search reads data
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "source.data.embeddings: content changed" in err, err
    assert files() == before  # the manifest notes the refused check (for status), only that
    assert main(["status", str(run)]) == 0
    assert "refused: source.data.embeddings: content changed" in capsys.readouterr().out
    assert main(["tell", str(run), str(scores), "--accept-changed-data"]) == 0
    assert "iteration done" in capsys.readouterr().out
    manifest = json.loads((run / "manifest.json").read_text())
    assert "source.data.embeddings" in manifest["accepted_data_changes"][0]["changes"][0]


def test_an_open_round_is_handed_out_and_told_without_reading_the_data(tmp_path, capsys):
    """Asking for the items of an open round and telling scores that leave it open need no
    source: they work with the data files gone (and so read none of them)."""
    run, plate = _run_over_files(tmp_path, capsys)
    rows = plate.read_text().splitlines()
    first = plate.with_name("first.csv")
    first.write_text("\n".join(rows[:6]) + "\n")  # 5 of the 12 items
    (tmp_path / "emb.npy").rename(tmp_path / "away.npy")
    assert main(["tell", str(run), str(fill(first))]) == 0
    assert "told 5 score(s); 7 item(s) still waiting" in capsys.readouterr().out
    assert ask(run, capsys) == "all 7 waiting items are out already (emb-opt status)"
    assert main(["tell", str(run), str(fill(plate))]) == 2  # the round ends: the data is read
    assert "emb.npy" in capsys.readouterr().err
    (tmp_path / "away.npy").rename(tmp_path / "emb.npy")
    assert main(["tell", str(run), str(fill(plate))]) == 0
    assert "iteration done" in capsys.readouterr().out


def write_rows(path: Path, rows: list[tuple]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "score", "reason"])
        writer.writerows(rows)
    return path


def test_tell_replicate_averages_further_scores_of_items_told_earlier(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    filled = fill(Path(ask(config, capsys)))
    assert main(["tell", str(run), str(filled)]) == 0
    capsys.readouterr()
    with open(filled) as handle:
        told = {int(row["id"]): float(row["score"]) for row in csv.DictReader(handle)}
    best = json.loads((run / "results.jsonl").read_text().splitlines()[0])["id"]
    other = next(i for i in told if i != best)
    plate = Path(ask(run, capsys))  # the next iteration's items: not scored yet
    waiting = plate.read_text().splitlines()[1].split(",")[0]
    log = run / "log"
    before = {path: path.read_bytes() for path in log.iterdir()}
    bad = write_rows(tmp_path / "bad.csv", [(best, 0.9, ""), (waiting, 0.5, ""), ("nope", 1, "")])
    assert main(["tell", str(run), str(bad), "--replicate"]) == 2
    error = capsys.readouterr().err
    assert f"row 3: id '{waiting}' has no valid score to replicate" in error
    assert "row 4: id 'nope' has no valid score" in error and "nothing was replicated" in error
    assert {path: path.read_bytes() for path in log.iterdir()} == before
    assert main(["tell", str(run), str(bad), "--replicate", "--proceed"]) == 2
    assert "takes no --proceed" in capsys.readouterr().err
    again = [(best, told[best] + 0.1, ""), (best, told[best] + 0.2, ""), (other, "", "bubble")]
    good = write_rows(tmp_path / "again.csv", again)
    assert main(["tell", str(run), str(good), "--replicate"]) == 0
    assert "added 2 replicate score(s); 1 invalid row(s) not counted" in capsys.readouterr().out

    for rows in (
        [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()],
        load_log(log).compile_results(),
    ):
        found = {row["id"]: (row["score"], row["n_scores"]) for row in rows}
        assert found[best] == (pytest.approx(told[best] + 0.1), 3)
        assert found[other] == (pytest.approx(told[other]), 1)
    assert main(["status", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    status = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines)
    assert float(status["best score"]) == pytest.approx(told[best] + 0.1)
    assert status["waiting"] == "12"  # the open iteration is as it was
    assert main(["inspect", str(run)]) == 0
    assert re.search(r"rank +score +n +iteration", capsys.readouterr().out)
    assert main(["tell", str(run), str(bad), "--replicate", "--partial"]) == 0
    assert "added 1 replicate score(s); skipped row 3" in capsys.readouterr().out


def status_facts(text: str) -> dict[str, str]:
    """The facts `emb-opt status` printed, by name (names and values are two spaces apart)."""
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines())
