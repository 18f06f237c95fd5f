"""Data-source wrappers; the adapters themselves live in `emb_opt.adapters`."""

from __future__ import annotations

from collections.abc import Sequence

from .log import item_key
from .protocols import Closable, DataSource, Searchable
from .schemas import DataSourceFunction, DataSourceResponse, Query
from .update.gradient import GRADIENT_KEY

__all__ = ["DataPluginGradWrapper", "DataSource"]


class DataPluginGradWrapper:
    """Searches each query at its own position and at steps along its stored score gradient.

    Pair with `emb_opt.update.UpdatePluginGradientWrapper`, which stores the gradient. All
    probes of all queries go to the data source in one call; each query gets the unique
    items its probes found.
    """

    def __init__(self, data_source: Searchable | DataSourceFunction, lrs: Sequence[float]) -> None:
        if not lrs:
            raise ValueError("DataPluginGradWrapper needs at least one step size in lrs, got []")
        self.data_source = data_source
        self.lrs = [float(lr) for lr in lrs]

    @property
    def dimension(self) -> int | None:
        return self.data_source.dimension if isinstance(self.data_source, Searchable) else None

    def close(self) -> None:
        if isinstance(self.data_source, Closable):
            self.data_source.close()

    def __call__(self, queries: list[Query]) -> list[DataSourceResponse]:
        probes: list[Query] = []
        owners: list[int] = []
        for index, query in enumerate(queries):
            gradient = (query.data or {}).get(GRADIENT_KEY)
            steps = [0.0] + (self.lrs if gradient is not None else [])
            for lr in steps:
                embedding = query.embedding
                if gradient is not None and lr != 0.0:
                    embedding = embedding + lr * gradient
                probes.append(Query(embedding=embedding, internal=query.internal))
                owners.append(index)
        responses = self.data_source(probes)
        merged = [DataSourceResponse(valid=True, query_results=[]) for _ in queries]
        seen: list[set[str]] = [set() for _ in queries]
        for owner, response in zip(owners, responses):
            response = DataSourceResponse.model_validate(response)
            merged[owner].valid = merged[owner].valid and response.valid
            merged[owner].data = {**(merged[owner].data or {}), **(response.data or {})}
            for item in response.query_results:
                key = item_key(item)
                if key not in seen[owner]:
                    seen[owner].add(key)
                    merged[owner].query_results.append(item)
        return merged
