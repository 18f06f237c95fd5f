"""The README: a page a newcomer reads in five minutes, whose code runs as written (the
Python quickstart finds what it says it finds) and whose links reach the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from codeblocks import run_blocks
from documents import README, REPO

LINK = re.compile(r"\]\(([^)\s]+)\)")


def section(title: str) -> str:
    """The README's text under `## title`, to the next heading of that level."""
    return README.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def code_lines(text: str) -> list[str]:
    """The lines inside the fenced blocks of `text`."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, re.S)
    return [line for block in blocks for line in block.splitlines()]


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 250


def test_the_quickstarts_are_short_and_set_up_is_make_demo_and_make_test():
    assert len(code_lines(section("Quickstart in Python"))) <= 20
    assert len(code_lines(section("Quickstart on the command line"))) <= 10
    commands = [line.split("#")[0].strip() for line in code_lines(section("Set up"))]
    assert commands == ["make demo", "make test"]


@pytest.mark.slow
def test_every_readme_code_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace, skipped = run_blocks(README, tmp_path)
    log = namespace["log"]  # the Python quickstart's
    assert 0 < log.counters.score_calls <= 500
    assert all(row["data"]["price"] < 50 for row in log.compile_results())
    assert "score_calls" in capsys.readouterr().out
    run = tmp_path / "runs" / "search"  # the command-line quickstart's
    for name in ("results.parquet", "manifest.json", "best_and_top_k.png"):
        assert (run / name).stat().st_size > 0, name
    # the two that cannot run here: make (it runs the suite) and pip (it installs)
    assert len(skipped) == 2, skipped


@pytest.mark.slow
def test_readme_links_reach_docs_pages_and_anchors(site):
    links = [target for target in LINK.findall(README.read_text()) if "://" not in target]
    assert len(links) >= 10
    for target in links:
        path, _, anchor = target.partition("#")
        if not path:  # a heading of the README itself
            assert anchor in readme_anchors(), target
            continue
        assert (REPO / path).is_file(), target
        if anchor:
            page = site_page(site, Path(path))
            assert f'id="{anchor}"' in page.read_text(), target


def readme_anchors() -> set[str]:
    """The anchors of the README's headings, as GitHub makes them."""
    headings = re.findall(r"^#+ (.*)$", README.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def site_page(site: Path, page: Path) -> Path:
    """The HTML file the site builds from `docs/NAME.md`."""
    name = page.relative_to("docs").with_suffix("")
    return site / ("index.html" if name == Path("index") else name / "index.html")
