"""The search grammar: run and experiment filters, order_by clauses and page tokens."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mltrail.entities.search import (
    MAX_FILTER_LENGTH,
    Comparison,
    OrderBy,
    decode_page_token,
    encode_page_token,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from mltrail.errors import InvalidArgument


def one(text: str) -> Comparison:
    """The single clause of a run filter."""
    (comparison,) = parse_run_filter(text)
    return comparison


def clause_error(clause: str) -> str:
    """The start of the message naming ``clause`` as the invalid one, as a regex."""
    return re.escape(f'Invalid clause "{clause}" in filter: ')


# ------------------------------------------------------------------------ empty filters


@pytest.mark.parametrize("text", [None, "", " ", "\t\n  "])
def test_empty_filters_give_no_clauses(text: str | None) -> None:
    assert parse_run_filter(text) == ()
    assert parse_experiment_filter(text) == ()


# ----------------------------------------------------------------------------- entities


@pytest.mark.parametrize("entity", ["metric", "metrics", "METRICS", "Metric"])
def test_metric_aliases(entity: str) -> None:
    assert one(f"{entity}.loss < 0.5") == Comparison("metric", "loss", "<", 0.5)


@pytest.mark.parametrize("entity", ["param", "params", "parameter", "parameters", "PARAMS"])
def test_param_aliases(entity: str) -> None:
    assert one(f"{entity}.lr = '0.01'") == Comparison("param", "lr", "=", "0.01")


@pytest.mark.parametrize("entity", ["tag", "tags", "Tags"])
def test_tag_aliases(entity: str) -> None:
    assert one(f"{entity}.team = 'ml'") == Comparison("tag", "team", "=", "ml")


@pytest.mark.parametrize("entity", ["attribute.", "attributes.", "attr.", "run.", "ATTRIBUTES.", ""])
def test_attribute_aliases_and_no_prefix(entity: str) -> None:
    assert one(f"{entity}status = 'FINISHED'") == Comparison(
        "attribute", "status", "=", "FINISHED"
    )


@pytest.mark.parametrize("entity", ["dataset", "datasets"])
def test_dataset_aliases(entity: str) -> None:
    assert one(f"{entity}.name = 'iris'") == Comparison("dataset", "name", "=", "iris")


def test_entity_is_split_at_the_first_dot() -> None:
    assert one("tags.mlflow.source.name = 'train.py'") == Comparison(
        "tag", "mlflow.source.name", "=", "train.py"
    )
    assert one("metrics.val.loss.epoch_1 > 0") == Comparison("metric", "val.loss.epoch_1", ">", 0.0)


def test_unknown_entity_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidArgument, match=clause_error("foo.bar = 1") + "unknown entity 'foo'"):
        parse_run_filter("foo.bar = 1")
    with pytest.raises(InvalidArgument, match=r"metric/metrics, param/params/parameter/parameters"):
        parse_run_filter("foo.bar = 1")
    with pytest.raises(InvalidArgument, match=r"attribute/attributes/attr/run, dataset/datasets"):
        parse_run_filter("foo.bar = 1")


def test_bare_dotted_name_is_an_unknown_entity() -> None:
    with pytest.raises(InvalidArgument, match=r"unknown entity 'mlflow'"):
        parse_run_filter("mlflow.source.name = 'x'")


def test_empty_entity() -> None:
    with pytest.raises(InvalidArgument, match=clause_error(".loss > 1") + "unknown entity ''"):
        parse_run_filter(".loss > 1")


# --------------------------------------------------------------------------- attributes


@pytest.mark.parametrize("key", ["run_id", "run_name", "status", "user_id", "artifact_uri"])
def test_string_attributes(key: str) -> None:
    assert one(f"attributes.{key} = 'x'") == Comparison("attribute", key, "=", "x")
    assert one(f"{key} != 'x'") == Comparison("attribute", key, "!=", "x")
    assert one(f"{key} LIKE 'x%'") == Comparison("attribute", key, "LIKE", "x%")
    assert one(f"{key} ILIKE '%X'") == Comparison("attribute", key, "ILIKE", "%X")


@pytest.mark.parametrize(
    "identifier", ["`run name`", '"run name"', "`Run name`", '"Run name"', "`Run Name`", "run_name"]
)
def test_run_name_aliases(identifier: str) -> None:
    assert one(f"{identifier} = 'a'") == Comparison("attribute", "run_name", "=", "a")
    assert one(f"attributes.{identifier} = 'a'") == Comparison("attribute", "run_name", "=", "a")


@pytest.mark.parametrize("key", ["start_time", "end_time"])
@pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<="])
def test_numeric_attributes(key: str, op: str) -> None:
    assert one(f"attributes.{key} {op} 1700000000000") == Comparison(
        "attribute", key, op, 1700000000000.0  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("alias", ["created", "Created"])
def test_created_is_start_time(alias: str) -> None:
    assert one(f"{alias} >= 5") == Comparison("attribute", "start_time", ">=", 5.0)


def test_unknown_attribute_lists_the_valid_ones() -> None:
    with pytest.raises(
        InvalidArgument,
        match=clause_error("attributes.color = 'x'")
        + r"unknown run attribute 'color'; expected one of run_id, run_name, status, user_id, "
        r"artifact_uri, start_time, end_time",
    ):
        parse_run_filter("attributes.color = 'x'")


def test_attribute_names_are_case_sensitive_except_the_aliases() -> None:
    with pytest.raises(InvalidArgument, match=r"unknown run attribute 'STATUS'"):
        parse_run_filter("STATUS = 'x'")


def test_run_id_in_lists() -> None:
    assert one("run_id IN ('a', 'b')") == Comparison("attribute", "run_id", "IN", ("a", "b"))
    assert one('attributes.run_id not in ("a")') == Comparison(
        "attribute", "run_id", "NOT IN", ("a",)
    )
    assert one("run_id in('a','b','c')") == Comparison("attribute", "run_id", "IN", ("a", "b", "c"))


@pytest.mark.parametrize("key", ["run_name", "status", "user_id", "artifact_uri"])
def test_in_is_only_for_run_id_among_attributes(key: str) -> None:
    with pytest.raises(
        InvalidArgument,
        match=clause_error(f"{key} IN ('a')") + "comparator IN is not supported for attribute",
    ):
        parse_run_filter(f"{key} IN ('a')")


def test_numeric_attribute_rejects_string_comparators_and_strings() -> None:
    with pytest.raises(
        InvalidArgument, match=clause_error("start_time LIKE '1'") + "comparator LIKE is not"
    ):
        parse_run_filter("start_time LIKE '1'")
    with pytest.raises(
        InvalidArgument,
        match=clause_error("end_time > '5'") + "Expected numeric value type for attribute 'end_time'",
    ):
        parse_run_filter("end_time > '5'")


def test_string_attribute_rejects_numeric_comparators_and_numbers() -> None:
    with pytest.raises(InvalidArgument, match=clause_error("status > 'a'") + "comparator > is not"):
        parse_run_filter("status > 'a'")
    with pytest.raises(
        InvalidArgument, match=clause_error("status = RUNNING") + "expected a quoted string value"
    ):
        parse_run_filter("status = RUNNING")


def test_attributes_have_no_null_comparators() -> None:
    with pytest.raises(InvalidArgument, match=r"comparator IS NULL is not supported"):
        parse_run_filter("run_name IS NULL")


# ------------------------------------------------------------------------------ metrics


@pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<="])
def test_metric_comparators(op: str) -> None:
    assert one(f"metrics.acc {op} 1") == Comparison("metric", "acc", op, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1", 1.0),
        ("-1", -1.0),
        ("+2", 2.0),
        ("0.25", 0.25),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("3.", 3.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-2.5e+2", -250.0),
        ("12345678901234567890", 12345678901234567890.0),
    ],
)
def test_metric_number_literals(literal: str, value: float) -> None:
    comparison = one(f"metrics.m >= {literal}")
    assert comparison.value == value
    assert isinstance(comparison.value, float)


@pytest.mark.parametrize("op", ["LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"])
def test_metric_rejects_other_comparators(op: str) -> None:
    text = f"metrics.m {op} 1" if "NULL" not in op else f"metrics.m {op}"
    with pytest.raises(
        InvalidArgument,
        match=clause_error(text) + f"comparator {op} is not supported for metric 'm'",
    ):
        parse_run_filter(text)


@pytest.mark.parametrize("value", ["'1'", '"1"'])
def test_metric_quoted_value(value: str) -> None:
    text = f"metrics.loss = {value}"
    with pytest.raises(
        InvalidArgument,
        match=clause_error(text) + "Expected numeric value type for metric 'loss'",
    ):
        parse_run_filter(text)


@pytest.mark.parametrize("value", ["NaN", "inf", "abc", "0x10", "1_000", "1e", "--1", "1e99999"])
def test_metric_non_numeric_literals(value: str) -> None:
    text = f"metrics.loss = {value}"
    with pytest.raises(
        InvalidArgument, match=clause_error(text) + r"(Expected numeric|the number .* is out of range)"
    ):
        parse_run_filter(text)


# ----------------------------------------------------------------------- params and tags


@pytest.mark.parametrize("entity", ["params", "tags"])
@pytest.mark.parametrize("op", ["=", "!=", "LIKE", "ILIKE", "like", "ilike", "Like"])
def test_param_and_tag_string_comparators(entity: str, op: str) -> None:
    kind = "param" if entity == "params" else "tag"
    assert one(f"{entity}.k {op} 'v'") == Comparison(kind, "k", op.upper(), "v")  # type: ignore[arg-type]


@pytest.mark.parametrize("entity", ["params", "tags"])
@pytest.mark.parametrize(
    ("spelling", "op"),
    [
        ("IS NULL", "IS NULL"),
        ("is null", "IS NULL"),
        ("IS NOT NULL", "IS NOT NULL"),
        ("is   not\tnull", "IS NOT NULL"),
        ("Is Not Null", "IS NOT NULL"),
    ],
)
def test_param_and_tag_null_comparators(entity: str, spelling: str, op: str) -> None:
    kind = "param" if entity == "params" else "tag"
    assert one(f"{entity}.k {spelling}") == Comparison(kind, "k", op, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("entity", ["params", "tags"])
@pytest.mark.parametrize("op", [">", ">=", "<", "<=", "IN", "NOT IN"])
def test_param_and_tag_reject_other_comparators(entity: str, op: str) -> None:
    text = f"{entity}.k {op} 'v'"
    with pytest.raises(InvalidArgument, match=clause_error(text) + f"comparator {op} is not"):
        parse_run_filter(text)


@pytest.mark.parametrize("value", ["1", "v", "`v`"])
def test_param_and_tag_need_a_quoted_string(value: str) -> None:
    for entity in ("params", "tags"):
        text = f"{entity}.k = {value}"
        with pytest.raises(
            InvalidArgument, match=clause_error(text) + "expected a quoted string value for"
        ):
            parse_run_filter(text)


def test_null_comparators_take_no_value() -> None:
    with pytest.raises(
        InvalidArgument, match=clause_error("tags.k IS NULL 'x'") + "unexpected quoted text 'x'"
    ):
        parse_run_filter("tags.k IS NULL 'x'")


@pytest.mark.parametrize("text", ["tags.k IS 'x'", "tags.k IS NOT 'x'", "tags.k IS NOT", "tags.k IS"])
def test_broken_null_comparators(text: str) -> None:
    with pytest.raises(InvalidArgument, match=clause_error(text) + "expected a comparator"):
        parse_run_filter(text)


# ----------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("key", ["name", "digest", "context"])
def test_dataset_keys_and_comparators(key: str) -> None:
    assert one(f"datasets.{key} = 'a'") == Comparison("dataset", key, "=", "a")
    assert one(f"datasets.{key} != 'a'") == Comparison("dataset", key, "!=", "a")
    assert one(f"datasets.{key} LIKE 'a%'") == Comparison("dataset", key, "LIKE", "a%")
    assert one(f"datasets.{key} ILIKE 'a%'") == Comparison("dataset", key, "ILIKE", "a%")
    assert one(f"datasets.{key} IN ('a', 'b')") == Comparison("dataset", key, "IN", ("a", "b"))
    assert one(f"datasets.{key} NOT IN ('a')") == Comparison("dataset", key, "NOT IN", ("a",))


def test_unknown_dataset_key() -> None:
    with pytest.raises(
        InvalidArgument,
        match=clause_error("datasets.size = 'a'")
        + "unknown dataset key 'size'; expected one of name, digest, context",
    ):
        parse_run_filter("datasets.size = 'a'")


def test_dataset_rejects_numeric_comparators() -> None:
    with pytest.raises(InvalidArgument, match=r"comparator > is not supported for dataset 'name'"):
        parse_run_filter("datasets.name > 'a'")


# ------------------------------------------------------------------------------ quoting


def test_backtick_and_double_quoted_keys() -> None:
    assert one("metrics.`f1 score` > 0.5") == Comparison("metric", "f1 score", ">", 0.5)
    assert one('tags."mlflow.source.name" = \'x\'') == Comparison(
        "tag", "mlflow.source.name", "=", "x"
    )
    assert one("params.\"a b\" = 'c'") == Comparison("param", "a b", "=", "c")
    assert one("params.`a AND b` = 'c'") == Comparison("param", "a AND b", "=", "c")
    assert one("metrics.`a``b` > 1") == Comparison("metric", "a`b", ">", 1.0)
    assert one('tags."say ""hi""" IS NULL') == Comparison("tag", 'say "hi"', "IS NULL", None)


