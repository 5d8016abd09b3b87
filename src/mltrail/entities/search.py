"""MLflow's search grammar, parsed into a small AST that the stores compile.

A filter is clauses joined by AND: ``<identifier> <comparator> <value>``, where the identifier
is ``[entity.]key`` (the entity is ``metrics``, ``params``, ``tags``, ``attributes`` or
``datasets``, with MLflow's aliases; keys may be quoted with backticks or double quotes).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
from collections.abc import Sequence
from typing import Literal

from mltrail.errors import InvalidArgument

Kind = Literal["metric", "param", "tag", "attribute", "dataset"]

# Comparators, spelled in upper case.
Op = Literal["=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One clause: ``kind`` and ``key`` name what is compared.

    ``value`` is a float for metric and numeric attribute clauses, a str for string clauses,
    a tuple of str for IN / NOT IN, and None for IS NULL / IS NOT NULL.
    Attribute keys are canonical: run_id, run_name, status, user_id, artifact_uri,
    start_time, end_time (runs); experiment_id, name, creation_time, last_update_time
    (experiments). Dataset keys: name, digest, context.
    """

    kind: Kind
    key: str
    op: Op
    value: float | str | tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class OrderBy:
    kind: Kind
    key: str
    ascending: bool = True


# --------------------------------------------------------------------------------------------
# Parsing
#
# The text is first cut into tokens (words, quoted text, comparator symbols, parentheses and
# commas), then into clauses at each top-level AND, and each clause is read as
# ``identifier comparator [value]``. Everything raises InvalidArgument naming the clause.
# --------------------------------------------------------------------------------------------

MAX_FILTER_LENGTH = 100_000
"""The longest filter (and the longest single order_by clause) accepted, in characters."""

MAX_PAGE_TOKEN_OFFSET = 2**31
_MAX_PAGE_TOKEN_LENGTH = 1_000
_SHOWN_TEXT_LENGTH = 200

_COMPARATORS_TEXT = "=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL"

_SYMBOL_OPS: dict[str, Op] = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_NUMERIC_OPS: tuple[Op, ...] = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS: tuple[Op, ...] = ("=", "!=", "LIKE", "ILIKE")
_LIST_OPS: tuple[Op, ...] = ("IN", "NOT IN")
_NULL_OPS: tuple[Op, ...] = ("IS NULL", "IS NOT NULL")

_QUOTES = "'\"`"
_OP_CHARS = "=!<>"
_WORD_STOPS = _QUOTES + _OP_CHARS + "(),"

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_RE = re.compile(r"\d+")

_TokenType = Literal["word", "quoted", "op", "lparen", "rparen", "comma"]
_ValueType = Literal["number", "string", "id"]


@dataclasses.dataclass(frozen=True)
class _Token:
    type: _TokenType
    value: str  # unescaped content for quoted text, the source text otherwise
    start: int
    end: int
    quote: str = ""  # the opening quote character of quoted text


@dataclasses.dataclass(frozen=True)
class _Rule:
    """What a clause on one (kind, key) may compare: its comparators and value type."""

    ops: tuple[Op, ...]
    value: _ValueType


@dataclasses.dataclass(frozen=True)
class _Grammar:
    subject: str  # "run" or "experiment", for messages
    entities: dict[str, Kind]  # lower-case spelling -> kind
    attributes: dict[str, str]  # spelling (case-sensitive) -> canonical attribute key
    attribute_rules: dict[str, _Rule]  # canonical attribute key -> rule
    kind_rules: dict[Kind, _Rule]  # rule for every key of a non-attribute kind
    dataset_keys: tuple[str, ...]
    orderable_kinds: tuple[Kind, ...]
    orderable_attributes: tuple[str, ...]

    def entity_spellings(self) -> str:
        by_kind: dict[Kind, list[str]] = {}
        for spelling, kind in self.entities.items():
            by_kind.setdefault(kind, []).append(spelling)
        return ", ".join("/".join(spellings) for spellings in by_kind.values())

    def attribute_names(self) -> str:
        return ", ".join(self.attribute_rules)


# The entity prefixes every searchable thing with metrics, params and tags accepts.
KEY_VALUE_ENTITIES: dict[str, Kind] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
}

