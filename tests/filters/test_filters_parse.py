"""Parsing the plain form, folding, the builder, `to_plain` round trips and `negate`."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from emb_opt.filters import (
    FALSE,
    TRUE,
    And,
    Comparison,
    Const,
    F,
    FilterError,
    Not,
    Or,
    negate,
    parse,
    push_not,
    to_plain,
)
from emb_opt.filters.ir import and_, compare, not_, or_
from emb_opt.filters.parse import as_filter

A1 = Comparison("a", "eq", 1)
B_RED = Comparison("b", "eq", "red")
C_LT = Comparison("c", "lt", 5)


@pytest.mark.parametrize(
    ("plain", "expected"),
    [
        ({"a": 1}, Comparison("a", "eq", 1)),
        ({"a": {"$eq": "x"}}, Comparison("a", "eq", "x")),
        ({"a": {"$ne": True}}, Comparison("a", "ne", True)),
        ({"a": {"$lt": 0.5}}, Comparison("a", "lt", 0.5)),
        ({"a": {"$lte": 2}}, Comparison("a", "lte", 2)),
        ({"a": {"$gt": -1}}, Comparison("a", "gt", -1)),
        ({"a": {"$gte": 1e9}}, Comparison("a", "gte", 1e9)),
        ({"a": {"$in": ["x", "y"]}}, Comparison("a", "in", ("x", "y"))),
        ({"a": {"$nin": [3, 1.5]}}, Comparison("a", "nin", (1.5, 3))),
        ({"a": {"$in": (True,)}}, Comparison("a", "in", (True,))),
    ],
)
def test_every_operator(plain, expected):
    assert parse(plain) == expected


def test_sibling_keys_are_and():
    parsed = parse({"rand": {"$lt": 0.9}, "tag": {"$in": ["red", "blue"]}})
    assert parsed == And((Comparison("rand", "lt", 0.9), Comparison("tag", "in", ("blue", "red"))))


def test_several_operators_on_one_field_are_and():
    parsed = parse({"x": {"$gt": 1, "$lt": 5}})
    assert parsed == And((Comparison("x", "gt", 1), Comparison("x", "lt", 5)))


def test_nesting():
    parsed = parse(
        {"$or": [{"a": 1}, {"$not": {"b": "red"}}, {"$and": [{"c": {"$lt": 5}}, {"a": 2}]}]}
    )
    expected = Or((A1, Not(B_RED), And((C_LT, Comparison("a", "eq", 2)))))
    assert parsed == expected


def test_nested_and_flattens_and_or_flattens():
    assert parse({"$and": [{"a": 1}, {"$and": [{"b": "red"}, {"c": {"$lt": 5}}]}]}) == And(
        (A1, B_RED, C_LT)
    )
    assert parse({"$or": [{"$or": [{"a": 1}, {"b": "red"}]}, {"c": {"$lt": 5}}]}) == Or(
        (A1, B_RED, C_LT)
    )
    assert parse({"$and": [{"a": 1, "b": "red"}, {"c": {"$lt": 5}}]}) == And((A1, B_RED, C_LT))


def test_single_child_unwraps():
    assert parse({"$and": [{"a": 1}]}) == A1
    assert parse({"$or": [{"a": 1}]}) == A1
    assert parse({"$and": [{"$or": [{"a": {"$eq": 1}}]}]}) == A1


def test_duplicate_children_are_dropped():
    assert parse({"$or": [{"a": 1}, {"a": 1.0}]}) == A1


@pytest.mark.parametrize("empty", [None, {}])
def test_no_filter_is_true(empty):
    assert parse(empty) is TRUE


def test_empty_lists_fold():
    assert parse({"a": {"$in": []}}) is FALSE
    assert parse({"a": {"$nin": []}}) is TRUE
    assert parse({"a": {"$in": []}, "b": "red"}) is FALSE
    assert parse({"a": {"$nin": []}, "b": "red"}) == B_RED
    assert parse({"$or": [{"a": {"$in": []}}, {"b": "red"}]}) == B_RED
    assert parse({"$or": [{"a": {"$nin": []}}, {"b": "red"}]}) is TRUE
    assert parse({"$not": {"a": {"$in": []}}}) is TRUE
    assert parse({"$not": {"a": {"$nin": []}}}) is FALSE


def test_constants_fold_through_and_or_not():
    assert and_(TRUE, A1) == A1
    assert and_(FALSE, A1) is FALSE
    assert or_(TRUE, A1) is TRUE
    assert or_(FALSE, A1) == A1
    assert and_() is TRUE
    assert or_() is FALSE
    assert not_(TRUE) is FALSE
    assert not_(FALSE) is TRUE
    assert not_(not_(A1)) == A1
    assert and_(A1, and_(B_RED, C_LT)) == And((A1, B_RED, C_LT))
    assert or_(A1, or_(B_RED, FALSE)) == Or((A1, B_RED))
    assert and_(A1, or_(B_RED, C_LT)) == And((A1, Or((B_RED, C_LT))))


def test_in_lists_are_deduplicated_and_sorted():
    assert parse({"a": {"$in": ["y", "x", "y"]}}).value == ("x", "y")
    assert parse({"a": {"$in": [2, 1, 2.0]}}).value == (1, 2)
    assert parse({"a": {"$in": ["b", "a"]}}) == parse({"a": {"$in": ["a", "b"]}})


def test_int_and_float_values_are_equal_bool_and_int_are_not():
    assert parse({"a": 2}) == parse({"a": 2.0})
    assert hash(parse({"a": 2})) == hash(parse({"a": 2.0}))
    assert parse({"a": True}) != parse({"a": 1})
    assert parse({"a": {"$in": [True]}}) != parse({"a": {"$in": [1]}})
    assert len({parse({"a": True}), parse({"a": 1})}) == 2


def test_numpy_scalars_are_normalised():
    parsed = parse(
        {"a": {"$in": [np.int64(3), np.float32(0.5)]}, "b": np.bool_(True), "c": np.str_("x")}
    )
    assert parsed == And(
        (Comparison("a", "in", (0.5, 3)), Comparison("b", "eq", True), Comparison("c", "eq", "x"))
    )
    assert type(parsed.children[1].value) is bool
    assert type(parsed.children[2].value) is str


def test_ir_node_is_returned_as_is():
    node = And((A1, B_RED))
    assert parse(node) is node
    assert parse(TRUE) is TRUE
    assert as_filter is parse


def test_constants_are_the_module_singletons():
    assert parse(Const(True)) is TRUE
    assert parse(Const(False)) is FALSE
    assert and_(Const(False), A1) is FALSE
    assert Const(True) == TRUE


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda f: pickle.loads(pickle.dumps(f))])
def test_nodes_copy_and_pickle(copier):
    node = parse({"$or": [{"a": {"$in": [1, 2]}}, {"$not": {"c": {"$lt": 5}}}, {"b": True}]})
    copied = copier(node)
    assert copied == node
    assert hash(copied) == hash(node)
    assert copier(TRUE) == TRUE


def test_nodes_are_immutable_and_hashable():
    node = parse({"$or": [{"a": 1}, {"$not": {"c": {"$lt": 5}}}]})
    with pytest.raises(AttributeError):
        node.children = ()
    with pytest.raises(AttributeError):
        A1.value = 2
    assert {node: 1}[parse({"$or": [{"a": 1}, {"$not": {"c": {"$lt": 5}}}]})] == 1


def test_filters_have_no_truth_value():
    with pytest.raises(TypeError, match="no truth value"):
        bool(A1)
    with pytest.raises(TypeError, match="no truth value"):
        0 < F("x") < 1  # noqa: B015


@pytest.mark.parametrize(
    ("built", "plain"),
    [
        (F("rand") < 0.9, {"rand": {"$lt": 0.9}}),
        (F("rand") <= 0.9, {"rand": {"$lte": 0.9}}),
        (F("rand") > 1, {"rand": {"$gt": 1}}),
        (F("rand") >= 1, {"rand": {"$gte": 1}}),
        (F("tag") == "red", {"tag": "red"}),
        (F("tag") != "red", {"tag": {"$ne": "red"}}),
        (F("tag").is_in(["red", "blue"]), {"tag": {"$in": ["blue", "red"]}}),
        (F("tag").is_in({"red", "blue"}), {"tag": {"$in": ["red", "blue"]}}),
        (F("tag").not_in(("red",)), {"tag": {"$nin": ["red"]}}),
        (F("tag").is_in([]), {"tag": {"$in": []}}),
        (F("tag").not_in([]), {}),
        (0.5 < F("x"), {"x": {"$gt": 0.5}}),  # noqa: SIM300 (reflected comparison)
        ((F("a") < 1) & (F("b") == "x"), {"a": {"$lt": 1}, "b": "x"}),
        ((F("a") < 1) | (F("b") == "x"), {"$or": [{"a": {"$lt": 1}}, {"b": "x"}]}),
        (~(F("a") == 1), {"$not": {"a": 1}}),
        (~~(F("a") == 1), {"a": 1}),
        (((F("a") == 1) & (F("b") == 2)) & (F("c") == 3), {"a": 1, "b": 2, "c": 3}),
        ((F("a") == 1) & F("b").is_in([]), {"a": {"$in": []}, "b": 1}),
        ((F("a") == 1) | F("b").not_in([]), {}),
    ],
)
def test_builder_equals_parsed_form(built, plain):
    assert built == parse(plain)


def test_builder_rejects_bad_input():
    with pytest.raises(FilterError, match=r"invalid field name 'a\.b'"):
        F("a.b")
    with pytest.raises(FilterError, match=r"tag\.\$in: expected a list of values, got 'red'"):
        F("tag").is_in("red")
    with pytest.raises(FilterError, match=r"x\.\$lt: expected a number, got True"):
        F("x") < True  # noqa: B015
    with pytest.raises(TypeError):
        (F("a") == 1) & {"b": 2}


@pytest.mark.parametrize(
    "plain",
    [
        {"a": 1},
        {"a": {"$ne": "x"}, "b": {"$gte": 2.5}},
        {"$or": [{"a": {"$in": [1, 2]}}, {"$not": {"b": {"$lt": 3}}}]},
        {"$not": {"$and": [{"a": True}, {"b": {"$nin": ["p", "q"]}}]}},
        {"$not": {"a": {"$gt": 1, "$lt": 5}}},
        {"a": {"$in": []}},
        {},
    ],
)
def test_round_trip(plain):
    parsed = parse(plain)
    assert parse(to_plain(parsed)) == parsed


def test_to_plain_shapes():
    assert to_plain(TRUE) == {}
    assert to_plain(FALSE) == {"_": {"$in": []}}
    assert to_plain(parse({"a": {"$in": ["y", "x"]}})) == {"a": {"$in": ["x", "y"]}}
    assert to_plain(parse({"a": 1, "b": 2})) == {"$and": [{"a": 1}, {"b": 2}]}
    assert to_plain(parse({"$not": {"a": {"$lt": 1}}})) == {"$not": {"a": {"$lt": 1}}}


def test_negate_pushes_down_where_exact():
    assert negate(A1) == Comparison("a", "ne", 1)
    assert negate(Comparison("a", "ne", 1)) == A1
    assert negate(Comparison("a", "in", (1, 2))) == Comparison("a", "nin", (1, 2))
    assert negate(Comparison("a", "nin", (1, 2))) == Comparison("a", "in", (1, 2))
    assert negate(C_LT) == Not(C_LT)
    assert negate(Not(C_LT)) == C_LT
    assert negate(Not(A1)) == A1
    assert negate(And((A1, B_RED))) == Or((negate(A1), negate(B_RED)))
    assert negate(Or((A1, C_LT))) == And((negate(A1), Not(C_LT)))
    assert negate(TRUE) is FALSE
    assert negate(FALSE) is TRUE


def test_push_not_leaves_only_negated_ranges():
    flt = parse({"$or": [{"$not": {"$or": [{"a": 1}, {"c": {"$lt": 5}}]}}, {"$not": {"b": "red"}}]})
    assert push_not(flt) == Or(
        (And((Comparison("a", "ne", 1), Not(C_LT))), Comparison("b", "ne", "red"))
    )


def test_raw_constructors_enforce_folded_shape():
    with pytest.raises(FilterError, match="at least two children"):
        And((A1,))
    with pytest.raises(FilterError, match="not folded"):
        Or((A1, TRUE))
    with pytest.raises(FilterError, match="not folded"):
        And((A1, And((B_RED, C_LT))))
    with pytest.raises(FilterError, match="not folded"):
        Not(Not(A1))
    with pytest.raises(FilterError, match="empty list"):
        Comparison("a", "in", ())
    with pytest.raises(TypeError):
        And((A1, "b"))
    with pytest.raises(TypeError):
        Const(1)
    assert And([A1, B_RED]).children == (A1, B_RED)
    assert compare("a", "in", []) is FALSE
    assert compare("a", "nin", ()) is TRUE