def test_single_quoted_key_is_rejected() -> None:
    with pytest.raises(
        InvalidArgument, match=clause_error("tags.'a' = 'b'") + "expected a key after 'tags.'"
    ):
        parse_run_filter("tags.'a' = 'b'")


@pytest.mark.parametrize("text", ["tags. = 'b'", "tags."])
def test_missing_key(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"expected a key after 'tags\.'"):
        parse_run_filter(text)


def test_empty_quoted_key() -> None:
    with pytest.raises(InvalidArgument, match=clause_error("metrics.`` > 1") + "the key is empty"):
        parse_run_filter("metrics.`` > 1")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("''", ""),
        ('""', ""),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'double \"inside\" single'", 'double "inside" single'),
        ('"single \'inside\' double"', "single 'inside' double"),
        ("''''", "'"),
        ("'a\\\\b'", "a\\b"),
        ("'ends with \\\\'", "ends with \\"),
        ("'C:\\dir\\x'", "C:\\dir\\x"),
        ("'a\\_b%'", "a\\_b%"),
        ("'x AND y OR z'", "x AND y OR z"),
        ("'(a = 1)'", "(a = 1)"),
        ("'  spaced  '", "  spaced  "),
        ("'ünïcødé ✓'", "ünïcødé ✓"),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    assert one(f"tags.k = {literal}") == Comparison("tag", "k", "=", value)


