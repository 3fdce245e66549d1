"""QBO's query language: parse `SELECT ... FROM ...` and evaluate it over stored records.

The grammar is QBO's, not SQL's: one entity, conditions joined only by AND, operators = < > <= >= IN
LIKE ('%' only), ORDERBY, STARTPOSITION from 1, MAXRESULTS at most 1000. Anything else is refused
the way QBO refuses it, with code 4000 and a QueryParserError / QueryValidationError detail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from local.qbo_sandbox.faultbody import COMPANY_TIMEZONE, QboFaultError

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000
COMPARISONS = ("=", "<", ">", "<=", ">=")
Literal = str | Decimal | bool


@dataclass(frozen=True)
class Condition:
    """`field operator value`; `values` holds the IN list."""

    field: str
    operator: str
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class OrderBy:
    field: str
    descending: bool


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool
    conditions: tuple[Condition, ...]
    order_by: tuple[OrderBy, ...]
    start_position: int
    max_results: int

    def mentions(self, field: str) -> bool:
        return any(condition.field.lower() == field.lower() for condition in self.conditions)


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "string" | "number" | "symbol" | "end"
    text: str
    column: int

    @property
    def keyword(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def parse_error(detail: str) -> QboFaultError:
    return QboFaultError(400, "4000", "Error parsing query", f"QueryParserError: {detail}")


def invalid_query(detail: str) -> QboFaultError:
    """A query that parses but names what does not exist: an entity, a property (code 4001)."""
    return QboFaultError(400, "4001", "Invalid query", f"QueryValidationError: {detail}")


def validation_error(detail: str) -> QboFaultError:
    return QboFaultError(400, "4000", "Error parsing query", f"QueryValidationError: {detail}")


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        char = text[position]
        column = position + 1
        if char.isspace():
            position += 1
        elif char == "'":
            value, position = _read_string(text, position)
            tokens.append(Token("string", value, column))
        elif word := _WORD.match(text, position):
            tokens.append(Token("word", word.group(), column))
            position = word.end()
        elif number := _NUMBER.match(text, position):
            tokens.append(Token("number", number.group(), column))
            position = number.end()
        elif text.startswith(("<=", ">="), position):
            tokens.append(Token("symbol", text[position : position + 2], column))
            position += 2
        elif char in "=<>(),*":
            tokens.append(Token("symbol", char, column))
            position += 1
        else:
            raise parse_error(f'Lexical error at line 1, column {column}.  Encountered: "{char}"')
    tokens.append(Token("end", "<EOF>", len(text) + 1))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    """A single-quoted literal; a backslash escapes the next character."""
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            chars.append(text[position + 1])
            position += 2
        elif char == "'":
            return "".join(chars), position + 1
        else:
            chars.append(char)
            position += 1
    raise parse_error(f"Lexical error at line 1, column {start + 1}.  Encountered: <EOF> in a string literal")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def unexpected(self, expecting: str) -> QboFaultError:
        token = self.current
        return parse_error(
            f'Encountered " {token.text} "{token.text} "" at line 1, column {token.column}.\n'
            f"Was expecting one of:\n    {expecting}"
        )

    def expect_keyword(self, keyword: str) -> None:
        if self.current.keyword != keyword:
            raise self.unexpected(f'"{keyword.lower()}" ...')
        self.advance()

    def expect_symbol(self, symbol: str) -> None:
        if self.current.kind != "symbol" or self.current.text != symbol:
            raise self.unexpected(f'"{symbol}" ...')
        self.advance()

    def identifier(self) -> str:
        token = self.current
        if token.kind != "word" or token.keyword in _RESERVED:
            raise self.unexpected("<IDENTIFIER> ...")
        self.advance()
        return token.text

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        count = self.selection()
        self.expect_keyword("FROM")
        entity = self.identifier()
        conditions: list[Condition] = []
        if self.current.keyword == "WHERE":
            self.advance()
            conditions.append(self.condition())
            while self.current.keyword == "AND":
                self.advance()
                conditions.append(self.condition())
        order_by = self.order_by()
        start_position, max_results = self.paging()
        if self.current.kind != "end":
            raise self.unexpected('<EOF> "and" "orderby" "startposition" "maxresults"')
        return Query(entity, count, tuple(conditions), order_by, start_position, max_results)

    def selection(self) -> bool:
        """`*` (optionally followed by extra fields, as python-quickbooks sends for Item) or COUNT(*)."""
        if self.current.keyword == "COUNT":
            self.advance()
            self.expect_symbol("(")
            self.expect_symbol("*")
            self.expect_symbol(")")
            return True
        if self.current.kind == "symbol" and self.current.text == "*":
            self.advance()
            while self.current.kind == "symbol" and self.current.text == ",":
                self.advance()
                self.identifier()
            return False
        raise self.unexpected('"*" "count" (projections are not supported)')

    def condition(self) -> Condition:
        field = self.identifier()
        token = self.current
        if token.keyword == "IN":
            self.advance()
            self.expect_symbol("(")
            values = [self.literal()]
            while self.current.kind == "symbol" and self.current.text == ",":
                self.advance()
                values.append(self.literal())
            self.expect_symbol(")")
            return Condition(field, "IN", tuple(values))
        if token.keyword == "LIKE":
            self.advance()
            if self.current.kind != "string":
                raise self.unexpected("<STRING_LITERAL>")
            return Condition(field, "LIKE", (self.advance().text,))
        if token.kind == "symbol" and token.text in COMPARISONS:
            self.advance()
            return Condition(field, token.text, (self.literal(),))
        raise self.unexpected('"=" "<" ">" "<=" ">=" "in" "like"')

    def literal(self) -> Literal:
        token = self.current
        if token.kind == "string":
            self.advance()
            return token.text
        if token.kind == "number":
            self.advance()
            return Decimal(token.text)
        if token.keyword in ("TRUE", "FALSE"):
            self.advance()
            return token.keyword == "TRUE"
        raise self.unexpected("<STRING_LITERAL> <NUMBER> true false")

    def order_by(self) -> tuple[OrderBy, ...]:
        if self.current.keyword == "ORDER":
            self.advance()
            self.expect_keyword("BY")
        elif self.current.keyword == "ORDERBY":
            self.advance()
        else:
            return ()
        orders = [self.order_term()]
        while self.current.kind == "symbol" and self.current.text == ",":
            self.advance()
            orders.append(self.order_term())
        return tuple(orders)

    def order_term(self) -> OrderBy:
        field = self.identifier()
        if self.current.keyword in ("ASC", "DESC"):
            return OrderBy(field, self.advance().keyword == "DESC")
        return OrderBy(field, descending=False)

    def paging(self) -> tuple[int, int]:
        start_position, max_results = 1, DEFAULT_MAX_RESULTS
        seen: set[str] = set()
        while self.current.keyword in ("STARTPOSITION", "MAXRESULTS") and self.current.keyword not in seen:
            keyword = self.advance().keyword
            seen.add(keyword)
            if self.current.kind != "number" or not self.current.text.isdigit():
                raise self.unexpected("<INTEGER>")
            value = int(self.advance().text)
            if keyword == "STARTPOSITION":
                if value < 1:
                    raise validation_error(f"STARTPOSITION must be 1 or more, supplied {value}.")
                start_position = value
            else:
                if value < 1:
                    raise validation_error(f"MAXRESULTS must be 1 or more, supplied {value}.")
                if value > MAX_RESULTS_LIMIT:
                    raise validation_error(
                        f"value {value} is too large. Max allowed value is {MAX_RESULTS_LIMIT}."
                    )
                max_results = value
        return start_position, max_results


_RESERVED = frozenset(
    {"SELECT", "FROM", "WHERE", "AND", "OR", "IN", "LIKE", "ORDERBY", "STARTPOSITION", "MAXRESULTS", "COUNT"}
)


def parse_query(text: str) -> Query:
    """The parsed query, or a 4000 fault naming what QBO's parser would have choked on."""
    if not text or not text.strip():
        raise parse_error('Encountered <EOF> at line 1, column 1. Was expecting: "select"')
    return _Parser(text).parse()


