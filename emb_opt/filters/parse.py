"""`parse`: the plain-data (Mongo-style) filter form to the folded IR, with path-carrying errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emb_opt.errors import FilterError
from emb_opt.filters.ir import (
    FALSE,
    NODE_TYPES,
    OPS,
    TRUE,
    Const,
    Filter,
    and_,
    check_field,
    check_scalar,
    compare,
    join,
    not_,
    or_,
    show,
)

_OP_LIST = ", ".join(f"${op}" for op in OPS)


def parse(obj: Any) -> Filter:
    """Turn a plain filter (dict), an IR node (returned as is) or None (no filter) into the IR.

    `{"rand": {"$lt": 0.9}, "tag": {"$in": ["red", "blue"]}}`: sibling keys are AND;
    `{"$and": [...]}`, `{"$or": [...]}`, `{"$not": {...}}`; `{"field": value}` is `$eq`.
    The result is folded; `{}` and None give TRUE. Raises FilterError naming the bad node.
    """
    if obj is None:
        return TRUE
    if isinstance(obj, Const):
        return TRUE if obj.value else FALSE
    if isinstance(obj, NODE_TYPES):
        return obj
    if not isinstance(obj, Mapping):
        raise FilterError(f"expected a filter dict (or None), got {show(obj)}")
    return _parse_dict(obj, "") if obj else TRUE


as_filter = parse


def _parse_dict(obj: Mapping[Any, Any], path: str) -> Filter:
    parts = []
    for key, value in obj.items():
        if isinstance(key, str) and key.startswith("$"):
            parts.append(_parse_logic(key, value, path))
        else:
            parts.append(_parse_field(key, value, path))
    return and_(*parts)


def _parse_child(obj: Any, where: str) -> Filter:
    if not isinstance(obj, Mapping) or not obj:
        raise FilterError(f"{where}: expected a non-empty filter dict, got {show(obj)}")
    return _parse_dict(obj, where)


def _parse_logic(key: str, value: Any, path: str) -> Filter:
    where = join(path, key)
    if key in ("$and", "$or"):
        if not isinstance(value, list | tuple) or not value:
            raise FilterError(f"{where}: expected a non-empty list of filters, got {show(value)}")
        children = [_parse_child(child, f"{where}[{i}]") for i, child in enumerate(value)]
        return and_(*children) if key == "$and" else or_(*children)
    if key == "$not":
        if not isinstance(value, Mapping):
            raise FilterError(f"{where}: expected one filter dict, got {show(value)}")
        if len(value) != 1:
            raise FilterError(
                f"{where}: expected exactly one condition, got {len(value)} keys "
                f"{show(list(value))}; to negate several, write "
                '{"$not": {"$and": [...]}} or {"$not": {"$or": [...]}}'
            )
        return not_(_parse_dict(value, where))
    if key[1:] in OPS:
        raise FilterError(
            f"{where}: operator {key!r} needs a field, as in {{'field': {{{key!r}: value}}}}"
        )
    raise FilterError(f"{where}: unknown operator {key!r}; expected $and, $or, $not or a field")


def _parse_field(name: Any, value: Any, path: str) -> Filter:
    check_field(name, path)
    where = join(path, name)
    if not isinstance(value, Mapping):
        if isinstance(value, list | tuple):
            raise FilterError(
                f"{where}: expected a single value, got {show(value)}; "
                "use {'$in': [...]} to match any of several values"
            )
        return compare(name, "eq", check_scalar(value, where), path)
    if not value:
        raise FilterError(f"{where}: expected at least one operator ({_OP_LIST}), got {{}}")
    return and_(*(_parse_op(name, op, operand, path) for op, operand in value.items()))


def _parse_op(name: str, key: Any, operand: Any, path: str) -> Filter:
    where = join(path, name)
    if not isinstance(key, str) or not key.startswith("$"):
        raise FilterError(
            f"{join(where, str(key))}: expected an operator ({_OP_LIST}), got {show(key)}; "
            "nested fields are not supported"
        )
    if key[1:] not in OPS:
        raise FilterError(
            f"{join(where, key)}: unknown operator {key!r}; expected one of {_OP_LIST}"
        )
    return compare(name, key[1:], operand, path)
