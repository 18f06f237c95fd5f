"""The JSON wire format between `HTTPExecutor` and a scoring service.

Request, one per batch, ``POST <url>`` with ``Content-Type: application/json``::

    {"function": "TargetScore",
     "items": [{"id": 17, "item": "qwertyuiop", "embedding": [0.1, ...],
                "score": null, "data": {"rand": 0.42}}, ...]}

``function`` names the function to run: ``fn.remote_name`` when the plugin has one, else
its class or function name (`emb_opt.calls.plugin_name`). Each item is
``Item.model_dump(mode="json")`` without the runner's ``internal`` bookkeeping.

Response, status 200::

    {"responses": [{"valid": true, "score": 0.93, "data": null}, ...]}

exactly one response per item, in item order: a `ScoreResponse` for a score function, a
`FilterResponse` (``{"valid": bool, "data": dict | null}``) for a filter function. A service
reports a failure with a non-2xx status and ``{"error": "message"}``: 5xx and 429 are retried,
other 4xx are not (the request itself is wrong, e.g. an unknown function name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from ..calls import plugin_name
from ..errors import PluginError
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
    """The JSON response for a function's outputs (service side): models become dicts.

    Anything but a list is sent as is, for the client to report.
    """
    if not isinstance(responses, (list, tuple)):
        return {"responses": responses}
    return {
        "responses": [
            r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in responses
        ]
    }


def parse_response(payload: Any, expected: int, where: str) -> list[dict[str, Any]]:
    """The per-item response dicts of a reply; PluginError when its shape or length is wrong."""
    if not isinstance(payload, dict) or not isinstance(payload.get("responses"), list):
        raise PluginError(
            f'{where} must answer a JSON object {{"responses": [...]}}, got {_short(payload)}'
        )
    responses = payload["responses"]
    if len(responses) != expected:
        raise PluginError(
            f"{where} answered {len(responses)} responses for a batch of {expected} items; "
            "expected exactly one response per item, in item order"
        )
    for index, response in enumerate(responses):
        if not isinstance(response, dict):
            raise PluginError(
                f"{where} response {index} must be a JSON object like "
                f'{{"valid": true, "score": 0.5}}, got {_short(response)}'
            )
    return responses


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
