"""The checkpoint lines of a log directory: their format, checksum and the records they hold.

    checkpoints.jsonl    one JSON line per checkpoint: what the log gained since the last one
    vectors.f32          every distinct embedding that is exactly float32 (as a database's
                         items are) and every past query's, rounded to float32, once
    vectors.f64          every other distinct item embedding, once (little-endian rows)
    state-DIGEST.json    what a checkpoint resumes from: the pending queries (exact), the
                         strategy's state and the caller's annex, if any, named by the
                         digest its line records (the last two lines' are kept; logs of
                         earlier versions have state-a.json and state-b.json)

Lines refer to items by number and to embeddings by row, so an iteration that finds nothing
new appends only its queries and references. An item scored valid more than once keeps its
first score in its record; a line lists the further scores items gained (`replicates`: item
key -> scores, in order), and only a line with some is format 3 (so an older emb_opt, which
would drop them, refuses it). Each line carries its sequence number, the iteration, the
SHA-256 of the vector bytes it appended (`blocks`) and a SHA-256 checksum of itself. Reading
drops a torn last line (a crash while writing) and refuses, with a `LogError` naming the line,
a gap, a reordering, a duplicate that disagrees, a corrupt line or vector bytes that differ
from those a line appended, but for a last line of that kind (two commands that wrote at
once, their lock sidestepped, leave one): it is set aside, named in a warning (and moved to
`set-aside.jsonl` by the next writer), and the log is read up to the line before it; when the
last two lines hold the same checkpoint, the first that reads back is kept. Logs whose lines
have no `blocks` (written before them) and version 1 logs (one `log.json` file) still load.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..codec import decode
from ..errors import LogError
from ..schemas import FilterResponse, Query, QueryInternal, ScoreResponse

FORMAT = 2
REPLICATES_FORMAT = 3  # a line that holds replicates
READABLE = (FORMAT, REPLICATES_FORMAT)
CHECKPOINTS = "checkpoints.jsonl"
CHECKSUM = ',"checksum":"'
SET_ASIDE = "set-aside.jsonl"
RESPONSES: dict[str, type[FilterResponse] | type[ScoreResponse]] = {
    "filter": FilterResponse,
    "score": ScoreResponse,
}


def query_fields(query: Query) -> dict[str, Any]:
    """The fields of a query record but its embedding and results (those not None)."""
    internal = query.internal
    record = {
        "id": internal.id,
        "parent": internal.parent_id,
        "trajectory": internal.collection_id,
        "iteration": internal.iteration,
        "removed": internal.removal_reason if internal.removed else None,
        "item": query.item,
        "data": query.data,
        "extra": query.model_extra or None,
    }
    return {name: value for name, value in record.items() if value is not None}


def query_from(record: dict[str, Any], embedding: np.ndarray | None = None) -> Query:
    """The query a record describes (a pending one carries its exact embedding)."""
    if embedding is None:
        embedding = decode(record["embedding"])
    query = Query(
        embedding=embedding,
        item=record.get("item"),
        data=record.get("data"),
        **record.get("extra", {}),
    )
    query.internal = QueryInternal(
        id=record.get("id"),
        parent_id=record.get("parent"),
        collection_id=record.get("trajectory"),
        iteration=record.get("iteration"),
        removed="removed" in record,
        removal_reason=record.get("removed"),
    )
    return query


def response(kind: str, key: str, value: Any) -> FilterResponse | ScoreResponse:
    """A cached answer of a line; its problems located in the line (`score.<key>.valid`)."""
    try:
        return RESPONSES[kind].model_validate(value)
    except ValidationError as error:
        raise LogError(f"{kind}.{key}: {problems(error)}") from None


def invalid(where: str, error: Exception) -> LogError:
    """The one-line LogError for a line whose content is not what a checkpoint holds."""
    if isinstance(error, ValidationError):
        reason = problems(error)
    elif isinstance(error, KeyError):
        reason = f"{error} is missing"
    else:
        reason = str(error)
    return LogError(f"{where} is not a valid checkpoint: {reason}")


def problems(error: ValidationError) -> str:
    """A pydantic error in one line: where and what, for every problem."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors()
    )


def state_file(slot: str) -> str:
    """The name of the state file a line names by `slot`."""
    return f"state-{slot}.json"


def with_checksum(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f'{text[:-1]}{CHECKSUM}{digest}"}}'
