"""The plots of a run: what they are drawn from, and rounds grouped when there are many."""

from __future__ import annotations

import itertools
import json

import pytest

from emb_opt.cli.main import main
from emb_opt.cli.plots import (
    MAX_BOXES,
    PLOTS,
    _groups,
    draw_plots,
    known_scores,
    round_calls,
    scores_by_round,
)
from emb_opt.log import load_log
from emb_opt.synthetic import random_corpus

CORPUS = random_corpus(3000, 16, seed=0)  # what write_config's synthetic data holds
PASSING = [i for i in range(3000) if CORPUS.metadata[i]["rand"] < 0.9]  # write_config's filter
KNOWN_IDS = PASSING[:2500:500]  # items the source serves (a filtered-out id is not found)


@pytest.fixture
def finished_run(write_config, tmp_path, capsys):
    assert main(["run", str(write_config(stop={"iterations": 8})), "--quiet"]) == 0
    capsys.readouterr()
    return tmp_path / "out"


def test_rounds_hold_every_valid_score_and_end_at_the_calls_spent(finished_run):
    log = load_log(finished_run / "log")
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


@pytest.fixture(params=["maximize", "minimize"])
def warm_run(request, write_config, tmp_path, capsys):
    """A run warm-started from five known scores better than any the search can find (the
    objective lies in (0, 1]): 9 to 10 when maximising, -10 to -9 when minimising."""
    sign = 1 if request.param == "maximize" else -1
    scores = tmp_path / "known.csv"
    rows = [f"{i},{sign * (9 + n / 4)}" for n, i in enumerate(KNOWN_IDS)]
    scores.write_text("id,score\n" + "\n".join(rows) + "\n")
    config = write_config(
        score={"direction": request.param},
        start={"random": None, "scores": str(scores)},
        stop={"iterations": 6},
    )
    assert main(["run", str(config), "--quiet"]) == 0
    capsys.readouterr()
    return load_log(tmp_path / "out" / "log"), sign


def line(axes, label):
    (found,) = [line for line in axes.get_lines() if line.get_label() == label]
    return found


def test_known_items_are_the_baseline_and_best_follows_the_direction(warm_run):
    log, sign = warm_run
    known, rounds = known_scores(log), scores_by_round(log)
    best_known = sign * max(sign * s for s in known)
    assert sorted(known) == sorted(sign * (9 + n / 4) for n in range(len(KNOWN_IDS)))
    assert len(rounds) == log.counters.iterations and all(rounds)
    figures = draw_plots(log)

    axes = figures[PLOTS[0]].axes[0]
    best = line(axes, "best score")  # starts at 0 calls with the best known, never worsens
    x, y = best.get_data()
    assert x[0] == 0 and y[0] == pytest.approx(best_known)
    assert list(x[1:]) == round_calls(log, rounds)
    assert all(sign * (b - a) >= 0 for a, b in itertools.pairwise(y))
    assert y[-1] == pytest.approx(log.best().score)
    assert best.get_drawstyle() == "steps-post"
    assert line(axes, "mean of the best 10").get_drawstyle() == "steps-post"
    assert line(axes, f"best of {len(known)} known before the search").get_xydata().tolist() == [
        [0, pytest.approx(best_known)]
    ]

    axes = figures[PLOTS[1]].axes[0]
    label = "best of the round" + (" (lowest)" if sign < 0 else "")
    marks = line(axes, label).get_ydata()
    expected = [best_known] + [sign * max(sign * s for s in scores) for scores in rounds]
    assert list(marks) == pytest.approx(expected)
    ticks = [tick.get_text() for tick in axes.get_xticklabels()]
    assert ticks[0] == "known" and ticks[1] == "0"
    assert axes.get_xticks()[0] < 0  # left of round 0

    axes = figures[PLOTS[2]].axes[0]
    bars = sorted(axes.patches, key=lambda bar: bar.get_x())
    assert bars[0].get_x() + bars[0].get_width() < 0  # the known bar, left of round 0
    assert bars[0].get_height() == len(KNOWN_IDS)  # every known item is of the top k
    k = int(axes.get_ylabel().removeprefix("items of the top "))
    assert sum(bar.get_height() for bar in bars) == k
    for figure in figures.values():
        figure.clf()
