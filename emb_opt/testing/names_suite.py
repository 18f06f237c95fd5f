"""The name checks every backend passes: keys and text stored as written, or refused first.

A backend's test module subclasses `NameConformance` and provides `source_config`, the
`source` block (backend and path or url) that reaches a live engine:

    class TestMyBackendNames(NameConformance):
        refused_keys = ("_reserved",)        # metadata keys the engine must refuse
        refused_collections = ("x y",)       # collection names it must refuse

        @pytest.fixture(scope="class")
        @classmethod
        def source_config(cls, tmp_path_factory):
            return {"backend": "mydb", "path": str(tmp_path_factory.mktemp("mydb"))}

Collections are loaded and opened through the backend's descriptor, as a config does. A
refused load must leave no collection behind: the check comes before the first write.
Metadata may hold the item under the item key already (a config's `items_key: item` reads
the items from there): the load takes it, and refuses a different value under that key.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from ..adapters.backend import Backend, builtin_backends
from ..adapters.base import scan_to_items
from ..adapters.spec import SourceSpec
from ..schemas import Query

ROWS = 40
LONG_KEY = "price_of_the_item_in_the_currency_of_the_shop_that_sells_it_today"  # 65 bytes


def surrogate_rows() -> dict[str, list[dict[str, Any]]]:
    """Metadata with a lone surrogate in row 7: as a value, a key, and inside a list."""
    cases: dict[str, dict[str, Any]] = {
        "value": {"tag": "\ud800"},
        "key": {"\udc80tag": 1},
        "nested": {"tags": ["ok", "\udfff"]},
    }
    return {
        name: [bad if row == 7 else {"tag": "fine"} for row in range(ROWS)]
        for name, bad in cases.items()
    }


class NameConformance:
    """Loads through `Backend.load_collection`, opens through `Backend.connect`."""

    refused_keys: tuple[str, ...] = ()
    refused_texts: tuple[str, ...] = ()  # values besides lone surrogates it cannot store
    refused_collections: tuple[str, ...] = ()

    @pytest.fixture(scope="class")
    @classmethod
    def source_config(cls) -> dict[str, Any]:
        raise NotImplementedError("a name conformance class must provide source_config")

    def backend(self, source_config: dict[str, Any]) -> Backend:
        return builtin_backends()[source_config["backend"]]

    def load(
        self,
        source_config: dict[str, Any],
        metadata: list[Any],
        name: str,
        items: list[Any] | None = None,
    ) -> None:
        """`metadata` (one dict per row) into a new collection `name`, with `items` stored
        under the item key "item" if given."""
        backend = self.backend(source_config)
        assert backend.open_client is not None and backend.load_collection is not None
        client = backend.open_client(SourceSpec(**source_config))
        try:
            embeddings = np.random.default_rng(0).standard_normal((len(metadata), 4))
            ids = list(range(len(metadata)))
            backend.load_collection(
                client, name, embeddings, metadata=metadata, ids=ids, items=items
            )
        finally:
            _close(client)

    def collections(self, source_config: dict[str, Any]) -> list[str]:
        backend = self.backend(source_config)
        assert backend.open_client is not None and backend.collections is not None
        client = backend.open_client(SourceSpec(**source_config))
        try:
            return backend.collections(client)
        finally:
            _close(client)

    def search(self, source_config: dict[str, Any], name: str, k: int, flt: Any) -> list[Any]:
        """The items one query finds in collection `name` (opened as a config opens it)."""
        config = SourceSpec(**source_config, collection=name, k=k, filter=flt, item_key=None)
        source = self.backend(source_config).connect(config)
        try:
            return source([Query(embedding=np.zeros(4))])[0].query_results
        finally:
            source.close()

    def refuses(
        self,
        source_config: dict[str, Any],
        metadata: list[Any],
        *names: str,
        items: list[Any] | None = None,
    ) -> None:
        """Loading `metadata` (and `items`) is a ValueError naming `names`, and writes
        nothing."""
        collection = f"names_{uuid.uuid4().hex[:8]}"
        with pytest.raises(ValueError) as refused:
            self.load(source_config, metadata, collection, items)
        message = str(refused.value)
        for expected in names:
            assert expected in message, f"{expected!r} not in {message!r}"
        assert collection not in self.collections(source_config)

    def test_a_long_key_is_stored_and_filtered_as_written(
        self, source_config: dict[str, Any]
    ) -> None:
        name = f"names_{uuid.uuid4().hex[:8]}"
        self.load(source_config, [{LONG_KEY: row} for row in range(ROWS)], name)
        below = self.search(source_config, name, ROWS, {LONG_KEY: {"$lt": 10}})
        assert sorted(int(item.id) for item in below) == list(range(10))
        others = self.search(source_config, name, ROWS, {LONG_KEY: {"$ne": 3}})
        assert len(others) == ROWS - 1
        assert all(set(item.data) == {LONG_KEY} for item in others)

    def test_metadata_holding_the_items_under_the_item_key_loads(
        self, source_config: dict[str, Any]
    ) -> None:
        name = f"names_{uuid.uuid4().hex[:8]}"
        metadata = [{"item": f"mol-{row}", "tag": "fine"} for row in range(ROWS)]
        self.load(source_config, metadata, name, items=[row["item"] for row in metadata])
        config = SourceSpec(**source_config, collection=name, k=ROWS, item_key="item")
        source = self.backend(source_config).connect(config)
        try:
            found = [item for batch in source.scan() for item in scan_to_items(batch)]
        finally:
            source.close()
        assert sorted((item.item, item.data) for item in found) == sorted(
            (row["item"], {"tag": "fine"}) for row in metadata
        )

    def test_another_value_under_the_item_key_is_refused(
        self, source_config: dict[str, Any]
    ) -> None:
        metadata = [{"item": f"mol-{row}"} for row in range(ROWS)]
        items = [row["item"] for row in metadata]
        items[6] = "other"
        self.refuses(source_config, metadata, "row 6", "'item'", "'other'", items=items)

    @pytest.mark.parametrize("where", ["value", "key", "nested"])
    def test_a_lone_surrogate_is_refused_before_anything_is_written(
        self, source_config: dict[str, Any], where: str
    ) -> None:
        self.refuses(source_config, surrogate_rows()[where], "row 7", "lone surrogate")

    def test_refused_keys_name_the_key_and_the_backend(self, source_config: dict[str, Any]) -> None:
        if not self.refused_keys:
            pytest.skip("this engine stores every metadata key as written")
        backend = self.backend(source_config).names.backend
        for key in self.refused_keys:
            metadata = [{"tag": "fine"} for _ in range(ROWS - 1)] + [{key: 1}]
            self.refuses(source_config, metadata, f"row {ROWS - 1}", repr(key), backend)

    def test_refused_texts_name_the_row_and_key(self, source_config: dict[str, Any]) -> None:
        if not self.refused_texts:
            pytest.skip("this engine stores every string that has a UTF-8 form")
        for text in self.refused_texts:
            metadata = [{"tag": "fine"} for _ in range(ROWS)]
            metadata[5] = {"tag": text}
            self.refuses(source_config, metadata, "row 5", "'tag'")

    def test_refused_collection_names_fail_before_the_engine_sees_them(
        self, source_config: dict[str, Any]
    ) -> None:
        if not self.refused_collections:
            pytest.skip("this engine takes every collection name a config can give")
        names = self.backend(source_config).names
        for collection in self.refused_collections:
            with pytest.raises(ValueError, match=names.backend) as refused:
                self.load(source_config, [{"tag": "fine"}] * 3, collection)
            assert repr(collection) in str(refused.value)


def _close(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        close()