def member(record: dict[str, Any], path: str) -> Any:
    """A (dotted, case-insensitive) member of a record; references compare on their `value`."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        lowered = part.lower()
        current = next((v for k, v in current.items() if k.lower() == lowered), None)
    if isinstance(current, dict) and "value" in current:
        return current["value"]
    if isinstance(current, dict) and "Address" in current:
        return current["Address"]  # QBO filters PrimaryEmailAddr by its address
    return current


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T.*)?$")


def _as_moment(text: str) -> datetime | None:
    if not _TIMESTAMP.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=COMPANY_TIMEZONE)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Orders numbers numerically, timestamps in time, strings without case; missing first."""
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (2, Decimal(str(value)))
    text = str(value)
    if (moment := _as_moment(text)) is not None:
        return (3, moment.timestamp())
    if _NUMBER.fullmatch(text):
        return (2, Decimal(text))
    return (4, text.lower())


def _compare(value: Any, literal: Literal) -> int | None:  # noqa: PLR0911
    """-1, 0 or 1 comparing a stored value with a literal, or None when they cannot be compared."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(literal, bool):
        as_bool = literal if isinstance(literal, bool) else str(literal).lower() == "true"
        if not isinstance(value, bool):
            return None
        return (value > as_bool) - (value < as_bool)
    if isinstance(value, int | float) or (isinstance(literal, Decimal) and _NUMBER.fullmatch(str(value))):
        try:
            left, right = Decimal(str(value)), Decimal(str(literal).strip())
        except InvalidOperation:
            raise validation_error(f"value '{literal}' is not a number.") from None
        return (left > right) - (left < right)
    text, wanted = str(value), str(literal)
    left_moment, right_moment = _as_moment(text), _as_moment(wanted)
    if left_moment is not None and right_moment is not None:
        if len(text) == 10:  # a stored date compares with the literal's calendar day
            left_day, right_day = left_moment.date(), right_moment.astimezone(COMPANY_TIMEZONE).date()
            return (left_day > right_day) - (left_day < right_day)
        return (left_moment > right_moment) - (left_moment < right_moment)
    if _NUMBER.fullmatch(text) and _NUMBER.fullmatch(wanted):
        left_number, right_number = Decimal(text), Decimal(wanted)
        return (left_number > right_number) - (left_number < right_number)
    left_text, right_text = text.lower(), wanted.lower()
    return (left_text > right_text) - (left_text < right_text)


def _like(value: Any, pattern: str) -> bool:
    if value is None or isinstance(value, dict | list):
        return False
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    return re.fullmatch(regex, str(value), flags=re.IGNORECASE | re.DOTALL) is not None


def matches(record: dict[str, Any], condition: Condition) -> bool:
    value = member(record, condition.field)
    if condition.operator == "LIKE":
        return _like(value, str(condition.values[0]))
    if condition.operator == "IN":
        return any(_compare(value, literal) == 0 for literal in condition.values)
    outcome = _compare(value, condition.values[0])
    if outcome is None:
        return False
    return {
        "=": outcome == 0,
        "<": outcome < 0,
        ">": outcome > 0,
        "<=": outcome <= 0,
        ">=": outcome >= 0,
    }[condition.operator]


def _key_for(field: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda record: _sort_key(member(record, field))


def evaluate_query(query: Query, records: Iterable[dict[str, Any]], response_name: str) -> dict[str, Any]:
    """The members of `QueryResponse` for this query over these records."""
    selected = [record for record in records if all(matches(record, c) for c in query.conditions)]
    if query.count:
        return {"totalCount": len(selected)}
    selected.sort(key=lambda record: _sort_key(member(record, "Id")))
    for order in reversed(query.order_by):
        selected.sort(key=_key_for(order.field), reverse=order.descending)
    page = selected[query.start_position - 1 : query.start_position - 1 + query.max_results]
    if not page:
        return {}
    return {response_name: page, "startPosition": query.start_position, "maxResults": len(page)}