_RUN_GRAMMAR = _Grammar(
    subject="run",
    entities={
        **KEY_VALUE_ENTITIES,
        "run": "attribute",
        "dataset": "dataset",
        "datasets": "dataset",
    },
    attributes={
        "run_id": "run_id",
        "run_name": "run_name",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
        "status": "status",
        "user_id": "user_id",
        "artifact_uri": "artifact_uri",
        "start_time": "start_time",
        "created": "start_time",
        "Created": "start_time",
        "end_time": "end_time",
    },
    attribute_rules={
        "run_id": _Rule(_STRING_OPS + _LIST_OPS, "string"),
        "run_name": _Rule(_STRING_OPS, "string"),
        "status": _Rule(_STRING_OPS, "string"),
        "user_id": _Rule(_STRING_OPS, "string"),
        "artifact_uri": _Rule(_STRING_OPS, "string"),
        "start_time": _Rule(_NUMERIC_OPS, "number"),
        "end_time": _Rule(_NUMERIC_OPS, "number"),
    },
    kind_rules={
        "metric": _Rule(_NUMERIC_OPS, "number"),
        "param": _Rule(_STRING_OPS + _NULL_OPS, "string"),
        "tag": _Rule(_STRING_OPS + _NULL_OPS, "string"),
        "dataset": _Rule(_STRING_OPS + _LIST_OPS, "string"),
    },
    dataset_keys=("name", "digest", "context"),
    orderable_kinds=("metric", "param", "tag", "attribute"),
    orderable_attributes=(
        "run_id",
        "run_name",
        "status",
        "user_id",
        "artifact_uri",
        "start_time",
        "end_time",
    ),
)

_EXPERIMENT_GRAMMAR = _Grammar(
    subject="experiment",
    entities={
        "attribute": "attribute",
        "attributes": "attribute",
        "attr": "attribute",
        "tag": "tag",
        "tags": "tag",
    },
    attributes={
        "name": "name",
        "experiment_id": "experiment_id",
        "creation_time": "creation_time",
        "last_update_time": "last_update_time",
    },
    attribute_rules={
        "name": _Rule(_STRING_OPS, "string"),
        "experiment_id": _Rule(("=", "!=") + _LIST_OPS, "id"),
        "creation_time": _Rule(_NUMERIC_OPS, "number"),
        "last_update_time": _Rule(_NUMERIC_OPS, "number"),
    },
    kind_rules={"tag": _Rule(_STRING_OPS + _NULL_OPS, "string")},
    dataset_keys=(),
    orderable_kinds=("attribute",),
    orderable_attributes=("name", "experiment_id", "creation_time", "last_update_time"),
)


def _shown(text: str) -> str:
    """``text`` in double quotes, cut short if long, for an error message."""
    if len(text) > _SHOWN_TEXT_LENGTH:
        text = text[:_SHOWN_TEXT_LENGTH] + "..."
    return f'"{text}"'


