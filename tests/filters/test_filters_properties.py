"""Property tests: `mask` == `matches` row by row, `negate` complements, `to_plain` round trips."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emb_opt.filters import Columns, mask, matches, negate, parse, push_not, to_plain
from emb_opt.filters.ir import Not, and_, compare, not_, or_

FIELDS = ["a", "b", "c"]
# Few distinct values so that filters and records collide often.
STRS = st.sampled_from(["", "red", "Red", "blue", 'q"uote', "back\\", "line\n", "ü☃", "%", "_"])
INTS = st.integers(min_value=-3, max_value=3)
FLOATS = st.sampled_from([-1.5, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, float("inf"), float("-inf")])
NUMBERS = st.one_of(INTS, FLOATS)
SCALARS = st.one_of(STRS, NUMBERS, st.booleans())
STORED = st.one_of(SCALARS, st.sampled_from([None, float("nan"), [1]]))


@st.composite
def comparisons(draw):
    field = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "in", "nin"]))
    if op in ("lt", "lte", "gt", "gte"):
        return compare(field, op, draw(NUMBERS))
    if op in ("in", "nin"):
        kind = draw(st.sampled_from([STRS, NUMBERS, st.booleans()]))
        return compare(field, op, draw(st.lists(kind, max_size=3)))
    return compare(field, op, draw(SCALARS))


def _combine(children):
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: and_(*c)),
        st.lists(children, min_size=1, max_size=3).map(lambda c: or_(*c)),
        children.map(not_),
    )


FILTERS = st.recursive(comparisons(), _combine, max_leaves=8)
# A record is a dict with each field present or not; an empty one stands for a None row.
RECORDS = st.lists(
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, STORED)).map(lambda r: r or None),
    max_size=16,
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=300, deadline=None)
@given(comparisons(), RECORDS)
def test_single_comparison_mask_equals_matches(flt, records):
    expected = [matches(flt, record) for record in records]
    assert mask(flt, Columns.from_records(records)).tolist() == expected


@SETTINGS
@given(FILTERS, RECORDS)
def test_mask_from_records_equals_matches(flt, records):
    expected = [matches(flt, record) for record in records]
    assert mask(flt, Columns.from_records(records)).tolist() == expected


ARROW_TYPES = {
    "int": (pa.int64(), INTS),
    "float": (pa.float64(), FLOATS),
    "str": (pa.string(), STRS),
    "bool": (pa.bool_(), st.booleans()),
}


@st.composite
def arrow_tables(draw):
    """Per field: one arrow type (or absent), values with nulls; plus the matching records."""
    n = draw(st.integers(min_value=0, max_value=10))
    columns, types = {}, {}
    for field in FIELDS:
        kind = draw(st.sampled_from([*ARROW_TYPES, "absent"]))
        if kind == "absent":
            continue
        arrow_type, values = ARROW_TYPES[kind]
        columns[field] = draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n))
        types[field] = arrow_type
    schema = pa.schema([(name, types[name]) for name in columns])
    table = pa.table(columns, schema=schema) if columns else pa.table({"_pad": [None] * n})
    records = [{name: column[i] for name, column in columns.items()} for i in range(n)]
    return table, records


@settings(max_examples=200, deadline=None)
@given(st.one_of(comparisons(), FILTERS), arrow_tables())
def test_mask_from_arrow_equals_matches(flt, table_and_records):
    table, records = table_and_records
    expected = [matches(flt, record) for record in records]
    assert mask(flt, Columns.from_arrow(table)).tolist() == expected


@SETTINGS
@given(FILTERS, RECORDS)
def test_negate_is_the_complement(flt, records):
    negated = negate(flt)
    for record in records:
        assert matches(negated, record) is (not matches(flt, record))
    columns = Columns.from_records(records)
    assert (mask(negated, columns) == ~mask(flt, columns)).all()


@SETTINGS
@given(FILTERS, RECORDS)
def test_push_not_is_equivalent_and_only_wraps_ranges(flt, records):
    pushed = push_not(flt)
    for record in records:
        assert matches(pushed, record) is matches(flt, record)
    stack = [pushed]
    while stack:
        node = stack.pop()
        if isinstance(node, Not):
            assert node.child.op in ("lt", "lte", "gt", "gte")
        stack.extend(getattr(node, "children", ()))


@SETTINGS
@given(FILTERS)
def test_round_trip_through_plain(flt):
    assert parse(to_plain(flt)) == flt
    assert hash(parse(to_plain(flt))) == hash(flt)
