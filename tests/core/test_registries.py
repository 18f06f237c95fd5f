"""One registry per kind of part (backends, strategies, objectives, prunes, executors): names
to import paths, and an entry-point group through which an installed package adds its own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from emb_opt.adapters.backend import Backend
from emb_opt.config import validate
from emb_opt.config.build import build_executor, build_strategy
from emb_opt.config.registry import (
    BACKENDS,
    EXECUTORS,
    OBJECTIVES,
    PRUNES,
    STRATEGIES,
    Registry,
)
from emb_opt.config.schema import ExecutorConfig, StrategyConfig
from emb_opt.errors import ConfigError
from emb_opt.executors import SerialExecutor

REGISTRIES = [BACKENDS, STRATEGIES, OBJECTIVES, PRUNES, EXECUTORS]
CONFIG = {"source": {"backend": "numpy"}, "score": {"function": "target"}}


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda registry: registry.kind)
def test_every_built_in_name_imports_what_it_names(registry: Registry):
    assert len(registry) >= 1
    for name in registry:
        found = registry[name]
        assert isinstance(found, Backend) or callable(found), name


def test_each_kind_has_its_own_entry_point_group():
    groups = [registry.group for registry in REGISTRIES]
    assert len(set(groups)) == len(groups)
    assert all(group.startswith("emb_opt.") for group in groups)


def install(site: Path, group: str, name: str, target: str, code: str) -> None:
    """A package in `site` (put on sys.path) registering `name` in entry-point `group`,
    naming `target` (module:attribute) in a module holding `code`."""
    module = target.partition(":")[0]
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{name} = {target}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(code))


TOY_EXECUTOR = """
    from emb_opt.executors import SerialExecutor

    class ToyExecutor(SerialExecutor):
        def __init__(self, batch_size=None, note=""):
            super().__init__(batch_size)
            self.note = note

    def build(spec):
        return ToyExecutor(**spec.options)
"""


def test_an_installed_executor_is_a_kind_of_the_config(tmp_path, monkeypatch):
    install(tmp_path, "emb_opt.executors", "toy", "toy_executor:build", TOY_EXECUTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "toy" in EXECUTORS
    config = validate({**CONFIG, "executor": {"kind": "toy", "batch_size": 2, "note": "hi"}})
    executor = build_executor(config.executor)
    assert type(executor).__name__ == "ToyExecutor" and executor.note == "hi"
    assert executor.run(lambda batch: [2 * x for x in batch], [1, 2, 3]) == [
        ([1, 2], [2, 4]),
        ([3], [6]),
    ]


def test_an_unknown_kind_lists_the_kinds_there_are():
    with pytest.raises(ConfigError) as refused:
        validate({**CONFIG, "executor": {"kind": "dask"}})
    message = str(refused.value)
    assert "executor.kind: unknown executor kind 'dask'; expected one of " in message
    assert all(kind in message for kind in ("serial", "thread", "process", "ray", "http"))
    assert "entry-point group 'emb_opt.executors'" in message


def test_a_kind_s_builder_gets_the_block_s_keys_and_refuses_others():
    executor = build_executor(ExecutorConfig(kind="thread", concurrency=3, batch_size=5))
    assert (executor.max_workers, executor.batch_size) == (3, 5)
    assert isinstance(build_executor(ExecutorConfig(kind="serial")), SerialExecutor)
    with pytest.raises(ConfigError, match=r"executor: serial executor does not take .*'cores'"):
        build_executor(ExecutorConfig(kind="serial", cores=2))


TOY_STRATEGY = """
    from emb_opt.update import TopKDiscreteUpdate

    class ToyTopK(TopKDiscreteUpdate):
        pass
"""


def test_an_installed_strategy_is_a_name_of_the_config(tmp_path, monkeypatch):
    install(tmp_path, "emb_opt.strategies", "toy_topk", "toy_strategy:ToyTopK", TOY_STRATEGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "toy_topk" in STRATEGIES
    update, _ = build_strategy(StrategyConfig(update={"name": "toy_topk", "k": 3}))
    assert type(update).__name__ == "ToyTopK" and update.k == 3