@pytest.mark.parametrize("text", ["tags.k = 'abc", 'tags.k = "abc', "metrics.`abc > 1", "tags.k = 'a''"])
def test_unterminated_quotes(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid filter .*unterminated quoted text"):
        parse_run_filter(text)


# --------------------------------------------------------------------------- whitespace


@pytest.mark.parametrize(
    "text",
    [
        "metrics.a>1",
        "metrics.a > 1",
        "  metrics.a  >  1  ",
        "metrics.a\t>\n1",
        "metrics.a >1",
        "metrics.a> 1",
    ],
)
def test_whitespace_is_free(text: str) -> None:
    assert parse_run_filter(text) == (Comparison("metric", "a", ">", 1.0),)


def test_whitespace_around_in_lists_and_strings() -> None:
    assert one("run_id IN(  'a'  ,'b' )") == Comparison("attribute", "run_id", "IN", ("a", "b"))
    assert one("tags.k='v'") == Comparison("tag", "k", "=", "v")
    assert one("metrics.a>=-1") == Comparison("metric", "a", ">=", -1.0)
    assert one("metrics.a!=-1") == Comparison("metric", "a", "!=", -1.0)
    assert one("metrics.`x y`<=2") == Comparison("metric", "x y", "<=", 2.0)


# ---------------------------------------------------------------------------------- AND


def test_clauses_joined_by_and() -> None:
    assert parse_run_filter(
        "metrics.acc > 0.9 AND params.model = 'cnn' and tags.team LIKE 'ml%' And status = 'FINISHED'"
    ) == (
        Comparison("metric", "acc", ">", 0.9),
        Comparison("param", "model", "=", "cnn"),
        Comparison("tag", "team", "LIKE", "ml%"),
        Comparison("attribute", "status", "=", "FINISHED"),
    )


def test_and_right_after_a_quote() -> None:
    assert parse_run_filter("tags.a='x'AND tags.b='y'") == (
        Comparison("tag", "a", "=", "x"),
        Comparison("tag", "b", "=", "y"),
    )


def test_and_inside_quotes_is_not_a_separator() -> None:
    assert parse_run_filter("tags.`a AND b` = 'c AND d' AND run_id IN ('e AND f')") == (
        Comparison("tag", "a AND b", "=", "c AND d"),
        Comparison("attribute", "run_id", "IN", ("e AND f",)),
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("metrics.a = 1 AND", "after the last AND"),
        ("AND metrics.a = 1", "before the first AND"),
        ("metrics.a = 1 AND AND metrics.b = 2", "between two ANDs"),
        ("AND", "before the first AND"),
    ],
)
def test_empty_clauses(text: str, where: str) -> None:
    with pytest.raises(
        InvalidArgument, match=re.escape(f'Invalid filter "{text}": empty clause {where}')
    ):
        parse_run_filter(text)


