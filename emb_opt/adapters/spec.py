"""`SourceSpec`: what a backend's `connect` is given, independent of how it was written.

The config builds one from its `source` block (`emb_opt.config.build.source_spec`); a test or
a program can build one directly. The adapters never read the config itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..filters import TRUE, Filter, parse
from ..synthetic import Corpus


@dataclass(frozen=True)
class SourceSpec:
    """Where the items live and how to search them.

    `backend` names the backend; `url`, `path` and `api_key` how to reach it; `collection`
    which collection; `k` results per query; `filter` the metadata filter (the IR, or the
    plain-data form, parsed here once); `item_key` the metadata key holding the item;
    `data` a function returning the corpus to serve or load (None: no data given);
    `options` the backend's own keywords.
    """

    backend: str
    url: str | None = None
    path: str | None = None
    api_key: str | None = None
    collection: str = "emb_opt_demo"
    k: int = 10
    filter: Filter = TRUE
    item_key: str | None = "item"
    data: Callable[[], Corpus] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter", parse(self.filter))

    def corpus(self) -> Corpus:
        """The vectors, items and metadata `data` gives (a ConfigError when none is given)."""
        if self.data is None:
            raise ConfigError(
                f"source.data: the {self.backend} backend needs data: {{kind: synthetic, "
                "n: ..., dim: ...} or {kind: files, embeddings: x.npy, metadata: x.jsonl}"
            )
        return self.data()
