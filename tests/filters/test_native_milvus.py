"""to_milvus: escaping, templates, negation with missing keys, kinds, schemas (no engine)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from milvus_lite.search.filter.parser import parse_expr
from milvus_lite.search.filter.tokens import TokenKind, tokenize

from emb_opt.errors import FilterError, UnsupportedFilterError
from emb_opt.filters import FALSE, TRUE, Comparison, parse
from emb_opt.filters._native import compared_fields, sampled_kinds
from emb_opt.filters.to_milvus import (
    MilvusField,
    MilvusSchema,
    key_range,
    milvus_filter,
    quote,
    to_milvus,
)
from emb_opt.testing.suite import random_filters

INJECTIONS = [
    '") or true or ("',
    "trailing\\",
    "new\nline",
    'say "hi"',
    "it's",
    'a\\"b',
    "ünïcødé ✓ 漢字",
    "emoji 😀",
    "tab\tand\rreturn",
    "nul\x00",
    "{p0}",
]
STATIC = MilvusSchema(
    static={
        "n": MilvusField("n", "int"),
        "price": MilvusField("price", "number"),
        "flag": MilvusField("flag", "bool", nullable=True),
        "tag": MilvusField("tag", "str"),
        "vec": MilvusField("vec", None, type_name="FLOAT_VECTOR"),
    },
    dynamic=False,
)


def expr(flt, schema=None, dialect="server"):
    return to_milvus(parse(flt), schema, dialect)[0]


def string_value(literal: str) -> str:
    """What a real Milvus parser (Milvus Lite's tokenizer) reads from a string literal."""
    tokens = tokenize(literal)
    assert [t.kind for t in tokens] == [TokenKind.STRING, TokenKind.EOF]
    return tokens[0].value


@pytest.mark.parametrize("text", INJECTIONS)
def test_quote_reads_back_as_the_same_string(text):
    assert string_value(quote(text)) == text


@given(st.text())
@settings(max_examples=300)
def test_any_string_survives_quoting(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(FilterError, match="lone surrogate"):
            quote(text)
        return
    assert string_value(quote(text)) == text


def test_exact_escapes():
    assert quote('") or true or ("') == '"\\") or true or (\\""'
    assert quote("trailing\\") == '"trailing\\\\"'
    assert quote("new\nline") == '"new\\nline"'
    assert quote("ünï 😀") == '"ünï 😀"'


@pytest.mark.parametrize("text", INJECTIONS)
def test_an_injection_stays_one_comparison(text):
    """The parsed expression is a single `tag == <literal>`: nothing leaked into the logic."""
    for flt in ({"tag": text}, {"tag": {"$in": [text, "red"]}}):
        tree = parse_expr(expr(flt))
        assert type(tree).__name__ in ("CmpOp", "InOp"), tree


@pytest.mark.parametrize("text", INJECTIONS)
def test_templates_carry_values_as_parameters(text):
    expression, params = to_milvus(parse({"tag": text, "n": {"$in": [1, 2.5]}}), None, "templates")
    assert expression == "(tag == {p0} and (n in {p1} or n in {p2}))"
    assert params == {"p0": text, "p1": [1], "p2": [2.5]}


@pytest.mark.parametrize("text", INJECTIONS)
def test_a_key_range_reads_back_as_two_comparisons_of_the_keys(text):
    """A scan part's primary-key range: escaped literals, or parameters with templates."""
    tree = parse_expr(key_range("pk", text, "zz", "server")[0])
    assert type(tree).__name__ == "And"
    bounds = [(op.op, op.left.name, op.right.value) for op in tree.operands]
    assert bounds == [(">=", "pk", text), ("<", "pk", "zz")]
    assert key_range("pk", text, "zz", "templates") == (
        "pk >= {key_lower} and pk < {key_upper}",
        {"key_lower": text, "key_upper": "zz"},
    )


def test_a_key_range_may_be_open_on_either_side():
    assert key_range("id", None, None, "server") == ("", {})
    assert key_range("id", 5, None, "lite") == ("id >= 5", {})
    assert key_range("id", None, -9, "server") == ("id < -9", {})
    assert key_range("id", None, 9, "templates") == ("id < {key_upper}", {"key_upper": 9})


def test_negatives_are_true_for_missing_keys():
    assert expr({"tag": {"$ne": "a"}}) == '((not exists tag) or (not (tag == "a")))'
    assert expr({"n": {"$nin": [1, 2]}}) == "((not exists n) or (not (n in [1, 2])))"
    assert expr({"$not": {"rand": {"$lt": 0.5}}}) == "((not exists rand) or (not (rand < 0.5)))"
    assert expr({"$not": {"tag": {"$ne": "a"}}}) == 'tag == "a"'  # pushed down, no guard


def test_logic_and_mixed_number_lists():
    assert expr({"$or": [{"a": 1}, {"b": True}]}) == "(a == 1 or b == true)"
    assert expr({"a": {"$in": [1, 2.5, 3]}}) == "(a in [1, 3] or a in [2.5])"
    assert expr({"a": {"$gt": 1e-7}}) == "a > 1e-07"
    assert expr({"a": {"$lt": float("inf")}}) == "a <= 1.7976931348623157e+308"
    assert to_milvus(TRUE) == ("", {})
    with pytest.raises(ValueError, match="always-false"):
        to_milvus(FALSE)


def test_keyword_field_names_use_meta_access():
    assert expr({"and": 1}) == '$meta["and"] == 1'
    assert expr({"exists": {"$in": ["a", "b"]}}) == '$meta["exists"] in ["a", "b"]'
    lite = MilvusSchema(kinds={"in": "str"})
    assert expr({"in": {"$in": ["a", "b"]}}, lite, "lite") == (
        '($meta["in"] == "a" or $meta["in"] == "b")'
    )


def test_static_fields_int_conversion_kinds_and_nulls():
    assert expr({"n": {"$gte": 7.5}}, STATIC) == "n >= 8"
    assert expr({"n": {"$lt": 7.5}}, STATIC) == "n < 8"
    assert expr({"n": {"$lte": -7.5}}, STATIC) == "n <= -8"
    assert expr({"n": {"$in": [2.0, 2.5]}}, STATIC) == "n in [2]"
    assert expr({"n": {"$lt": 1e300}}, STATIC) == "n <= 9223372036854775807"
    assert milvus_filter(parse({"n": 2.5}), STATIC) == FALSE
    assert milvus_filter(parse({"n": True}), STATIC) == FALSE  # bool never equals an int
    assert milvus_filter(parse({"tag": {"$ne": 3}}), STATIC) == TRUE
    assert milvus_filter(parse({"absent": 1}), STATIC) == FALSE  # no dynamic field
    assert expr({"flag": {"$ne": True}}, STATIC) == "((flag is null) or (not (flag == true)))"
    assert expr({"tag": {"$ne": "x"}}, STATIC) == '(not (tag == "x"))'
    with pytest.raises(UnsupportedFilterError, match="FLOAT_VECTOR"):
        expr({"vec": 1}, STATIC)


def test_recorded_kinds_fold_and_complete_kinds_mean_missing():
    recorded = MilvusSchema(kinds={"n": "number", "flag": "bool"}, kinds_complete=True)
    assert milvus_filter(parse({"flag": 1}), recorded) == FALSE
    assert milvus_filter(parse({"other": {"$ne": 1}}), recorded) == TRUE
    declared = MilvusSchema(kinds={"n": "number"})
    assert expr({"other": 1}, declared) == "other == 1"


def test_lite_refuses_what_python_comparisons_get_wrong():
    unknown = MilvusSchema()
    for flt in ({"flag": True}, {"n": 1}, {"n": 0.0}, {"rand": {"$lt": 0.5}}):
        with pytest.raises(UnsupportedFilterError, match="field_kinds"):
            expr(flt, unknown, "lite")
    assert expr({"n": 5}, unknown, "lite") == "n == 5"
    assert expr({"tag": {"$ne": "x"}}, unknown, "lite") == (
        '((not exists tag) or (not (tag == "x")))'
    )
    mixed = MilvusSchema(kinds={"m": "mixed"})
    with pytest.raises(UnsupportedFilterError, match="several kinds"):
        expr({"m": True}, mixed, "lite")


def test_compared_fields():
    flt = parse({"$or": [{"a": 1}, {"$not": {"b": {"$lt": 2}}}], "c": {"$in": ["x"]}})
    assert compared_fields(flt) == {"a", "b", "c"}
    assert compared_fields(TRUE) == set()


ROWS = [
    {"n": 1, "flag": True, "tag": "a", "both": 1},
    {"n": 2.5, "flag": None, "both": True},  # null and missing keys say nothing
    {"n": 3, "flag": False, "tag": "b", "other": [1]},
]
KEYS = ("n", "flag", "tag", "both", "other", "unseen")


def test_sampled_kinds_of_every_row_settle_single_kinds_only():
    assert sampled_kinds({}, ROWS, KEYS, exhaustive=True) == {
        "n": "number",
        "flag": "bool",
        "tag": "str",
        "both": "mixed",  # bool is not a number
        "other": "mixed",  # lists are no kind a filter compares
    }


def test_a_partial_sample_only_proves_mixed():
    assert sampled_kinds({}, ROWS, KEYS, exhaustive=False) == {"both": "mixed", "other": "mixed"}


def test_declared_kinds_are_checked_against_the_sample():
    declared = {"n": "number", "unseen": "str", "both": "mixed"}
    assert sampled_kinds(declared, ROWS, KEYS, exhaustive=False) == declared | {"other": "mixed"}
    assert sampled_kinds({"tag": "str"}, ROWS, ["tag"], exhaustive=True) == {"tag": "str"}
    with pytest.raises(ValueError, match=r"'flag' holds number values, but .* hold bool values"):
        sampled_kinds({"flag": "number"}, ROWS, KEYS, exhaustive=False)
    with pytest.raises(ValueError, match=r"'both' holds bool .* values of several kinds"):
        sampled_kinds({"both": "bool"}, ROWS, KEYS, exhaustive=False)


@given(random_filters())
@settings(max_examples=200, deadline=None)
def test_every_random_filter_compiles_to_parseable_expressions(flt):
    compiled = milvus_filter(parse(flt), MilvusSchema())
    if compiled in (TRUE, FALSE):
        return
    for dialect in ("server", "lite", "templates"):
        kinds = {"rand": "number", "n": "number", "price": "number", "flag": "bool", "tag": "str"}
        expression, params = to_milvus(compiled, MilvusSchema(kinds=kinds), dialect)
        if dialect != "templates":
            parse_expr(expression)  # Milvus Lite's parser accepts it
            assert not params


def test_dialect_needs_templates_on_both_sides():
    from emb_opt.adapters.milvus import milvus_dialect

    assert milvus_dialect("milvus_lite-3.2.2") == "lite"
    assert milvus_dialect("v2.3.5-lite", "3.0.2") == "server"
    assert milvus_dialect("v2.5.10", "3.0.2") == "templates"
    assert milvus_dialect("v2.6.0", "2.4.15") == "server"  # old pymilvus drops filter_params


def test_comparison_nodes_are_validated_before_compiling():
    with pytest.raises(FilterError):
        Comparison('tag") or (1', "eq", "x")
