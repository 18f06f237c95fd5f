"""From a validated config to the parts of a search: data source, runner, stop rule, start batch."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..adapters.spec import SourceSpec
from ..errors import BackendError, ConfigError, UnknownIdError
from ..executors import Executor, ExecutorSpec
from ..log import SearchLog
from ..masking import mask_config
from ..protocols import (
    Closable,
    DataSource,
    Fetchable,
    Reopenable,
    Sampleable,
    Scannable,
    Searchable,
    lacks,
)
from ..runner import Runner
from ..schemas import Batch, Item
from ..stopping import StopRule
from ..utils import build_batch_from_embeddings, build_batch_from_items
from ..warmstart import fetch_known, read_known
from .backends import source_spec
from .import_path import modules_beside_config
from .registry import EXECUTORS, OBJECTIVES, PRUNES, STRATEGIES, Registry, backend_builder, resolve
from .schema import ExecutorConfig, PluginConfig, RunConfig, StrategyConfig

KNOWN_STARTS = 10  # start queries taken from the best known items when `start.scores` is alone


@dataclass
class Run:
    """Everything a configured search needs; `close()` releases the backend and executor."""

    config: RunConfig
    source: DataSource
    runner: Runner
    stop: StopRule

    def start_log(self) -> SearchLog:
        """A new log in the run's direction, holding the scores known before the run
        (`start.scores`), with the start queries pending."""
        log = self.runner.new_log()
        scores, key = self.config.start.scores, self.config.start.key
        if scores is not None:
            where = f"start.scores {scores}"
            answers = read_known(Path(scores), key=key)
            for item, score, reason in fetch_known(self.source, answers, where, key):
                log.add_known(item, score, reason)
        log.pending = self.start_batch(log)
        return log

    def start_batch(self, log: SearchLog | None = None) -> Batch:
        """The start queries; with `start.scores` alone, the best `KNOWN_STARTS` items
        of `log`."""
        start = self.config.start
        if start.random is None and start.ids is None and start.file is None:
            best = (log or SearchLog()).compile_results()[:KNOWN_STARTS]
            if not best:
                raise ConfigError("start.scores: no known item has a valid score to start from")
            return build_batch_from_items([_start_item(row) for row in best])
        if start.random is not None:
            if not isinstance(self.source, Sampleable):
                raise ConfigError(lacks("start.random", self.source, Sampleable))
            items = self.source.sample(start.random, seed=start.seed)
            if not items:
                raise ConfigError("start.random: the collection has no items that pass the filter")
            return build_batch_from_items(items)
        if start.ids is not None:
            if not isinstance(self.source, Fetchable):
                raise ConfigError(lacks("start.ids", self.source, Fetchable))
            try:
                return build_batch_from_items(self.source.fetch(start.ids))
            except UnknownIdError as error:
                raise ConfigError(f"start.ids: {error}") from None
        try:
            embeddings = np.load(start.file)  # type: ignore[arg-type]
        except OSError as error:
            raise ConfigError(f"start.file: cannot read {start.file!r} ({error})") from None
        return build_batch_from_embeddings(embeddings)

    def close(self) -> None:
        self.runner.executor.close()
        if isinstance(self.runner.update_function, Closable):
            self.runner.update_function.close()
        self.source.close()


def _start_item(row: dict[str, Any]) -> Item:
    """A known item (a row of `compile_results`) as a start item."""
    return Item.trusted(row["id"], row["item"], row["embedding"], row["data"], None)


def build_executor(config: ExecutorConfig) -> Executor:
    """The executor an `executor` block asks for: the builder `EXECUTORS` names for its
    `kind`, given the block's other keys and the modules imported from beside the config."""
    options = dict(config.model_extra or {})
    if config.batch_size is not None:
        options["batch_size"] = config.batch_size
    build = EXECUTORS.load(config.kind)
    try:
        executor: Executor = build(ExecutorSpec(config.kind, options, modules_beside_config))
    except TypeError as error:
        shown = mask_config(options, "executor")
        raise ConfigError(
            f"executor: {config.kind} executor does not take {shown}: {error}"
        ) from None
    return executor


