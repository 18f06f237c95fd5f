"""Calling user plugins safely: count checks, dict-or-model responses, errors naming the plugin."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import numpy as np
from pydantic import BaseModel, ValidationError

from .errors import PluginResponseError
from .schemas import Query, ScoreResponse

M = TypeVar("M", bound=BaseModel)
_RAISED_BY = "emb_opt_raised_by"
SCORE_SHAPES = 'a number, None, a dict like {"score": 1.0} or a ScoreResponse'
NO_SCORE = "score function returned None"


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
    """Check a plugin returned one response per input (a list, or a 1-D numpy array), each a
    `model` or a dict that fits it; a score may also be a number or None (see `score_response`).
    A wrong shape is a `PluginResponseError` naming the plugin and the response."""
    where = f"{role} {plugin_name(fn)!r}"
    if isinstance(outputs, np.ndarray) and outputs.ndim == 1:
        outputs = list(outputs)
    if not isinstance(outputs, (list, tuple)):
        raise PluginResponseError(
            f"{where} must return a list with one response per input, got {type(outputs).__name__}"
        )
    if len(outputs) != len(inputs):
        raise PluginResponseError(
            f"{where} returned {len(outputs)} responses for {len(inputs)} inputs; "
            "expected exactly one response per input"
        )
    if model is ScoreResponse:
        return [cast(M, score_response(where, i, out)) for i, out in enumerate(outputs)]
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
        raise PluginResponseError(
            f"{where} response {index} is not a valid {model.__name__}: {problems}"
        ) from None


def as_score(value: Any) -> float | None:
    """`value` as a score: a real number (numpy scalars too) within float range, as a float;
    None for anything else (a bool is no score: True is not 1.0)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return None


def score_response(where: str, index: int, output: Any) -> ScoreResponse:
    """One score function answer as a `ScoreResponse`: a number (valid with that score), None
    (invalid), a dict (`score`, optional `valid` and `data`; other keys go to `data`) or a
    `ScoreResponse`; anything else is a `PluginResponseError` naming `where` and `index`."""
    if isinstance(output, ScoreResponse):
        return output
    if output is None:
        return ScoreResponse(valid=False, data={"error": NO_SCORE})
    if isinstance(output, dict):
        return _score_from_dict(where, index, output)
    score = as_score(output)
    if score is None:
        raise _wrong_score(where, index, output)
    return ScoreResponse(valid=True, score=score)


def _score_from_dict(where: str, index: int, output: dict) -> ScoreResponse:
    if "score" not in output and "valid" not in output:
        raise _wrong_score(where, index, output, "which has no 'score' key")
    raw, data = output.get("score"), output.get("data")
    score = None if raw is None else as_score(raw)
    if raw is not None and score is None:
        raise _wrong_score(where, index, output, f"whose 'score' is {_described(raw)}")
    valid = output.get("valid", score is not None)
    if not isinstance(valid, (bool, np.bool_)):
        raise _wrong_score(where, index, output, f"whose 'valid' is {_described(valid)}")
    if data is not None and not isinstance(data, dict):
        raise _wrong_score(where, index, output, f"whose 'data' is {_described(data)}")
    extra = {key: value for key, value in output.items() if key not in ("score", "valid", "data")}
    return ScoreResponse(valid=bool(valid), score=score, data={**(data or {}), **extra} or None)


def _wrong_score(where: str, index: int, output: Any, detail: str = "") -> PluginResponseError:
    what = f"{_described(output)}, {detail}" if detail else _described(output)
    return PluginResponseError(f"{where} response {index} is {what}; expected {SCORE_SHAPES}")


def _described(value: Any) -> str:
    """`value`, shortened, with its type, and why a number that looks like a score is not."""
    if isinstance(value, (bool, np.bool_)):
        why = "a bool is not a score"
    elif isinstance(value, numbers.Real):
        why = "beyond the float range"
    else:
        why = type(value).__name__
    return f"{short_repr(value)} ({why})"


def short_repr(value: Any, limit: int = 120) -> str:
    """`repr(value)`, cut to `limit` characters (a huge int: its size)."""
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an int of about {round(value.bit_length() * math.log10(2))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
