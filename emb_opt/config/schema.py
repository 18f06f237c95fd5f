"""The run configuration: one YAML file, validated here. Swapping backends edits `source` only."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ..errors import FilterError
from ..filters import TRUE, Filter, parse
from ..filters.ir import check_field
from ..stopping import StopRule
from .registry import EXECUTORS


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyntheticData(_Block):
    """Generated demo data: random vectors, 10-letter items, a `rand` field in [0, 1)."""

    kind: Literal["synthetic"] = "synthetic"
    n: int = Field(10_000, gt=0)
    dim: int = Field(64, gt=0)
    seed: int = 0


class FileData(_Block):
    """Vectors from an `.npy` file, optional metadata from a `.jsonl` file (one object per row)."""

    kind: Literal["files"] = "files"
    embeddings: str
    metadata: str | None = None
    items_key: str | None = None


class SourceConfig(_Block):
    """Where the items live: the backend, its connection, `k`, the metadata filter."""

    backend: str
    url: str | None = None
    path: str | None = None
    api_key: str | None = None
    collection: str = "emb_opt_demo"
    k: int = Field(10, gt=0)
    filter: dict[str, Any] | None = None
    item_key: str | None = "item"
    data: SyntheticData | FileData | None = Field(None, discriminator="kind")
    options: dict[str, Any] = Field(default_factory=dict)
    _parsed_filter: Filter = PrivateAttr(default=TRUE)

    @model_validator(mode="after")
    def _parse_filter(self) -> SourceConfig:
        """Parse `filter` once, here: the IR is what the backend is handed."""
        try:
            self._parsed_filter = parse(self.filter)
        except FilterError as error:
            raise ValueError(f"filter: {error}") from None
        return self

    @property
    def parsed_filter(self) -> Filter:
        """`filter` as the filter IR (`emb_opt.filters`)."""
        return self._parsed_filter


class PluginConfig(_Block):
    """A callable by registry name or import path (`package.module:name`), with parameters;
    `secrets` names those that hold a credential (masked in a run's files, refused written
    out by `emb-opt ask`: give them as `${VAR}`)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """Accept a bare string, and parameters written beside the name."""
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and "params" not in value:
            params = {k: v for k, v in value.items() if k not in ("name", "secrets")}
            return {**{k: value[k] for k in ("name", "secrets") if k in value}, "params": params}
        return value

    @model_validator(mode="after")
    def _secrets_are_params(self) -> PluginConfig:
        unknown = [name for name in self.secrets if name not in self.params]
        if unknown:
            raise ValueError(
                f"secrets: {unknown[0]!r} is not a parameter of {self.name!r}; its parameters: "
                f"{', '.join(self.params) or '(none)'}"
            )
        return self


class ScoreConfig(_Block):
    """The objective (a built-in name or an import path), or `external: true` when scores
    come from outside (`emb-opt ask` / `tell`); an optional filter function; and whether
    higher (`direction: maximize`, the default) or lower scores are better."""

    function: PluginConfig | None = None
    external: bool = False
    direction: Literal["maximize", "minimize"] = "maximize"
    filter_function: PluginConfig | None = None

    @model_validator(mode="after")
    def _one_source_of_scores(self) -> ScoreConfig:
        if (self.function is None) == (not self.external):
            raise ValueError(
                "give either a score function (score.function) or score.external: true, "
                "not both or neither"
            )
        return self


class StrategyConfig(_Block):
    """The update function and an optional prune function (by default the model-guided
    strategy, the best on the benchmarks)."""

    update: PluginConfig = Field(default_factory=lambda: PluginConfig(name="guided"))
    prune: PluginConfig | None = None


class StartConfig(_Block):
    """Start queries: random items from the collection, given ids, or an `.npy` file; and
    `scores`, items scored before the run (a file of id,score rows or a run directory),
    found by id or, with `key`, by that metadata field (the rows' ids are its values).
    `scores` alone starts from the best `KNOWN_STARTS` of them; `count_budget` makes them
    spend `stop.max_score_calls`."""

    random: int | None = Field(None, gt=0)
    ids: list[int | str] | None = None
    file: str | None = None
    scores: str | None = None
    key: str | None = None
    count_budget: bool = False
    seed: int = 0

    @model_validator(mode="after")
    def _exactly_one(self) -> StartConfig:
        given = [name for name in ("random", "ids", "file") if getattr(self, name) is not None]
        if len(given) > 1 or (not given and self.scores is None):
            raise ValueError(
                "give exactly one of random, ids or file (or scores alone); got "
                f"{', '.join(given) or 'none'}"
            )
        if self.key is not None:
            if self.scores is None:
                raise ValueError("key: finds the items of start.scores; give scores too")
            try:
                check_field(self.key)
            except FilterError as error:
                raise ValueError(f"key: {error}") from None
        return self


class StopConfig(_Block):
    """When a run stops; by default after 5 iterations in a row that scored nothing new
    (`idle: null` turns that off). The values are checked by the `StopRule` they make."""

    iterations: int = 200
    max_score_calls: int | None = None
    target_score: float | None = None
    patience: int | None = None
    idle: int | None = 5

    @model_validator(mode="after")
    def _a_valid_rule(self) -> StopConfig:
        self.rule()
        return self

    def rule(self, count_known: bool = False) -> StopRule:
        """The `StopRule` this block describes."""
        return StopRule.from_config(self.model_dump(), count_known)


class ExecutorConfig(_Block):
    """Where filter and score functions run: `kind` names the executor (`EXECUTORS`), whose
    builder takes the keys beside it."""

    model_config = ConfigDict(extra="allow")

    kind: str = "serial"
    batch_size: int | None = Field(None, gt=0)

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        if kind not in EXECUTORS:
            raise ValueError(EXECUTORS.unknown(kind))
        return kind


class OutputConfig(_Block):
    dir: str = "runs/emb_opt"


class RunConfig(_Block):
    """A whole run."""

    source: SourceConfig
    score: ScoreConfig
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    start: StartConfig = Field(default_factory=lambda: StartConfig(random=10))
    stop: StopConfig = Field(default_factory=StopConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    seed: int = 0