class _ClauseError(Exception):
    """Raised inside a clause's parser; the caller adds the clause to the message."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# ------------------------------------------------------------------------------ tokens


def _read_quoted(text: str, start: int) -> tuple[str, int] | None:
    """The content of the quoted text opening at ``start`` and the index after it.

    A quote inside is written doubled (``'it''s'``) or after a backslash (``'it\\'s'``);
    ``\\\\`` is one backslash; any other backslash is kept as it is. None if unterminated.
    """
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
            parts.append(text[i + 1])
            i += 2
        elif char == quote:
            if i + 1 < n and text[i + 1] == quote:
                parts.append(quote)
                i += 2
            else:
                return "".join(parts), i + 1
        else:
            parts.append(char)
            i += 1
    return None


def _tokenize(text: str, where: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in _QUOTES:
            read = _read_quoted(text, i)
            if read is None:
                raise InvalidArgument(
                    f"Invalid {where} {_shown(text)}: unterminated quoted text starting at "
                    f"{_shown(text[i:])}; expected a closing {char}"
                )
            value, end = read
            tokens.append(_Token("quoted", value, i, end, char))
            i = end
        elif char == "(":
            tokens.append(_Token("lparen", char, i, i + 1))
            i += 1
        elif char == ")":
            tokens.append(_Token("rparen", char, i, i + 1))
            i += 1
        elif char == ",":
            tokens.append(_Token("comma", char, i, i + 1))
            i += 1
        elif char in _OP_CHARS:
            j = i
            while j < n and text[j] in _OP_CHARS:
                j += 1
            tokens.append(_Token("op", text[i:j], i, j))
            i = j
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _WORD_STOPS:
                j += 1
            tokens.append(_Token("word", text[i:j], i, j))
            i = j
    return tokens


def _is_word(token: _Token, *words: str) -> bool:
    return token.type == "word" and token.value.upper() in words


def _describe(token: _Token) -> str:
    if token.type == "quoted":
        return f"quoted text {token.quote}{token.value}{token.quote}"
    return f"'{token.value}'"


# -------------------------------------------------------------------------- identifiers


def _parse_identifier(tokens: list[_Token], grammar: _Grammar) -> tuple[Kind, str, int]:
    """The (kind, canonical key) the clause's tokens start with, and the index after it."""
    first = tokens[0]
    entity: str | None
    if first.type == "word":
        dot = first.value.find(".")
        if dot < 0:
            entity, key, used = None, first.value, 1
        else:
            entity, key, used = first.value[:dot], first.value[dot + 1 :], 1
            if not key:
                following = tokens[1] if len(tokens) > 1 else None
                if following is None or following.type != "quoted" or following.quote == "'":
                    raise _ClauseError(
                        f"expected a key after '{first.value}' "
                        "(quote a key holding spaces with backticks or double quotes)"
                    )
                key, used = following.value, 2
    elif first.type == "quoted" and first.quote != "'":
        entity, key, used = None, first.value, 1
    elif first.type == "lparen":
        raise _ClauseError(
            "parentheses for grouping are not supported (they may only hold the list of IN / "
            "NOT IN); join clauses with AND"
        )
    else:
        raise _ClauseError(
            f"expected an identifier such as metrics.<key>, params.<key>, tags.<key> or an "
            f"attribute, found {_describe(first)}"
        )

    if entity is None:
        kind: Kind = "attribute"
    else:
        found = grammar.entities.get(entity.lower())
        if found is None:
            raise _ClauseError(
                f"unknown entity '{entity}'; expected one of {grammar.entity_spellings()}"
            )
        kind = found

    if not key:
        raise _ClauseError("the key is empty")
    if kind == "attribute":
        canonical = grammar.attributes.get(key)
        if canonical is None:
            raise _ClauseError(
                f"unknown {grammar.subject} attribute '{key}'; expected one of "
                f"{grammar.attribute_names()}"
            )
        key = canonical
    elif kind == "dataset" and key not in grammar.dataset_keys:
        raise _ClauseError(
            f"unknown dataset key '{key}'; expected one of {', '.join(grammar.dataset_keys)}"
        )
    return kind, key, used


# ------------------------------------------------------------------------------ filters


def _parse_comparator(tokens: list[_Token], i: int) -> tuple[Op, int]:
    expected = f"expected a comparator ({_COMPARATORS_TEXT})"
    if i >= len(tokens):
        raise _ClauseError(expected)
    token = tokens[i]
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if token.type == "op":
        op = _SYMBOL_OPS.get(token.value)
        if op is not None:
            return op, i + 1
    elif _is_word(token, "LIKE"):
        return "LIKE", i + 1
    elif _is_word(token, "ILIKE"):
        return "ILIKE", i + 1
    elif _is_word(token, "IN"):
        return "IN", i + 1
    elif _is_word(token, "NOT"):
        if after is not None and _is_word(after, "IN"):
            return "NOT IN", i + 2
    elif _is_word(token, "IS"):
        if after is not None and _is_word(after, "NULL"):
            return "IS NULL", i + 2
        last = tokens[i + 2] if i + 2 < len(tokens) else None
        if after is not None and _is_word(after, "NOT") and last is not None:
            if _is_word(last, "NULL"):
                return "IS NOT NULL", i + 3
    raise _ClauseError(expected)


def _subject(kind: Kind, key: str) -> str:
    return f"{kind} '{key}'"


def _number(token: _Token, kind: Kind, key: str) -> float:
    if token.type == "quoted":
        raise _ClauseError(
            f"Expected numeric value type for {_subject(kind, key)}, found {_describe(token)} "
            "(write numbers without quotes)"
        )
    if token.type != "word" or _NUMBER_RE.fullmatch(token.value) is None:
        raise _ClauseError(
            f"Expected numeric value type for {_subject(kind, key)}, found {_describe(token)}"
        )
    value = float(token.value)
    if math.isinf(value):
        raise _ClauseError(f"the number {token.value} for {_subject(kind, key)} is out of range")
    return value


def _string(token: _Token, rule: _Rule, kind: Kind, key: str) -> str:
    if token.type == "quoted" and token.quote != "`":
        return token.value
    if rule.value == "id" and token.type == "word" and _INTEGER_RE.fullmatch(token.value):
        return token.value
    raise _ClauseError(
        f"expected a quoted string value for {_subject(kind, key)} (in single or double quotes), "
        f"found {_describe(token)}"
    )


def _parse_list(
    tokens: list[_Token], i: int, rule: _Rule, kind: Kind, key: str
) -> tuple[tuple[str, ...], int]:
    if i >= len(tokens) or tokens[i].type != "lparen":
        found = f", found {_describe(tokens[i])}" if i < len(tokens) else ""
        raise _ClauseError(
            f"expected a parenthesized list of quoted strings such as ('a', 'b'){found}"
        )
    items: list[str] = []
    i += 1
    while True:
        if i >= len(tokens):
            raise _ClauseError("the list is not closed; expected ')'")
        token = tokens[i]
        if token.type == "rparen" and not items:
            raise _ClauseError("the list is empty; expected at least one quoted string")
        items.append(_string(token, rule, kind, key))
        i += 1
        if i >= len(tokens):
            raise _ClauseError("the list is not closed; expected ')'")
        if tokens[i].type == "rparen":
            return tuple(items), i + 1
        if tokens[i].type != "comma":
            raise _ClauseError(
                f"expected ',' or ')' in the list, found {_describe(tokens[i])}"
            )
        i += 1


def _rule(grammar: _Grammar, kind: Kind, key: str) -> _Rule:
    if kind == "attribute":
        return grammar.attribute_rules[key]
    return grammar.kind_rules[kind]


def _parse_clause(tokens: list[_Token], grammar: _Grammar) -> Comparison:
    kind, key, i = _parse_identifier(tokens, grammar)
    op, i = _parse_comparator(tokens, i)
    rule = _rule(grammar, kind, key)
    if op not in rule.ops:
        raise _ClauseError(
            f"comparator {op} is not supported for {_subject(kind, key)}; expected one of "
            f"{', '.join(rule.ops)}"
        )

    value: float | str | tuple[str, ...] | None
    if op in _NULL_OPS:
        value = None
    elif op in _LIST_OPS:
        value, i = _parse_list(tokens, i, rule, kind, key)
    else:
        if i >= len(tokens):
            raise _ClauseError(f"expected a value after {op}")
        token = tokens[i]
        if token.type == "lparen":
            raise _ClauseError(
                "parentheses are only supported around the list of IN / NOT IN; grouping "
                "clauses is not supported"
            )
        if rule.value == "number":
            value = _number(token, kind, key)
        else:
            value = _string(token, rule, kind, key)
        i += 1
    if i < len(tokens):
        raise _ClauseError(
            f"unexpected {_describe(tokens[i])} after the value; join clauses with AND"
        )
    return Comparison(kind, key, op, value)


def _split_clauses(text: str, tokens: list[_Token]) -> list[list[_Token]]:
    for token in tokens:
        if _is_word(token, "OR"):
            raise InvalidArgument(
                f"Invalid filter {_shown(text)}: OR is not supported; join clauses with AND"
            )
    clauses: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.type == "lparen":
            depth += 1
        elif token.type == "rparen":
            depth = max(depth - 1, 0)
        if depth == 0 and _is_word(token, "AND"):
            clauses.append([])
        else:
            clauses[-1].append(token)
    for index, clause in enumerate(clauses):
        if not clause:
            if index == 0:
                where = "before the first AND"
            elif index == len(clauses) - 1:
                where = "after the last AND"
            else:
                where = "between two ANDs"
            raise InvalidArgument(
                f"Invalid filter {_shown(text)}: empty clause {where}; expected "
                "<identifier> <comparator> <value> on each side of AND"
            )
    return clauses


def _parse_filter(text: str | None, grammar: _Grammar) -> tuple[Comparison, ...]:
    if text is None:
        return ()
    if not isinstance(text, str):
        raise InvalidArgument(f"Invalid filter {text!r}: expected a string")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidArgument(
            f"Invalid filter: it is {len(text)} characters long, over the limit of "
            f"{MAX_FILTER_LENGTH} characters"
        )
    if not text.strip():
        return ()
    tokens = _tokenize(text, "filter")
    comparisons: list[Comparison] = []
    for clause in _split_clauses(text, tokens):
        try:
            comparisons.append(_parse_clause(clause, grammar))
        except _ClauseError as error:
            shown = _shown(text[clause[0].start : clause[-1].end])
            raise InvalidArgument(f"Invalid clause {shown} in filter: {error.detail}") from None
    return tuple(comparisons)


def parse_run_filter(text: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_runs`` filter string; empty, None or blank gives ``()``."""
    return _parse_filter(text, _RUN_GRAMMAR)


def parse_experiment_filter(text: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_experiments`` filter string; empty, None or blank gives ``()``."""
    return _parse_filter(text, _EXPERIMENT_GRAMMAR)


# ----------------------------------------------------------------------------- order_by


def _order_by_expected(grammar: _Grammar) -> str:
    kinds = [kind for kind in grammar.orderable_kinds if kind != "attribute"]
    prefixes = {"metric": "metrics.<key>", "param": "params.<key>", "tag": "tags.<key>"}
    identifiers = [prefixes[kind] for kind in kinds if kind in prefixes]
    attributes = f"an attribute ({', '.join(grammar.orderable_attributes)})"
    valid = ", ".join(identifiers) + (" or " if identifiers else "") + attributes
    return f"an order_by clause is '<identifier> [ASC|DESC]' where the identifier is {valid}"


def _parse_order_by_clause(clause: str, grammar: _Grammar) -> OrderBy:
    tokens = _tokenize(clause, "order_by clause")
    if not tokens:
        raise _ClauseError("the clause is empty")
    kind, key, i = _parse_identifier(tokens, grammar)
    if kind not in grammar.orderable_kinds:
        raise _ClauseError(f"{grammar.subject}s cannot be ordered by {kind} keys")
    if kind == "attribute" and key not in grammar.orderable_attributes:
        raise _ClauseError(f"{grammar.subject}s cannot be ordered by attribute '{key}'")
    ascending = True
    if i < len(tokens):
        token = tokens[i]
        if not _is_word(token, "ASC", "DESC"):
            raise _ClauseError(
                f"expected ASC or DESC after the identifier, found {_describe(token)}"
            )
        ascending = token.value.upper() == "ASC"
        i += 1
    if i < len(tokens):
        raise _ClauseError(f"unexpected {_describe(tokens[i])} after ASC/DESC")
    return OrderBy(kind, key, ascending)


def _parse_order_by(clauses: Sequence[str] | None, grammar: _Grammar) -> tuple[OrderBy, ...]:
    if clauses is None:
        return ()
    if isinstance(clauses, str):
        clauses = [clauses]
    parsed: list[OrderBy] = []
    for clause in clauses:
        if not isinstance(clause, str):
            raise InvalidArgument(
                f"Invalid order_by clause {clause!r}: expected a string; "
                f"{_order_by_expected(grammar)}"
            )
        if len(clause) > MAX_FILTER_LENGTH:
            raise InvalidArgument(
                f"Invalid order_by clause: it is {len(clause)} characters long, over the limit of "
                f"{MAX_FILTER_LENGTH} characters"
            )
        try:
            parsed.append(_parse_order_by_clause(clause, grammar))
        except _ClauseError as error:
            raise InvalidArgument(
                f"Invalid order_by clause {_shown(clause)}: {error.detail}; "
                f"{_order_by_expected(grammar)}"
            ) from None
    return tuple(parsed)


def parse_run_order_by(clauses: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """``search_runs`` order_by clauses, each ``<identifier> [ASC|DESC]``.

    None or ``[]`` gives ``()``; a lone string is taken as one clause.
    """
    return _parse_order_by(clauses, _RUN_GRAMMAR)


def parse_experiment_order_by(clauses: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """``search_experiments`` order_by clauses on name, experiment_id, creation_time or
    last_update_time; None or ``[]`` gives ``()``."""
    return _parse_order_by(clauses, _EXPERIMENT_GRAMMAR)


# --------------------------------------------------------------------------- page tokens


def encode_page_token(offset: int) -> str:
    """The page token for ``offset``: base64 of the JSON ``{"offset": N}``, as MLflow writes it."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise InvalidArgument(f"Invalid page offset {offset!r}: expected an integer")
    if not 0 <= offset <= MAX_PAGE_TOKEN_OFFSET:
        raise InvalidArgument(
            f"Invalid page offset {offset}: expected 0 to {MAX_PAGE_TOKEN_OFFSET}"
        )
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode("ascii")).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """The offset a page token holds; None or ``""`` is 0. Takes standard or urlsafe base64."""
    if token is None or token == "":
        return 0

    def invalid(why: str) -> InvalidArgument:
        return InvalidArgument(f"Invalid page token {_shown(str(token))}: {why}")

    if not isinstance(token, str):
        raise invalid("expected a string")
    if len(token) > _MAX_PAGE_TOKEN_LENGTH:
        raise invalid(f"it is longer than {_MAX_PAGE_TOKEN_LENGTH} characters")
    text = token.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("it is not base64") from None
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid("it does not hold JSON") from None
    if not isinstance(payload, dict):
        raise invalid('expected a JSON object like {"offset": 0}')
    offset = payload.get("offset")
    if isinstance(offset, bool):
        raise invalid("the offset is a boolean, expected an integer")
    if not isinstance(offset, int):
        raise invalid('expected an integer "offset" in the JSON object')
    if offset < 0:
        raise invalid(f"the offset {offset} is negative")
    if offset > MAX_PAGE_TOKEN_OFFSET:
        raise invalid(f"the offset is larger than 2**31 ({MAX_PAGE_TOKEN_OFFSET})")
    return offset
