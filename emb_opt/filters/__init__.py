"""Metadata filters: one grammar (Mongo-style plain data or the `F` builder), one immutable IR.

`parse` builds the folded IR, `matches` is the reference evaluator for one item's metadata,
`mask` evaluates vectorised over `Columns`; backends compile the same IR to native filters.
"""

from emb_opt.errors import FilterError, UnsupportedFilterError
from emb_opt.filters.builder import F
from emb_opt.filters.columns import Columns, mask
from emb_opt.filters.evaluate import matches
from emb_opt.filters.ir import (
    FALSE,
    TRUE,
    And,
    Comparison,
    Const,
    Filter,
    Not,
    Or,
    negate,
    push_not,
    to_plain,
)
from emb_opt.filters.parse import parse

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "Columns",
    "Comparison",
    "Const",
    "F",
    "Filter",
    "FilterError",
    "Not",
    "Or",
    "UnsupportedFilterError",
    "mask",
    "matches",
    "negate",
    "parse",
    "push_not",
    "to_plain",
]
