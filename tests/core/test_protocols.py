"""The data-source tiers: what each source implements, and one clear line when a tier is missing."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

import emb_opt
from emb_opt.adapters.backend import builtin_backends
from emb_opt.config import build_run, validate
from emb_opt.errors import ConfigError, PluginError
from emb_opt.log import SearchLog
from emb_opt.protocols import (
    DataSource,
    Fetchable,
    Narrowable,
    Sampleable,
    Scannable,
    Searchable,
)
from emb_opt.update import SearchContext
from emb_opt.warmstart import fetch_known


class SearchOnly:
    """A source of the first tier only: called with queries, of a known dimension."""

    def __init__(self, source) -> None:
        self.source = source
        self.dimension = source.dimension

    def __call__(self, queries):
        return self.source(queries)


def test_the_in_process_adapters_implement_every_tier(numpy_source):
    for tier in (Searchable, Sampleable, Fetchable, Narrowable, Scannable, DataSource):
        assert isinstance(numpy_source, tier), tier.__name__
    assert isinstance(SearchOnly(numpy_source), Searchable)
    assert not isinstance(SearchOnly(numpy_source), Sampleable | Fetchable | Scannable)


def test_a_plain_function_is_not_searchable_and_skips_the_dimension_check():
    runner = emb_opt.Runner(lambda queries: [], score_function=lambda items: [])
    assert runner.dimension is None


def _run_over(source, **start):
    config = validate(
        {
            "source": {
                "backend": "numpy",
                "k": 5,
                "data": {"kind": "synthetic", "n": 200, "dim": 8, "seed": 0},
            },
            "score": {"function": "target"},
            "start": start,
        }
    )
    run = build_run(config)
    run.close()
    return dataclasses.replace(run, source=source(run.source))


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (
            {"random": 3},
            "start.random: SearchOnly cannot sample items "
            "(it does not implement Sampleable: sample)",
        ),
        (
            {"ids": [1, 2]},
            "start.ids: SearchOnly cannot fetch items by id "
            "(it does not implement Fetchable: fetch)",
        ),
    ],
)
def test_a_start_the_source_cannot_make_names_the_tier_in_one_line(start, message):
    run = _run_over(SearchOnly, **start)
    with pytest.raises(ConfigError) as refused:
        run.start_batch()
    assert str(refused.value) == message


def test_known_scores_need_a_fetchable_source(numpy_source):
    with pytest.raises(ConfigError, match=r"^start.scores: SearchOnly cannot fetch items by id"):
        fetch_known(SearchOnly(numpy_source), [("1", 0.5, None)])


@pytest.mark.parametrize(
    ("read", "tier"), [("sample", "Sampleable: sample"), ("scan", "Scannable: scan, count")]
)
def test_a_strategy_reading_a_missing_tier_gets_one_line(numpy_source, read, tier):
    context = SearchContext(SearchLog(), SearchOnly(numpy_source))
    assert not context.supports(Sampleable) and not context.supports(Scannable)
    with pytest.raises(PluginError) as refused:
        if read == "sample":
            context.sample(3, seed=0)
        else:
            next(context.scan())
    assert str(refused.value).startswith("the strategy: SearchOnly cannot ")
    assert str(refused.value).endswith(f"(it does not implement {tier})")
    assert "\n" not in str(refused.value)


def test_every_builtin_adapter_is_importable_from_emb_opt():
    for backend in builtin_backends().values():
        name = backend.adapter.__name__
        assert name in emb_opt.__all__
        assert getattr(emb_opt, name) is backend.adapter


def test_the_adapters_load_on_first_use_only():
    code = (
        "import sys, emb_opt; before = 'emb_opt.adapters.faiss' in sys.modules; "
        "emb_opt.FaissDataSource; print(before, 'emb_opt.adapters.faiss' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchDataSource'"):
        emb_opt.NoSuchDataSource  # noqa: B018


def test_the_docs_python_examples_import_from_emb_opt():
    repo = Path(__file__).resolve().parents[2]
    docs = "".join(p.read_text() for p in [repo / "README.md", *(repo / "docs").glob("*.md")])
    lines = re.findall(r"^from emb_opt import (.+)$", docs, re.M)
    imported = {name.strip() for line in lines for name in line.split(",")}
    assert {"Runner", "StopRule", "GuidedUpdate", "AskTell"} <= imported
    for name in imported | {"ScoreResponse", "Asked"}:
        assert name in docs
        assert name in emb_opt.__all__ and hasattr(emb_opt, name)


def test_every_error_class_is_in_the_tree_drawn_in_errors():
    from emb_opt import errors

    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.EmbOptError)
    ]
    assert {"LogError", "StateError", "RunDirectoryBusy"} <= {c.__name__ for c in classes}
    for cls in classes:
        assert cls.__name__ in (errors.__doc__ or ""), cls.__name__
        assert cls.__name__ in emb_opt.__all__


def test_the_old_homes_of_moved_errors_still_work():
    from emb_opt.cli.lock import RunDirectoryBusy
    from emb_opt.errors import LogError
    from emb_opt.update.state import StateError

    assert (LogError, StateError, RunDirectoryBusy) == (
        emb_opt.LogError,
        emb_opt.StateError,
        emb_opt.RunDirectoryBusy,
    )
