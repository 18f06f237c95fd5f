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
    # a field's docstring is its description: the docs' configuration reference shows it
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class SyntheticData(_Block):
    """Generated demo data: random vectors, 10-letter items, a `rand` field in [0, 1)."""

    kind: Literal["synthetic"] = "synthetic"
    """Generated data."""
    n: int = Field(10_000, gt=0)
    """How many vectors."""
    dim: int = Field(64, gt=0)
    """Their dimension."""
    seed: int = 0
    """The random seed that makes them."""


class FileData(_Block):
    """Vectors from an `.npy` file, optional metadata from a `.jsonl` file (one object per row)."""

    kind: Literal["files"] = "files"
    """Data read from files."""
    embeddings: str
    """An `.npy` file of the vectors, one row per item (relative to the config file)."""
    metadata: str | None = None
    """A `.jsonl` file of one JSON object per row, in the rows' order: each item's metadata."""
    items_key: str | None = None
    """The metadata field that holds each item itself (none: items are empty)."""


class SourceConfig(_Block):
    """Where the items live: the backend, its connection, `k`, the metadata filter."""

    backend: str
    """The backend: `numpy`, `faiss`, `hf`, `qdrant`, `chroma`, `milvus`, `pgvector`, `lancedb`,
    `qdrant-edge`, or a plugin's name (the `emb_opt.adapters` entry-point group)."""
    url: str | None = None
    """A server's URL (or a PostgreSQL DSN); none: the embedded engine at `path`."""
    path: str | None = None
    """The embedded engine's data directory or file (relative to the config file)."""
    api_key: str | None = None
    """The server's credential (Qdrant API key, Chroma token, Milvus token, LanceDB key, PostgreSQL
    password); give it as `${VAR}`, it is never written."""
    collection: str = "emb_opt_demo"
    """The collection or table searched."""
    k: int = Field(10, gt=0)
    """Results per query, all passing the filter whenever that many exist."""
    filter: dict[str, Any] | None = None
    """The metadata filter, applied inside the kNN (see Metadata filters), e.g.
    `{rand: {$lt: 0.9}}`."""
    item_key: str | None = "item"
    """The payload field holding the item itself."""
    data: SyntheticData | FileData | None = Field(None, discriminator="kind")
    """Data that fills the collection when it is missing (in-process backends: the data
    searched)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend-specific adapter arguments, e.g. `{field_kinds: {tag: str}}` for Milvus."""
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
    """A registry name (`guided`, `target`, `topk`, ...) or an import path, `module:function` or
    `package.module:Class`; a module beside the config file is found."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The parameters a class is built with; written beside `name` in short:
    `{name: surrogate, probes: 2}`."""
    secrets: list[str] = Field(default_factory=list)
    """The parameters that hold a credential: masked in a run's files, refused written out by
    `emb-opt ask` (give them as `${VAR}`)."""

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
    """The score function: `target` (the demo objective) or an import path such as
    `myscore:score`."""
    external: bool = False
    """Scores come from outside, through `emb-opt ask` and `emb-opt tell`, instead of a function."""
    direction: Literal["maximize", "minimize"] = "maximize"
    """`maximize`: higher scores are better; `minimize`: lower ones (docking scores, IC50s)."""
    filter_function: PluginConfig | None = None
    """An optional Python predicate run on items before they are scored."""

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
    """The strategy: `guided`, `surrogate`, `line_search`, `evolution`, `restarts`, `rl`, ... or an
    import path, with its parameters."""
    prune: PluginConfig | None = None
    """An optional prune function, e.g.
    `{name: topk, k: 1, score_agg: max, group_by: collection_id}`."""


class StartConfig(_Block):
    """Start queries: random items from the collection, given ids, or an `.npy` file; and
    `scores`, items scored before the run (a file of id,score rows or a run directory),
    found by id or, with `key`, by that metadata field (the rows' ids are its values).
    `scores` alone starts from the best `KNOWN_STARTS` of them; `count_budget` makes them
    spend `stop.max_score_calls`."""

    random: int | None = Field(None, gt=0)
    """Start from this many random items of the collection (that pass the filter)."""
    ids: list[int | str] | None = None
    """Start from the items with these ids."""
    file: str | None = None
    """Start from the query embeddings in this `.npy` file."""
    scores: str | None = None
    """Scores you already have: a file of `id,score` rows (CSV, Parquet, JSON lines) or an earlier
    run directory."""
    key: str | None = None
    """Find the items of `scores` by this metadata field instead of by id."""
    count_budget: bool = False
    """The known `scores` spend `stop.max_score_calls` too."""
    seed: int = 0
    """The seed of the random start items."""

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
    """Stop once the log holds this many iterations."""
    max_score_calls: int | None = None
    """The score-call budget; the last iteration scores only what is left of it."""
    target_score: float | None = None
    """Stop once the best score reaches this (at or below it when minimizing)."""
    patience: int | None = None
    """Stop after this many iterations without a better best score."""
    idle: int | None = 5
    """Stop after this many iterations in a row that scored nothing new (`null`: never)."""

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

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    kind: str = "serial"
    """Where the functions run: `serial` (the search's thread), `thread`, `process`, `ray`,
    `http` (a scoring service; see Executors) or a kind a package registers."""
    batch_size: int | None = Field(None, gt=0)
    """Items per call of the function (none: the executor's default)."""

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        if kind not in EXECUTORS:
            raise ValueError(EXECUTORS.unknown(kind))
        return kind


class OutputConfig(_Block):
    """Where a run writes its results, log, manifest and plots."""

    dir: str = "runs/emb_opt"
    """The run directory (relative to the config file); `--output` overrides it."""


class RunConfig(_Block):
    """A whole run."""

    source: SourceConfig
    """Where the items live."""
    score: ScoreConfig
    """What is maximised (or minimised)."""
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    """How the queries move."""
    start: StartConfig = Field(default_factory=lambda: StartConfig(random=10))
    """Where the search starts."""
    stop: StopConfig = Field(default_factory=StopConfig)
    """When it stops."""
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    """Where the filter and score functions run."""
    output: OutputConfig = Field(default_factory=OutputConfig)
    """Where the run's files go."""
    seed: int = 0
    """The seed of the runner, passed to strategies left unseeded."""