@pytest.mark.parametrize(
    "text",
    [
        "metrics.a > 1 OR metrics.b > 2",
        "metrics.a > 1 or metrics.b > 2",
        "tags.x = 'a' AND (metrics.a > 1 Or metrics.b > 2)",
    ],
)
def test_or_is_not_supported(text: str) -> None:
    with pytest.raises(
        InvalidArgument, match=re.escape(f'Invalid filter "{text}": OR is not supported')
    ):
        parse_run_filter(text)


def test_or_inside_quotes_is_fine() -> None:
    assert one("tags.k = 'this OR that'") == Comparison("tag", "k", "=", "this OR that")
    assert one("tags.OR = 'x'") == Comparison("tag", "OR", "=", "x")


@pytest.mark.parametrize(
    "text", ["(metrics.a > 1)", "metrics.b > 0 AND (metrics.a > 1 AND metrics.c < 2)"]
)
def test_grouping_parentheses_are_not_supported(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"parentheses for grouping are not supported"):
        parse_run_filter(text)


def test_parentheses_around_a_value_are_not_supported() -> None:
    with pytest.raises(
        InvalidArgument,
        match=clause_error("metrics.a > (1)") + "parentheses are only supported around the list",
    ):
        parse_run_filter("metrics.a > (1)")


def test_missing_and_between_clauses() -> None:
    text = "metrics.a > 1 metrics.b < 2"
    with pytest.raises(InvalidArgument, match=clause_error(text) + "unexpected 'metrics.b'"):
        parse_run_filter(text)


