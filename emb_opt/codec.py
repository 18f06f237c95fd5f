"""Values as plain JSON data, exact both ways (numbers, arrays, RNGs, dataclasses).

Arrays are kept as their raw bytes in base64, with dtype and shape.

`encode` turns what a strategy (or an open ask/tell iteration) holds into values
`json.dumps` writes; `decode` reverses it. Dataclasses come back only as one of the
`types` the strategy names, so a checkpoint can never make the loader build an arbitrary
object.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import StateError


def encode(value: Any) -> Any:
    """`value` as JSON-ready data."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()
        return {"__array__": data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.random.Generator):
        return {"__rng__": value.bit_generator.state}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {"__set__": sorted(encode(v) for v in value)}
    if isinstance(value, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type__": type(value).__qualname__, "fields": fields}
    raise StateError(f"cannot save strategy state of type {type(value).__name__}: {value!r:.80}")


def decode(data: Any, types: Iterable[type] = ()) -> Any:
    """The value `encode` turned into `data`; dataclasses must be among `types`."""
    known = {cls.__qualname__: cls for cls in types}
    return _decode(data, known)


def _decode(data: Any, known: dict[str, type]) -> Any:
    if isinstance(data, list):
        return [_decode(v, known) for v in data]
    if not isinstance(data, dict):
        return data
    if "__array__" in data:
        dtype, values = np.dtype(data["dtype"]), data["__array__"]
        if isinstance(values, list):  # written before arrays were kept as bytes
            return np.asarray(values, dtype=dtype).reshape(data["shape"])
        raw = base64.b64decode(values)
        return np.frombuffer(raw, dtype=dtype).reshape(data["shape"]).copy()
    if "__rng__" in data:
        generator = np.random.default_rng()
        generator.bit_generator.state = data["__rng__"]
        return generator
    if "__set__" in data:
        return {_hashable(_decode(v, known)) for v in data["__set__"]}
    if "__dict__" in data:
        return {_hashable(_decode(k, known)): _decode(v, known) for k, v in data["__dict__"]}
    if "__type__" in data:
        cls = known.get(data["__type__"])
        if cls is None:
            raise StateError(
                f"strategy state names type {data['__type__']!r}; "
                f"expected one of {', '.join(sorted(known)) or '(none)'}"
            )
        return cls(**{k: _decode(v, known) for k, v in data["fields"].items()})
    raise StateError(f"not a saved strategy state value: {data!r:.80}")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
