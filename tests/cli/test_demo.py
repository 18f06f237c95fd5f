"""`emb-opt demo`: the embedded default finds the true top items scoring a sliver of the data."""

from __future__ import annotations

import pytest

from emb_opt.cli.demo import run_demo

pytestmark = pytest.mark.slow  # a 100,000-vector search


def test_the_demo_finds_the_true_top_10_within_half_a_percent(tmp_path, capsys):
    figures = run_demo(tmp_path / "demo", quiet=True)
    assert figures["recall@1"] == 1.0
    assert figures["recall@10"] >= 0.9
    assert figures["scored fraction"] <= 0.005
    assert (tmp_path / "demo" / "results.parquet").exists()
    assert "true rank" in capsys.readouterr().out
