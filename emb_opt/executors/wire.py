"""The JSON wire format between `HTTPExecutor` and a scoring service.

Request, one per batch, ``POST <url>`` with ``Content-Type: application/json``::

    {"function": "TargetScore",
     "items": [{"id": 17, "item": "qwertyuiop", "embedding": [0.1, ...],
                "score": null, "data": {"rand": 0.42}}, ...]}

``function`` names the function to run: ``fn.remote_name`` when the plugin has one, else
its class or function name (`emb_opt.calls.plugin_name`). Each item is
``Item.model_dump(mode="json")`` without the runner's ``internal`` bookkeeping.

Response, status 200::

    {"responses": [{"valid": true, "score": 0.93, "data": null}, 0.41, null, ...]}

exactly one response per item, in item order, each what the function may return locally
(`emb_opt.calls.coerce_responses` reads both alike): for a score function a number, null (an
invalid item), an object like ``{"score": 0.5}`` or a `ScoreResponse`; for a filter function a
`FilterResponse` (``{"valid": bool, "data": dict | null}``). A service
reports a failure with a non-2xx status and ``{"error": "message"}``: 5xx and 429 are retried,
other 4xx are not (the request itself is wrong, e.g. an unknown function name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from ..calls import plugin_name, short_repr
from ..errors import PluginResponseError
from ..schemas import Item

_ITEM_EXCLUDE = {"internal"}


def remote_name(fn: Callable[..., Any]) -> str:
    """The name a service knows `fn` by: its `remote_name` attribute or its plugin name."""
    name = getattr(fn, "remote_name", None)
    return name if isinstance(name, str) and name else plugin_name(fn)


def request_body(function: str, items: Sequence[Item]) -> dict[str, Any]:
    """The JSON request for one batch."""
    return {
        "function": function,
        "items": [item.model_dump(mode="json", exclude=_ITEM_EXCLUDE) for item in items],
    }


def parse_request(payload: Any) -> tuple[str, list[Item]]:
    """The function name and items of a request (service side); ValueError when malformed."""
    if not isinstance(payload, dict):
        raise ValueError(f"the request must be a JSON object, got {type(payload).__name__}")
    function, items = payload.get("function"), payload.get("items")
    if not isinstance(function, str) or not isinstance(items, list):
        raise ValueError('the request needs "function" (a string) and "items" (a list)')
    return function, [Item.model_validate(item) for item in items]


def response_body(responses: Sequence[Any]) -> dict[str, Any]:
    """The JSON response for a function's outputs (service side): models become dicts, numpy
    numbers and 1-D arrays plain ones.

    Anything but a list is sent as is, for the client to report.
    """
    if isinstance(responses, np.ndarray) and responses.ndim == 1:
        responses = responses.tolist()
    if not isinstance(responses, (list, tuple)):
        return {"responses": responses}
    return {"responses": [_plain(response) for response in responses]}


def _plain(response: Any) -> Any:
    if isinstance(response, BaseModel):
        return response.model_dump(mode="json")
    return response.item() if isinstance(response, np.generic) else response


def parse_response(payload: Any, expected: int, where: str) -> list[Any]:
    """The per-item responses of a reply (checked as local answers are, by the runner); a
    `PluginResponseError` when the reply's shape or length is wrong."""
    if not isinstance(payload, dict) or not isinstance(payload.get("responses"), list):
        raise PluginResponseError(
            f'{where} must answer a JSON object {{"responses": [...]}}, got {short_repr(payload)}'
        )
    responses = payload["responses"]
    if len(responses) != expected:
        raise PluginResponseError(
            f"{where} answered {len(responses)} responses for a batch of {expected} items; "
            "expected exactly one response per item, in item order"
        )
    return responses
