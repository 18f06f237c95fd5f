"""Calling user plugins safely: count checks, dict-or-model responses, errors naming the plugin."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from .errors import PluginError
from .schemas import Query, ScoreResponse

M = TypeVar("M", bound=BaseModel)
_RAISED_BY = "emb_opt_raised_by"


def plugin_name(fn: Any) -> str:
    """A readable name for a plugin: a function's qualified name or an object's class."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


@contextmanager
def blamed(role: str, fn: Any) -> Iterator[None]:
    """Mark a `BaseException` that is no `Exception` (`SystemExit`, `KeyboardInterrupt`, a
    plugin's own) raised inside with the plugin it came through, for `raised_by`; it goes on
    as it is. (An `Exception` becomes a `PluginError` naming the plugin elsewhere.)"""
    try:
        yield
    except Exception:
        raise
    except BaseException as error:
        if raised_by(error) is None:
            setattr(error, _RAISED_BY, f"{role} {plugin_name(fn)!r}")
        raise


def raised_by(error: BaseException) -> str | None:
    """The plugin a `BaseException` came through (e.g. "score function 'f'"), if `blamed` saw it."""
    return getattr(error, _RAISED_BY, None)


def coerce_responses(
    role: str, fn: Any, inputs: Sequence[Any], outputs: Any, model: type[M]
) -> list[M]:
    """Check a plugin returned one response per input, each a `model` or a dict that fits it."""
    where = f"{role} {plugin_name(fn)!r}"
    if not isinstance(outputs, (list, tuple)):
        raise PluginError(f"{where} must return a list, got {type(outputs).__name__}")
    if len(outputs) != len(inputs):
        raise PluginError(
            f"{where} returned {len(outputs)} responses for {len(inputs)} inputs; "
            "expected exactly one response per input"
        )
    return [_coerce(where, index, output, model) for index, output in enumerate(outputs)]


def _coerce(where: str, index: int, output: Any, model: type[M]) -> M:
    if isinstance(output, model):
        return output
    try:
        return model.model_validate(output)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'response'}: {e['msg']}" for e in error.errors()
        )
        raise PluginError(
            f"{where} response {index} is not a valid {model.__name__}: {problems}"
        ) from None


def non_finite(response: ScoreResponse, fn: Any) -> ScoreResponse | None:
    """When `response` is valid with a NaN or infinite score, the invalid response that
    replaces it, its reason naming the value; None when the score is fine."""
    score = response.score
    if not response.valid or score is None or math.isfinite(score):
        return None
    reason = f"score function {plugin_name(fn)!r} returned {score!r}"
    return ScoreResponse(valid=False, data={**(response.data or {}), "error": reason})


def check_query_embeddings(queries: Sequence[Query], dimension: int | None, origin: str) -> None:
    """Every query embedding is finite and of the data source's dimension."""
    for index, query in enumerate(queries):
        embedding = query.embedding
        label = f"query {index}" + (f" (id {query.internal.id!r})" if query.internal.id else "")
        expected = dimension if dimension is not None else queries[0].embedding.shape[0]
        if embedding.shape[0] != expected:
            raise ValueError(
                f"{origin}: {label} has dimension {embedding.shape[0]}, "
                f"expected {expected} (the data source's dimension)"
            )
        if not np.isfinite(embedding).all():
            raise ValueError(f"{origin}: {label} has a NaN or infinite embedding value")