def _plugin(config: PluginConfig | None, registry: Registry | None, where: str) -> Any:
    if config is None:
        return None
    return resolve(config.name, config.params, registry, where, config.secrets)


def build_run(config: RunConfig) -> Run:
    """Connect to the backend and build every plugin the config names (a `score.external`
    run's runner has no score function: its scores come from `emb-opt tell`)."""
    spec = source_spec(config.source)
    source = open_source(spec)
    try:
        check_k_fits(source, config.source.k, filtered=bool(config.source.filter))
        score = _plugin(config.score.function, OBJECTIVES, "score.function")
        filter_function = _plugin(config.score.filter_function, None, "score.filter_function")
        update, prune = build_strategy(config.strategy)
        executor = build_executor(config.executor)
        if config.executor.kind == "ray" and "rating" not in config.strategy.update.params:
            _rate_on_ray(update, config.executor)
        check_rating_source(update, source)
    except BaseException:
        source.close()
        raise
    runner = Runner(
        source,
        filter_function,
        score,
        prune,
        update,
        executor=executor,
        seed=config.seed,
        direction=config.score.direction,
    )
    return Run(config, source, runner, stop_rule(config))


def stop_rule(config: RunConfig) -> StopRule:
    """When the search of `config` stops: its `stop` block (the scores known before the run
    spending its budget with `start.count_budget`)."""
    return config.stop.rule(config.start.count_budget)


def open_source(spec: SourceSpec) -> DataSource:
    """The backend's source for `spec`; a `Reopenable` one opens itself again in another
    process by connecting again like this (unless it travels by value or its backend knows
    better). A BackendError when the backend builds no `DataSource`."""
    source = backend_builder(spec.backend)(spec)
    if not isinstance(source, DataSource):
        if isinstance(source, Closable):
            source.close()
        raise BackendError(lacks(f"source.backend {spec.backend!r}", source, DataSource))
    if isinstance(source, Reopenable):
        source.offer_opener(functools.partial(open_source, spec))
    return source


def _rate_on_ray(update: Any, executor: ExecutorConfig) -> None:
    """With `executor: {kind: ray}`, a guided strategy rates its pool rounds on Ray too."""
    from ..update import GuidedUpdate
    from ..update.pool import RayRater

    if isinstance(update, GuidedUpdate):
        update.rating = RayRater(address=(executor.model_extra or {}).get("address"))


def check_rating_source(update: Any, source: DataSource) -> None:
    """A guided strategy rating on Ray needs a source that other processes can open: a
    one-line BackendError now (naming why and what to do), not at its first pool round."""
    from ..update import GuidedUpdate
    from ..update.pool import RayRater

    if isinstance(update, GuidedUpdate) and isinstance(update.rating, RayRater):
        RayRater.opener_of(source)


def check_k_fits(source: Searchable, k: int, filtered: bool) -> None:
    """Refuse a `k` beyond the items the source holds (that pass the filter): every query
    would ask the engine for more results than exist."""
    count = source.count() if isinstance(source, Scannable) else None
    if count is not None and k > count:
        which = " that pass source.filter" if filtered else ""
        raise ConfigError(
            f"source.k: {k} is more than the {count} items of the collection{which}; "
            f"set k to at most {count}"
        )


def build_strategy(config: StrategyConfig) -> tuple[Any, Any]:
    """The update function and prune function (or None) a `strategy` block names."""
    update = _update(config.update, "strategy.update")
    return update, _plugin(config.prune, PRUNES, "strategy.prune")


def _update(config: PluginConfig, where: str) -> Any:
    """The update function; a wrapper's `update` param (e.g. `restarts`) names another one."""
    params = config.params
    inner = params.get("update")
    if isinstance(inner, (str, dict)):
        try:
            nested = PluginConfig.model_validate(inner)
        except ValidationError as error:
            raise ConfigError(f"{where}.update: {error.errors()[0]['msg']}") from None
        params = {**params, "update": _update(nested, f"{where}.update")}
    return resolve(config.name, params, STRATEGIES, where, config.secrets)
