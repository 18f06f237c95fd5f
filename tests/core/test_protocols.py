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


PACKAGE = Path(emb_opt.__file__).parent
RETURNS_A_SOURCE = (
    r"\w*source\w*|opener|connect\w*|\w*_builder|_itself|_open_narrowed|_owning|close_also"
)
SOURCE_TYPED_ANY = [  # a source (or what opens one) typed Any: DataSource or a tier instead
    re.compile(r"\b\w*(source|opener|adapter)\w*\s*:\s*Any\b"),
    re.compile(r"\b\w*(source|opener|connect)\w*\s*:\s*Callable\[[^\]]*\],\s*Any\]"),
    re.compile(rf"def ({RETURNS_A_SOURCE})\(.*->\s*Any\b"),
    re.compile(rf"def ({RETURNS_A_SOURCE})\(.*->\s*Callable\[[^\]]*\],\s*Any\]"),
]


def _package_lines():
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            yield f"{path.relative_to(PACKAGE)}:{number}", line


def test_no_capability_is_probed_with_hasattr():
    assert [where for where, line in _package_lines() if "hasattr(" in line] == []


def test_no_source_is_typed_any():
    found = [
        f"{where}: {line.strip()}"
        for where, line in _package_lines()
        if any(pattern.search(line) for pattern in SOURCE_TYPED_ANY)
    ]
    assert found == []


class Unreopenable(SearchOnly):
    """A scannable source that cannot be opened in another process."""

    def scan(self, batch_size=8192):
        return self.source.scan(batch_size)

    def count(self):
        return self.source.count()


def test_rating_on_ray_refuses_a_source_other_processes_cannot_open(numpy_source):
    from emb_opt.config.build import check_rating_source
    from emb_opt.errors import BackendError
    from emb_opt.update import GuidedUpdate
    from emb_opt.update.pool import RayRater

    update = GuidedUpdate(rating=RayRater())
    check_rating_source(update, numpy_source)  # travels by value: fine
    with pytest.raises(BackendError) as refused:
        check_rating_source(update, Unreopenable(numpy_source))
    assert str(refused.value) == (
        "rating on Ray: Unreopenable cannot be opened again in another process "
        "(it does not implement Reopenable: opener, offer_opener)"
    )


def test_a_backend_that_builds_no_data_source_is_refused_in_one_line(tmp_path, monkeypatch):
    """A third-party backend (an installed entry point) whose builder returns a search-only
    source: refused when the source is opened, naming the backend and what is missing."""
    from emb_opt.adapters.spec import SourceSpec
    from emb_opt.config.build import open_source
    from emb_opt.errors import BackendError

    (tmp_path / "search_only_backend.py").write_text(
        "class Found:\n"
        "    dimension = 2\n"
        "    def __call__(self, queries):\n"
        "        return []\n"
        "def build(spec):\n"
        "    return Found()\n"
    )
    info = tmp_path / "search_only_backend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: search-only-backend\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[emb_opt.adapters]\nsearchonly = search_only_backend:build\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = SourceSpec(backend="searchonly", k=1)
    with pytest.raises(BackendError) as refused:
        open_source(spec)
    assert str(refused.value) == (
        "source.backend 'searchonly': Found cannot serve as a data source (it does not "
        "implement DataSource: __call__, dimension, scan, count, close)"
    )
