"""MilvusDataSource: kNN in a Milvus collection, one multi-vector `search` per iteration.

Works with `pymilvus.MilvusClient` against a Milvus server or Milvus Lite. The filter
compiles to a Milvus expression (`emb_opt.filters.to_milvus`): with templates
(`filter_params`) on servers >= 2.5, with strictly escaped literals otherwise. Metadata
lives in scalar fields or in the dynamic field (JSON), where a row may lack a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import missing_dependency
from ..filters import FALSE, Filter
from ..filters._native import check_kinds, compared_fields, infer_kinds, sampled_kinds
from ..filters.ir import and_, compare
from ..filters.to_milvus import (
    Dialect,
    MilvusSchema,
    key_range,
    milvus_filter,
    render_milvus,
    type_name,
)
from .backend import Backend
from .base import MATCHES_NOTHING, QueryHits, VectorDataSource, id_bounds
from .fields import NUMBER, OTHER, TEXT, VECTOR, Declared
from .names import IDENTIFIER, MILVUS, MILVUS_NAME
from .remote import (
    LoaderCalls,
    RemoteDataSource,
    ScoreConvention,
    load_rows,
    loader_metric,
)
from .retry import RetryPolicy, is_transient
from .servers import connect_server
from .spec import SourceSpec

METRICS = {"L2": "l2", "COSINE": "cosine", "IP": "ip"}
SCORES = ScoreConvention(l2_squared=True, similarity=True)
KINDS_PROPERTY = "emb_opt.field_kinds"  # where load_collection records metadata kinds
FLOAT_VECTORS = ("FLOAT_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR")
NUMBERS = ("INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE")
SCALAR_FIELDS = {  # Milvus type -> (kind, width) of what `stored_fields` reports
    **dict.fromkeys(NUMBERS, (NUMBER, 1)),
    **dict.fromkeys(("VARCHAR", "STRING"), (TEXT, 0)),
    "BOOL": (OTHER, 0),
}
ITERATOR_BATCH = 10_000
MAX_QUERY_WINDOW = 16_384  # Milvus answers at most this many rows per query call
KIND_SAMPLE = 10_000  # rows Milvus Lite reads to check and infer the kinds of dynamic keys
LITE_FILE = "emb_opt_milvus.db"  # a config source with neither url nor path


def import_milvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise missing_dependency("pymilvus", "milvus") from None
    return pymilvus


def milvus_address(client: Any) -> str:
    """The URI the client was created with (a server URL or a Milvus Lite file)."""
    for holder in (client, getattr(client, "_config", None)):
        uri = getattr(holder, "uri", None) or getattr(holder, "_uri", None)
        if isinstance(uri, str) and uri:
            return uri
    return "the Milvus server"


def _at_least_2_5(version: str) -> bool:
    found = re.match(r"v?(\d+)\.(\d+)", version)
    return found is not None and (int(found.group(1)), int(found.group(2))) >= (2, 5)


def milvus_dialect(version: str, client_version: str | None = None) -> Dialect:
    """ "lite" for Milvus Lite 3.x, "templates" when server and pymilvus are >= 2.5 (both
    needed for `filter_params`), else "server" (escaped literals)."""
    if version.lower().startswith("milvus_lite"):
        return "lite"
    client_version = client_version or import_milvus().__version__
    if _at_least_2_5(version) and _at_least_2_5(client_version):
        return "templates"
    return "server"


class MilvusDataSource(RemoteDataSource):
    """Search `collection_name` with the `k` nearest entities per query, filtered natively.

    `vector_field` / `id_field` default to the collection's only float vector field and
    its primary key. `item_key` names the (scalar or dynamic) field holding the item
    itself; all other fields become `Item.data`. `search_params` (e.g. `{"params":
    {"ef": 64}}`) and `consistency_level` pass through. The collection is loaded if it is
    not. Distances: euclidean, 1 - cosine or minus the inner product. `close()` leaves the
    client open: it belongs to the caller.

    Kinds of dynamic keys: Milvus Lite compares like Python (True == 1), so it filters a
    dynamic key exactly only once it knows the kind of its values. They come from what
    `load_collection` recorded (the complete list of keys) unless `field_kinds` maps keys
    to "number", "bool", "str" or "mixed"; on Lite, the first `kind_sample` rows then
    check the declared kinds (a contradiction is a ValueError) and give the kind of the
    other keys when they are every row. Servers compare JSON values by type and use
    recorded kinds only.
    """

    backend = "Milvus"
    max_k = MAX_QUERY_WINDOW  # Milvus's topk limit

    def __init__(
        self,
        client: Any,
        collection_name: str,
        k: int = 10,
        filter: Any = None,
        item_key: str | None = None,
        distance_cutoff: float | None = None,
        *,
        vector_field: str | None = None,
        id_field: str | None = None,
        search_params: Mapping[str, Any] | None = None,
        consistency_level: str | None = None,
        field_kinds: Mapping[str, str] | None = None,
        kind_sample: int = KIND_SAMPLE,
        timeout: float | None = 60.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        """A source over a Milvus collection.

        Args:
            client: the caller's client (left open by `close()`).
            collection_name: the collection to search.
            k: results per query.
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            item_key: the field holding the item (None: no item).
            distance_cutoff: results farther than this are dropped (None: none are).
            vector_field: the vector field (default: the collection's only one).
            id_field: the id field (default: the primary key).
            search_params: passed through, e.g. `{"params": {"ef": 64}}`.
            consistency_level: passed through.
            field_kinds: the kinds of dynamic keys: "number", "bool", "str" or "mixed".
            kind_sample: rows read on Milvus Lite to check and find the kinds.
            timeout: seconds each search may take (None: no limit).
            retry: how database calls are retried (None: `RetryPolicy()`).
        """
        super().__init__(client, collection_name, k, filter, item_key, distance_cutoff, retry)
        self.timeout = timeout
        description = self._describe()
        fields = description["fields"]
        self.id_field = id_field or next(f["name"] for f in fields if f.get("is_primary"))
        id_type = type_name(next(f for f in fields if f["name"] == self.id_field))
        self._id_kind = {"INT64": int, "VARCHAR": str}.get(id_type)  # what a fetched id must be
        self._fields = fields
        vector = _vector_field(fields, vector_field)
        self.vector_field = vector["name"]
        self._dimension = int(vector["params"]["dim"])
        self.metric = self._index_metric()
        self._ensure_loaded()
        self.dialect = milvus_dialect(str(self._call("version", client.get_server_version)))
        self.schema = self._schema(description, field_kinds, kind_sample)
        self._consistency = {"consistency_level": consistency_level} if consistency_level else {}
        self.search_params = {"metric_type": self._metric_name, **(search_params or {})}
        self._output = [self.vector_field, "*"]
        self._fields_not_metadata = frozenset((self.id_field, self.vector_field))

    def _filter_compiled(self) -> None:
        """Searches and queries send the compiled filter's params with `_extra`."""
        self._extra = self._options(None if self._empty else self.native_filter[1])

    def _options(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The keywords of a search or query: the consistency level, the filter's params."""
        return {**self._consistency, **({"filter_params": params} if params else {})}

    def _compile(self, flt: Filter) -> Any:
        """(expression, filter_params), folded for the schema (known kinds can make FALSE)."""
        folded = milvus_filter(flt, self.schema)
        return (
            MATCHES_NOTHING if folded == FALSE else render_milvus(folded, self.schema, self.dialect)
        )

    @property
    def expression(self) -> str:
        """The filter expression searches and queries send ("" for none)."""
        return "" if self._empty else str(self.native_filter[0])

    @property
    def address(self) -> str:
        return milvus_address(self.client)

    @property
    def dimension(self) -> int:
        return self._dimension

    def _describe(self) -> Any:
        try:
            return self._call(
                "describe_collection", self.client.describe_collection, self.collection_name
            )
        except Exception as error:
            if is_transient(error) or self.client.has_collection(self.collection_name):
                raise
            raise ValueError(
                f"Milvus at {self.address} has no collection {self.collection_name!r}; "
                f"collections: {self.client.list_collections()}"
            ) from None

    def _index_metric(self) -> str:
        names = self._call(
            "list_indexes",
            self.client.list_indexes,
            self.collection_name,
            field_name=self.vector_field,
        )
        if not names:
            raise ValueError(
                f"Milvus collection {self.collection_name!r} has no index on "
                f"{self.vector_field!r}; create one (e.g. FLAT for exact search)"
            )
        index = self._call(
            "describe_index", self.client.describe_index, self.collection_name, names[0]
        )
        self._metric_name = str(index.get("metric_type", "")).upper()
        if self._metric_name not in METRICS:
            raise ValueError(
                f"Milvus index on {self.vector_field!r} uses metric {self._metric_name!r}; "
                f"supported: {', '.join(METRICS)}"
            )
        return METRICS[self._metric_name]

    def _schema(
        self,
        description: Mapping[str, Any],
        declared: Mapping[str, str] | None,
        sample_size: int,
    ) -> MilvusSchema:
        """The collection's fields and the kinds of its dynamic keys (see the class doc)."""
        if not isinstance(sample_size, int) or not 0 <= sample_size <= MAX_QUERY_WINDOW:
            raise ValueError(
                f"kind_sample must be an int from 0 to {MAX_QUERY_WINDOW}, got {sample_size!r}"
            )
        schema = MilvusSchema.from_description(description, {}, kinds_complete=False)
        recorded = (description.get("properties") or {}).get(KINDS_PROPERTY)
        if declared is None and recorded:
            return replace(schema, kinds=check_kinds(json.loads(recorded)), kinds_complete=True)
        kinds = check_kinds(declared or {})
        keys = compared_fields(self.filter) - set(schema.static) if schema.dynamic else set()
        if self.dialect != "lite":
            kinds = {}  # servers compare JSON values by type: they need no kinds
        elif keys and sample_size:
            rows = self._first_rows(sorted(keys), sample_size)
            kinds = sampled_kinds(kinds, rows, keys, exhaustive=len(rows) < sample_size)
        return replace(schema, kinds=kinds)

    def _first_rows(self, keys: list[str], limit: int) -> list[Any]:
        """The values of `keys` in the first `limit` rows (a key a row lacks is absent)."""
        return self._call(
            "query",
            self.client.query,
            self.collection_name,
            filter="",
            output_fields=keys,
            limit=limit,
            timeout=self.timeout,
        )

    def _ensure_loaded(self) -> None:
        state = self._call("get_load_state", self.client.get_load_state, self.collection_name)
        if getattr(state.get("state"), "name", str(state.get("state"))) != "Loaded":
            self._call("load_collection", self.client.load_collection, self.collection_name)

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        data = queries.tolist()

        def search() -> list[list[Any]]:  # pymilvus decodes lazily: decode in the call
            results = self.client.search(
                self.collection_name,
                data=data,
                anns_field=self.vector_field,
                filter=self.expression,
                limit=self.k,
                output_fields=self._output,
                search_params=self.search_params,
                timeout=self.timeout,
                **self._extra,
            )
            return [list(hits) for hits in results]

        results = self._call("search", search)
        return [self._entities_to_hits(hits) for hits in results]

    def _entities_to_hits(self, hits: Sequence[Any], scored: bool = True) -> QueryHits:
        entities = [hit["entity"] if scored else hit for hit in hits]
        raw = np.array([hit["distance"] for hit in hits] if scored else [], dtype=np.float64)
        return self._hits(
            [(hit if scored else entity)[self.id_field] for hit, entity in zip(hits, entities)],
            SCORES.to_distance(self.metric, raw) if scored else np.zeros(len(hits)),
            [entity[self.vector_field] for entity in entities],
            entities,
            drop=self._fields_not_metadata,
        )

    def _query_pages(
        self, batch_size: int, output_fields: list[str], bounds: tuple[Any, Any] | None = None
    ) -> Iterator[list[Any]]:
        """Pages of at most `batch_size` matching rows, from a query iterator (in primary key
        order), with keys from `start` (None: the first) to before `end` (None: the last)."""
        expression, extra = self.expression, self._extra
        lower, upper = bounds or (None, None)
        key, params = key_range(self.id_field, lower, upper, self.dialect)
        if key:
            expression = f"({expression}) and ({key})" if expression else key
        if params:
            extra = {**extra, "filter_params": {**extra.get("filter_params", {}), **params}}
        iterator = self._call(
            "query_iterator",
            self.client.query_iterator,
            self.collection_name,
            batch_size=min(batch_size, MAX_QUERY_WINDOW),
            filter=expression,
            output_fields=output_fields,
            timeout=self.timeout,
            **extra,
        )
        try:
            while batch := self._call("query_iterator.next", iterator.next):
                yield batch
        finally:
            iterator.close()

    def _ids(self) -> Iterator[Any]:
        """The matching primary keys, in order."""
        for batch in self._query_pages(ITERATOR_BATCH, [self.id_field]):
            yield from (row[self.id_field] for row in batch)

    def _matching_ids(self) -> list[Any]:
        return list(self._ids())

    def _partition_bounds(self, count: int) -> list[Any]:
        """Primary key ranges holding near-equal numbers of matching rows."""
        return id_bounds(self._ids(), self._count(), count)

    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        output = self._output if fields is None else self._output_of(fields)
        for batch in self._query_pages(batch_size, output, bounds):
            yield self._entities_to_hits(batch, scored=False)

    def _output_of(self, fields: tuple[str, ...]) -> list[str]:
        """The output fields of a scan reading `fields` (and the item): those the schema
        has or the dynamic field may hold; everything when a dynamic key is no plain name
        (which Milvus cannot name in output_fields)."""
        keys = [*fields, *([self.item_key] if self.item_key else [])]
        static, dynamic = self.schema.static, self.schema.dynamic
        if dynamic and not all(re.fullmatch(IDENTIFIER, k) for k in keys if k not in static):
            return self._output
        return list(
            dict.fromkeys([self.vector_field, *(k for k in keys if dynamic or k in static)])
        )

    def _declared_fields(self) -> Declared:
        """The kinds of the schema's scalar, vector and array fields (the dynamic field's
        keys, and JSON fields, are known from the sample)."""
        declared: dict[str, tuple[str, int | None]] = {}
        for spec in self._fields:
            name, kind = spec["name"], type_name(spec)
            if name in (self.id_field, self.vector_field, self.item_key):
                continue
            if kind in SCALAR_FIELDS:
                declared[name] = SCALAR_FIELDS[kind]
            elif kind in FLOAT_VECTORS:
                declared[name] = (VECTOR, int(spec["params"]["dim"]))
            elif kind == "ARRAY" and type_name({"type": spec.get("element_type")}) in NUMBERS:
                declared[name] = (VECTOR, None)
        return declared

    def _process_bound(self) -> str | None:
        if self.dialect == "lite" or self.address.endswith(".db"):  # a Milvus Lite file
            return "Milvus Lite (its .db file) is open in one process at a time"
        return None

    def _count(self) -> int:
        (row,) = self._call(
            "query",
            self.client.query,
            self.collection_name,
            filter=self.expression,
            output_fields=["count(*)"],
            timeout=self.timeout,
            **self._extra,
        )
        return int(row["count(*)"])

    def _find(self, ids: list[Any]) -> QueryHits:
        """One query: the filter and `id in [...]`, compiled together (escaped or as
        templates, as the filter is)."""
        compiled = self._compile(and_(self.filter, compare(self.id_field, "in", ids)))
        if compiled is MATCHES_NOTHING:
            return self._entities_to_hits([], scored=False)
        expression, params = compiled
        rows = self._call(
            "query",
            self.client.query,
            self.collection_name,
            filter=expression,
            output_fields=self._output,
            timeout=self.timeout,
            **self._options(params),
        )
        return self._entities_to_hits(rows, scored=False)


def _vector_field(fields: Sequence[Mapping[str, Any]], name: str | None) -> Mapping[str, Any]:
    vectors = {f["name"]: f for f in fields if type_name(f) in FLOAT_VECTORS}
    if name is None and len(vectors) == 1:
        name = next(iter(vectors))
    if name not in vectors:
        raise ValueError(
            f"vector_field must be one of the collection's float vector fields "
            f"{sorted(vectors)}, got {name!r}"
        )
    return vectors[name]


def load_collection(
    client: Any,
    collection_name: str,
    embeddings: Any,
    metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ids: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
    *,
    item_key: str = "item",
    metric: str = "l2",
    vector_field: str = "vector",
    id_field: str = "id",
    index_type: str = "FLAT",
    index_params: Mapping[str, Any] | None = None,
    batch_size: int = 5000,
    recreate: bool = False,
    retry: RetryPolicy | None = None,
) -> None:
    """Create `collection_name` (id, vector, dynamic field) and fill it, then flush.

    Metadata and items go to the dynamic field, so rows may lack keys; null values are
    dropped (Milvus 2.3 cannot store them; a missing key filters the same way). Ids
    default to row numbers (INT64; strings make a VARCHAR key). The metadata kinds are
    recorded as a collection property, so `MilvusDataSource` filters exactly on Milvus
    Lite too. Upserts go in batches of `batch_size` rows; the flush makes them visible to
    searches at the default consistency level.
    """
    pymilvus = import_milvus()
    rows = load_rows(
        embeddings,
        metadata,
        ids,
        items,
        item_key,
        True,
        reserved=(id_field, vector_field),
        names=MILVUS,
    )
    MILVUS.check_collection(collection_name)
    for field in (id_field, vector_field):
        if problem := MILVUS_NAME.problem(field):
            raise ValueError(f"Milvus field name {field!r}: {problem}")
    metric_name = loader_metric(metric, METRICS, "Milvus")
    call = LoaderCalls("Milvus", milvus_address(client), collection_name, retry)
    call.make_room(
        lambda: client.has_collection(collection_name),
        lambda: client.drop_collection(collection_name),
        recreate,
    )
    schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    if all(isinstance(i, str) for i in rows.ids):
        longest = max(len(i.encode("utf-8")) for i in rows.ids)
        schema.add_field(
            id_field, pymilvus.DataType.VARCHAR, is_primary=True, max_length=max(64, longest)
        )
    else:
        schema.add_field(id_field, pymilvus.DataType.INT64, is_primary=True)
    schema.add_field(vector_field, pymilvus.DataType.FLOAT_VECTOR, dim=rows.embeddings.shape[1])
    index = client.prepare_index_params()
    index.add_index(
        field_name=vector_field,
        index_type=index_type,
        metric_type=metric_name,
        params=dict(index_params or {}),
    )
    call(client.create_collection, collection_name, schema=schema, index_params=index)
    for part in rows.batches(batch_size):
        data = [
            {**payload, id_field: row_id, vector_field: vector}
            for payload, row_id, vector in zip(
                rows.payloads[part], rows.ids[part], rows.embeddings[part].tolist()
            )
        ]
        call(client.upsert, collection_name, data)  # upsert: a retried batch stays unique
    call(client.flush, collection_name)
    if _client_version() >= (2, 5):  # its MilvusClient sets collection properties
        kinds = json.dumps(infer_kinds(rows.payloads))
        call(client.alter_collection_properties, collection_name, {KINDS_PROPERTY: kinds})


def _client_version() -> tuple[int, ...]:
    """(major, minor) of the installed pymilvus."""
    from importlib.metadata import version

    return tuple(int(part) for part in re.findall(r"\d+", version("pymilvus"))[:2])


def open_client(source: SourceSpec) -> Any:
    """A server at `source.url`, or Milvus Lite at `source.path` (default LITE_FILE), whose
    folder is made if missing."""
    uri = source.url or source.path or LITE_FILE
    if not source.url:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    return import_milvus().MilvusClient(uri=uri, token=source.api_key or "", timeout=10)


def connect(source: SourceSpec) -> VectorDataSource:
    return connect_server(BACKEND, source, source.url or source.path or LITE_FILE)


BACKEND = Backend(
    name="milvus",
    extra="milvus",
    packages=("pymilvus",),
    adapter=MilvusDataSource,
    connect=connect,
    open_client=open_client,
    collections=lambda client: client.list_collections(),
    drop_collection=lambda client, name: client.drop_collection(name),
    load_collection=load_collection,
    names=MILVUS,
)