# -------------------------------------------------------------------------- comparators


@pytest.mark.parametrize("op", [">>", "<>", "==", "=>", "=<", "!", "<<", "=!"])
def test_bad_symbol_comparators(op: str) -> None:
    text = f"metrics.loss {op} 1"
    with pytest.raises(
        InvalidArgument,
        match=re.escape(
            f'Invalid clause "{text}" in filter: expected a comparator (=, !=, >, >=, <, <=, '
            "LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)"
        ),
    ):
        parse_run_filter(text)


@pytest.mark.parametrize(
    "text",
    ["metrics.loss", "metrics.loss 1", "params.a CONTAINS 'x'", "params.a NOT LIKE 'x'", "run_id NOT ('a')"],
)
def test_missing_or_unknown_comparator(text: str) -> None:
    with pytest.raises(InvalidArgument, match=clause_error(text) + "expected a comparator"):
        parse_run_filter(text)


def test_unquoted_key_with_space() -> None:
    with pytest.raises(InvalidArgument, match=r"expected a comparator"):
        parse_run_filter("metrics.f1 score > 1")


@pytest.mark.parametrize("text", ["metrics.a >", "tags.k =", "tags.k LIKE"])
def test_missing_value(text: str) -> None:
    with pytest.raises(InvalidArgument, match=clause_error(text) + "expected a value after"):
        parse_run_filter(text)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("run_id IN 'a'", "expected a parenthesized list"),
        ("run_id IN", "expected a parenthesized list"),
        ("run_id IN ()", "the list is empty"),
        ("run_id IN ('a'", "the list is not closed"),
        ("run_id IN ('a',", "the list is not closed"),
        ("run_id IN ('a' 'b')", "expected ',' or ')' in the list"),
        ("run_id IN ('a',)", "expected a quoted string value"),
        ("run_id IN (a)", "expected a quoted string value"),
        ("run_id IN (1, 2)", "expected a quoted string value"),
        ("run_id IN ('a') 'b'", "unexpected quoted text 'b'"),
    ],
)
def test_broken_in_lists(text: str, detail: str) -> None:
    with pytest.raises(InvalidArgument, match=clause_error(text) + re.escape(detail)):
        parse_run_filter(text)


def test_identifier_must_come_first() -> None:
    with pytest.raises(InvalidArgument, match=clause_error("'a' = 'b'") + "expected an identifier"):
        parse_run_filter("'a' = 'b'")
    with pytest.raises(InvalidArgument, match=clause_error("= 1") + "expected an identifier"):
        parse_run_filter("= 1")


# --------------------------------------------------------------------------------- limit


