"""The plots of a run: what they are drawn from, and rounds grouped when there are many."""

from __future__ import annotations

import json

import pytest

from emb_opt.cli.main import main
from emb_opt.cli.plots import MAX_BOXES, PLOTS, _groups, round_calls, scores_by_round
from emb_opt.log import SearchLog


@pytest.fixture
def finished_run(write_config, tmp_path, capsys):
    assert main(["run", str(write_config(stop={"iterations": 8})), "--quiet"]) == 0
    capsys.readouterr()
    return tmp_path / "out"


def test_rounds_hold_every_valid_score_and_end_at_the_calls_spent(finished_run):
    log = SearchLog.load(finished_run / "log")
    rounds = scores_by_round(log)
    rows = [json.loads(line) for line in (finished_run / "results.jsonl").read_text().splitlines()]
    assert len(rounds) == log.counters.iterations == 8
    for number, scores in enumerate(rounds):  # a round holds what results.jsonl says it found
        expected = sorted(r["score"] for r in rows if r["iteration"] == number)
        assert sorted(scores) == pytest.approx(expected)
    calls = round_calls(log, rounds)
    assert calls == sorted(calls) and calls[-1] == log.counters.score_calls
    assert max(max(s) for s in rounds if s) == pytest.approx(log.best().score)


@pytest.mark.parametrize("count", [1, 7, MAX_BOXES, MAX_BOXES + 1, 17_000])
def test_many_rounds_share_boxes_and_none_is_left_out(count):
    groups = _groups(count)
    assert len(groups) <= MAX_BOXES
    assert [n for group in groups for n in group] == list(range(count))
    assert len({len(g) for g in groups[:-1]}) <= 1  # equal widths, but the last


def test_plot_redraws_the_three_plots(finished_run, capsys):
    for plot in PLOTS:
        (finished_run / plot).unlink()
    assert main(["plot", str(finished_run)]) == 0
    assert capsys.readouterr().out.split() == [str(finished_run / plot) for plot in PLOTS]
    for plot in PLOTS:
        assert (finished_run / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all((finished_run / plot).stat().st_size > 10_000 for plot in PLOTS)  # drawn on