def test_length_limit() -> None:
    long_value = "x" * (MAX_FILTER_LENGTH - len("tags.k = ''"))
    assert one(f"tags.k = '{long_value}'").value == long_value
    with pytest.raises(InvalidArgument, match=r"over the limit of 100000 characters"):
        parse_run_filter(f"tags.k = '{long_value}x'")
    with pytest.raises(InvalidArgument, match=r"over the limit of 100000 characters"):
        parse_experiment_filter(" " * (MAX_FILTER_LENGTH + 1))


def test_long_clause_is_cut_short_in_messages() -> None:
    text = "tags.k = " + "x" * 5000
    with pytest.raises(InvalidArgument, match=r'Invalid clause "tags\.k = x{191}\.\.\." in filter'):
        parse_run_filter(text)


def test_errors_are_invalid_parameter_value() -> None:
    with pytest.raises(InvalidArgument, match=r"OR is not supported") as caught:
        parse_run_filter("a = 1 OR b = 2")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


# ---------------------------------------------------------------------- experiment filter


def test_experiment_name() -> None:
    for entity in ("", "attribute.", "attributes.", "attr."):
        assert parse_experiment_filter(f"{entity}name = 'exp'") == (
            Comparison("attribute", "name", "=", "exp"),
        )
    for op in ("!=", "LIKE", "ILIKE"):
        assert parse_experiment_filter(f"name {op} 'e%'") == (
            Comparison("attribute", "name", op, "e%"),
        )


def test_experiment_id() -> None:
    assert parse_experiment_filter("experiment_id = '1'") == (
        Comparison("attribute", "experiment_id", "=", "1"),
    )
    assert parse_experiment_filter("experiment_id != 2") == (
        Comparison("attribute", "experiment_id", "!=", "2"),
    )
    assert parse_experiment_filter("experiment_id IN ('1', \"2\", 3)") == (
        Comparison("attribute", "experiment_id", "IN", ("1", "2", "3")),
    )
    assert parse_experiment_filter("experiment_id not in ('1')") == (
        Comparison("attribute", "experiment_id", "NOT IN", ("1",)),
    )


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("experiment_id > '1'", "comparator > is not supported for attribute 'experiment_id'"),
        ("experiment_id LIKE '1%'", "comparator LIKE is not supported"),
        ("experiment_id = 1.5", "expected a quoted string value"),
        ("name = exp", "expected a quoted string value"),
        ("name IN ('a')", "comparator IN is not supported for attribute 'name'"),
        ("creation_time = 'x'", "Expected numeric value type for attribute 'creation_time'"),
        ("creation_time LIKE 'x'", "comparator LIKE is not supported"),
        ("tags.k > 'x'", "comparator > is not supported for tag 'k'"),
        ("tags.k = 1", "expected a quoted string value for tag 'k'"),
        ("lifecycle_stage = 'active'", "unknown experiment attribute 'lifecycle_stage'; expected"),
        ("metrics.a > 1", "unknown entity 'metrics'; expected one of attribute/attributes/attr, tag/tags"),
        ("params.a = 'x'", "unknown entity 'params'"),
        ("datasets.name = 'x'", "unknown entity 'datasets'"),
        ("run.name = 'x'", "unknown entity 'run'"),
        ("run_id = 'x'", "unknown experiment attribute 'run_id'"),
    ],
)
def test_experiment_filter_errors(text: str, detail: str) -> None:
    with pytest.raises(InvalidArgument, match=clause_error(text) + re.escape(detail)):
        parse_experiment_filter(text)


@pytest.mark.parametrize("key", ["creation_time", "last_update_time"])
@pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<="])
def test_experiment_times(key: str, op: str) -> None:
    assert parse_experiment_filter(f"attributes.{key} {op} 10") == (
        Comparison("attribute", key, op, 10.0),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("op", ["=", "!=", "LIKE", "ILIKE"])
def test_experiment_tags(op: str) -> None:
    assert parse_experiment_filter(f'tags."mlflow.note" {op} \'x\'') == (
        Comparison("tag", "mlflow.note", op, "x"),  # type: ignore[arg-type]
    )


def test_experiment_tag_nulls_and_and() -> None:
    assert parse_experiment_filter("tags.a IS NULL AND tag.b is not null AND name = 'x'") == (
        Comparison("tag", "a", "IS NULL", None),
        Comparison("tag", "b", "IS NOT NULL", None),
        Comparison("attribute", "name", "=", "x"),
    )


def test_experiment_filter_or() -> None:
    with pytest.raises(InvalidArgument, match=r"OR is not supported"):
        parse_experiment_filter("name = 'a' OR name = 'b'")


# ------------------------------------------------------------------------------ order_by


@pytest.mark.parametrize("clauses", [None, [], ()])
def test_empty_order_by(clauses: list[str] | None) -> None:
    assert parse_run_order_by(clauses) == ()
    assert parse_experiment_order_by(clauses) == ()


def test_run_order_by_forms() -> None:
    assert parse_run_order_by(
        [
            "metrics.`f1 score` DESC",
            "params.lr",
            "tags.mlflow.runName asc",
            'tags."a b" Desc',
            "start_time DESC",
            "attributes.end_time ASC",
            "created",
            "`Run Name` desc",
            "  metric.loss   DESC  ",
        ]
    ) == (
        OrderBy("metric", "f1 score", False),
        OrderBy("param", "lr", True),
        OrderBy("tag", "mlflow.runName", True),
        OrderBy("tag", "a b", False),
        OrderBy("attribute", "start_time", False),
        OrderBy("attribute", "end_time", True),
        OrderBy("attribute", "start_time", True),
        OrderBy("attribute", "run_name", False),
        OrderBy("metric", "loss", False),
    )


@pytest.mark.parametrize(
    "key", ["run_id", "run_name", "status", "user_id", "artifact_uri", "start_time", "end_time"]
)
def test_every_run_attribute_is_orderable(key: str) -> None:
    assert parse_run_order_by([f"attribute.{key} DESC"]) == (OrderBy("attribute", key, False),)


def test_lone_string_is_one_clause() -> None:
    assert parse_run_order_by("metrics.a DESC") == (OrderBy("metric", "a", False),)


@pytest.mark.parametrize(
    ("clause", "detail"),
    [
        ("", "the clause is empty"),
        ("   ", "the clause is empty"),
        ("datasets.name", "runs cannot be ordered by dataset keys"),
        ("foo", "unknown run attribute 'foo'"),
        ("foo.bar", "unknown entity 'foo'"),
        ("metrics.a UP", "expected ASC or DESC after the identifier, found 'UP'"),
        ("metrics.a DESC ASC", "unexpected 'ASC' after ASC/DESC"),
        ("metrics.f1 score", "expected ASC or DESC after the identifier, found 'score'"),
        ("metrics.`a", "unterminated quoted text"),
        ("metrics.a > 1", "expected ASC or DESC"),
    ],
)
def test_run_order_by_errors(clause: str, detail: str) -> None:
    with pytest.raises(
        InvalidArgument,
        match=re.escape(f'Invalid order_by clause "{clause}"') + ".*" + re.escape(detail),
    ):
        parse_run_order_by([clause])


def test_run_order_by_error_lists_what_is_valid() -> None:
    with pytest.raises(
        InvalidArgument,
        match=re.escape(
            "where the identifier is metrics.<key>, params.<key>, tags.<key> or an attribute "
            "(run_id, run_name, status, user_id, artifact_uri, start_time, end_time)"
        ),
    ):
        parse_run_order_by(["metrics.a sideways"])


def test_order_by_clause_must_be_a_string() -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid order_by clause 5: expected a string"):
        parse_run_order_by([5])  # type: ignore[list-item]


def test_order_by_length_limit() -> None:
    with pytest.raises(InvalidArgument, match=r"over the limit of 100000 characters"):
        parse_run_order_by(["metrics.`" + "a" * MAX_FILTER_LENGTH + "`"])


def test_experiment_order_by() -> None:
    assert parse_experiment_order_by(
        ["name", "experiment_id DESC", "attributes.creation_time desc", "last_update_time ASC"]
    ) == (
        OrderBy("attribute", "name", True),
        OrderBy("attribute", "experiment_id", False),
        OrderBy("attribute", "creation_time", False),
        OrderBy("attribute", "last_update_time", True),
    )


@pytest.mark.parametrize(
    ("clause", "detail"),
    [
        ("tags.x", "experiments cannot be ordered by tag keys"),
        ("metrics.x", "unknown entity 'metrics'"),
        ("lifecycle_stage", "unknown experiment attribute 'lifecycle_stage'"),
        ("name sideways", "expected ASC or DESC"),
    ],
)
def test_experiment_order_by_errors(clause: str, detail: str) -> None:
    with pytest.raises(
        InvalidArgument,
        match=re.escape(f'Invalid order_by clause "{clause}": {detail}')
        + ".*"
        + re.escape("an attribute (name, experiment_id, creation_time, last_update_time)"),
    ):
        parse_experiment_order_by([clause])


# --------------------------------------------------------------------------- page tokens


def test_page_token_matches_mlflow() -> None:
    assert encode_page_token(1) == "eyJvZmZzZXQiOiAxfQ=="
    assert decode_page_token("eyJvZmZzZXQiOiAxfQ==") == 1


@pytest.mark.parametrize("offset", [0, 1, 99, 1000, 123456789, 2**31])
def test_page_token_round_trip(offset: int) -> None:
    token = encode_page_token(offset)
    assert decode_page_token(token) == offset
    assert json.loads(base64.urlsafe_b64decode(token)) == {"offset": offset}


@given(st.integers(min_value=0, max_value=2**31))
def test_page_token_round_trip_property(offset: int) -> None:
    assert decode_page_token(encode_page_token(offset)) == offset


def test_page_token_accepts_standard_and_urlsafe_base64_and_missing_padding() -> None:
    payload = json.dumps({"offset": 7, "extra": "??>>"}).encode()
    standard = base64.b64encode(payload).decode()
    urlsafe = base64.urlsafe_b64encode(payload).decode()
    assert standard != urlsafe
    assert decode_page_token(standard) == 7
    assert decode_page_token(urlsafe) == 7
    assert decode_page_token(urlsafe.rstrip("=")) == 7


@pytest.mark.parametrize("token", [None, ""])
def test_no_page_token_is_offset_zero(token: str | None) -> None:
    assert decode_page_token(token) == 0


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("not base64!", "it is not base64"),
        ("a", "it is not base64"),
        ("eyJ%", "it is not base64"),
        ("a" * 2000, "it is longer than 1000 characters"),
        (b64(b"\xff\xfe\x00"), "it does not hold JSON"),
        (b64(b"not json"), "it does not hold JSON"),
        (b64(b"[1, 2]"), "expected a JSON object"),
        (b64(b"5"), "expected a JSON object"),
        (b64(b'"offset"'), "expected a JSON object"),
        (b64(b"{}"), 'expected an integer "offset"'),
        (b64(b'{"offset": "5"}'), 'expected an integer "offset"'),
        (b64(b'{"offset": 1.5}'), 'expected an integer "offset"'),
        (b64(b'{"offset": null}'), 'expected an integer "offset"'),
        (b64(b'{"offset": NaN}'), 'expected an integer "offset"'),
        (b64(b'{"offset": true}'), "the offset is a boolean"),
        (b64(b'{"offset": false}'), "the offset is a boolean"),
        (b64(b'{"offset": -1}'), "the offset -1 is negative"),
        (b64(b'{"offset": 2147483649}'), "the offset is larger than 2**31 (2147483648)"),
        (b64(b'{"offset": 1' + b"0" * 600 + b"}"), "the offset is larger than 2**31"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_garbage_page_tokens(token: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid page token .*: " + re.escape(why)):
        decode_page_token(token)


@pytest.mark.parametrize("offset", [-1, 2**31 + 1, True, 1.5])
def test_encode_rejects_bad_offsets(offset: int) -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid page offset"):
        encode_page_token(offset)


# ---------------------------------------------------------------------------- properties

KEY_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. /:")
)
keys = st.text(KEY_ALPHABET, min_size=1, max_size=40)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63),
)


@given(keys, numbers)
def test_quoted_metric_keys_and_numbers_round_trip(key: str, number: float) -> None:
    (comparison,) = parse_run_filter(f"metrics.`{key}` > {number!r}")
    assert comparison == Comparison("metric", key, ">", float(number))


@given(keys, numbers)
def test_quoted_keys_round_trip_in_order_by(key: str, number: float) -> None:
    assert parse_run_order_by([f'params."{key}" DESC']) == (OrderBy("param", key, False),)


@given(st.text(st.characters(exclude_characters="\\")))
def test_tag_values_round_trip_with_doubled_quotes(value: str) -> None:
    single = "'" + value.replace("'", "''") + "'"
    double = '"' + value.replace('"', '""') + '"'
    assert parse_run_filter(f"tags.k = {single} AND tags.j != {double}") == (
        Comparison("tag", "k", "=", value),
        Comparison("tag", "j", "!=", value),
    )


@given(st.text())
def test_any_tag_value_round_trips_with_doubled_quotes_and_backslashes(value: str) -> None:
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    assert parse_run_filter(f"tags.k LIKE {quoted}") == (Comparison("tag", "k", "LIKE", value),)
