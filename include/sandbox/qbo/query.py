"""The QuickBooks query language: parse, validate, and run it over a realm's records.

Grammar (Intuit "data queries" page)::

    SELECT * | COUNT(*) FROM <Entity>
      [WHERE <field> <op> <value> [AND <field> <op> <value> ...]]
      [ORDERBY | ORDER BY <field> [ASC|DESC] [, ...]]
      [STARTPOSITION <n>] [MAXRESULTS <n>]

``op`` is one of ``= < > <= >= IN LIKE`` (``%`` is LIKE's only wildcard); strings are single-quoted
with ``\\'`` for an apostrophe; fields may be nested (``MetaData.LastUpdatedTime``) and a reference
field (``CustomerRef``) compares on its ``value``. There is no OR, no GROUP BY and no JOIN: any of
them is a parse error, which the API answers with a Fault (code 4000), never a 500.

Only properties the entity documents as filterable may appear in WHERE, and sortable ones in
ORDERBY (``fields.py``); any other, or a misspelt one, is code 4001 ``QueryValidationError:
property 'X' is not queryable`` as Intuit answers. ``SELECT *, Sku FROM Item`` (what
python-quickbooks' ``Item.all()`` sends) is accepted.

Sandbox choices (the docs are silent): string comparisons ignore case (as SQL Server collations
do); a field list instead of ``*`` is accepted and all properties are returned; MAXRESULTS above
1000 is capped at 1000; entity names match case-insensitively.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from include.sandbox.qbo import fields
from include.sandbox.qbo.state import COMPANY_TZ, ENTITY_BY_LOWER, NAME_LISTS, QboFault, Realm

MAX_RESULTS = 1000
DEFAULT_MAX_RESULTS = 100

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>'(?:\\.|[^'\\])*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_UNESCAPE_RE = re.compile(r"\\(.)")


def parse_error(detail: str) -> QboFault:
    return QboFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def validation_error(detail: str) -> QboFault:
    return QboFault("4001", "Invalid query", f"QueryValidationError: {detail}")


@dataclass
class Token:
    kind: str
    text: str
    value: Any


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip().rstrip(";")
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            raise parse_error(f'Encountered "{text[pos : pos + 10].strip()}" at column {pos + 1}.')
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind == "string":
            value: Any = _UNESCAPE_RE.sub(r"\1", raw[1:-1])
        elif kind == "number":
            value = Decimal(raw)
        else:
            value = raw
        tokens.append(Token(kind, raw, value))
        pos = match.end()
    return tokens


@dataclass
class Condition:
    path: list[str]
    op: str
    values: list[Any]


@dataclass
class Query:
    entity: str
    count: bool
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[list[str], bool]] = field(default_factory=list)  # (path, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS

    def cache_key(self) -> tuple[Any, ...]:
        return (
            self.entity,
            tuple((tuple(c.path), c.op, tuple(str(v) for v in c.values)) for c in self.conditions),
            tuple((tuple(p), d) for p, d in self.order),
        )


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "ident" and token.text.upper() in words:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise parse_error(f'Encountered "{self._here()}". Was expecting "{word}".')

    def expect_punct(self, char: str) -> None:
        token = self.peek()
        if token is None or token.kind != "punct" or token.text != char:
            raise parse_error(f'Encountered "{self._here()}". Was expecting "{char}".')
        self.pos += 1

    def _here(self) -> str:
        token = self.peek()
        return token.text if token is not None else "<EOF>"

    def ident(self) -> str:
        token = self.peek()
        if token is None or token.kind != "ident":
            raise parse_error(f'Encountered "{self._here()}". Was expecting an identifier.')
        self.pos += 1
        return token.text

    def integer(self) -> int:
        token = self.peek()
        if token is None or token.kind != "number" or "." in token.text or token.text.startswith("-"):
            raise parse_error(f'Encountered "{self._here()}". Was expecting <INTEGER>.')
        self.pos += 1
        return int(token.text)

    def literal(self) -> Any:
        token = self.peek()
        if token is None:
            raise parse_error("Encountered <EOF>. Was expecting a value.")
        if token.kind in ("string", "number"):
            self.pos += 1
            return token.value
        if token.kind == "ident" and token.text.lower() in ("true", "false"):
            self.pos += 1
            return token.text.lower() == "true"
        raise parse_error(f'Encountered "{token.text}". Was expecting a value.')

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        count = False
        if self.keyword("COUNT"):
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            # "*", a property list, or "*, Sku" (python-quickbooks' Item.all(), which Intuit accepts)
            if (token := self.peek()) is not None and token.kind == "punct" and token.text == "*":
                self.pos += 1
            else:
                self.ident()
            while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
                self.pos += 1
                self.ident()
        self.expect_keyword("FROM")
        entity_text = self.ident()
        entity = ENTITY_BY_LOWER.get(entity_text.lower())
        if entity is None:
            raise validation_error(f"Entity '{entity_text}' is not a queryable entity")
        query = Query(entity=entity, count=count)
        if self.keyword("WHERE"):
            query.conditions.append(self.condition())
            while self.keyword("AND"):
                query.conditions.append(self.condition())
            if (token := self.peek()) is not None and token.kind == "ident" and token.text.upper() == "OR":
                raise parse_error('Encountered "OR". OR is not supported.')
        if self.keyword("ORDERBY") or (self.keyword("ORDER") and (self.expect_keyword("BY") or True)):
            query.order.append(self.order_item())
            while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
                self.pos += 1
                query.order.append(self.order_item())
        _check_properties(query)
        seen: set[str] = set()
        while self.peek() is not None:
            if self.keyword("STARTPOSITION") and "start" not in seen:
                seen.add("start")
                query.start_position = max(1, self.integer())
            elif self.keyword("MAXRESULTS") and "max" not in seen:
                seen.add("max")
                query.max_results = min(MAX_RESULTS, max(0, self.integer()))
            else:
                raise parse_error(f'Encountered "{self._here()}" after the end of the query.')
        return query

    def order_item(self) -> tuple[list[str], bool]:
        path = self.ident().split(".")
        descending = False
        if self.keyword("DESC"):
            descending = True
        else:
            self.keyword("ASC")
        return path, descending

    def condition(self) -> Condition:
        path = self.ident().split(".")
        token = self.peek()
        if token is None:
            raise parse_error("Encountered <EOF>. Was expecting an operator.")
        if token.kind == "op":
            if token.text in ("!=", "<>"):
                raise parse_error(f'Encountered "{token.text}". Operator not supported.')
            self.pos += 1
            return Condition(path, token.text, [self.literal()])
        if self.keyword("IN"):
            self.expect_punct("(")
            values = [self.literal()]
            while (nxt := self.peek()) is not None and nxt.kind == "punct" and nxt.text == ",":
                self.pos += 1
                values.append(self.literal())
            self.expect_punct(")")
            return Condition(path, "IN", values)
        if self.keyword("LIKE"):
            value = self.literal()
            if not isinstance(value, str):
                raise parse_error("LIKE needs a quoted string")
            return Condition(path, "LIKE", [value])
        raise parse_error(f'Encountered "{token.text}". Was expecting one of "=", "<", ">", "IN", "LIKE".')


def _check_properties(query: Query) -> None:
    """Refuse a WHERE/ORDERBY property the entity does not document as filterable/sortable (4001)."""
    for condition in query.conditions:
        if not fields.filterable(query.entity, condition.path):
            raise validation_error(f"property '{'.'.join(condition.path)}' is not queryable")
    for path, _descending in query.order:
        if not fields.sortable(query.entity, path):
            raise validation_error(f"property '{'.'.join(path)}' is not sortable")


def parse_query(text: str) -> Query:
    if not text or not text.strip():
        raise parse_error("The query is empty.")
    return _Parser(tokenize(text)).parse()


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------

_MISSING = object()


def field_value(record: dict[str, Any], path: list[str]) -> Any:
    """Nested lookup, case-insensitive per key; a reference ``{"value":..}`` yields its value."""
    node: Any = record
    for part in path:
        if not isinstance(node, dict):
            return _MISSING
        if part in node:
            node = node[part]
            continue
        lowered = part.lower()
        for key, value in node.items():
            if key.lower() == lowered:
                node = value
                break
        else:
            return _MISSING
    if isinstance(node, dict) and "value" in node:
        return node["value"]
    return node


def _as_datetime(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=COMPANY_TZ)


def _is_time_path(path: list[str]) -> bool:
    return path[-1].lower().endswith("time")


def _comparable(value: Any, literal: Any, time_field: bool) -> tuple[Any, Any] | None:
    """Bring a stored value and a query literal to one comparable type, or None if they never match."""
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool):
        if isinstance(literal, bool):
            return value, literal
        if isinstance(literal, str) and literal.lower() in ("true", "false"):
            return value, literal.lower() == "true"
        return None
    if isinstance(value, int | Decimal):
        try:
            return Decimal(value), Decimal(str(literal))
        except InvalidOperation:
            return None
    if isinstance(value, str):
        literal_text = str(literal)
        if time_field:
            left, right = _as_datetime(value), _as_datetime(literal_text)
            if left is not None and right is not None:
                return left, right
        if value.isdigit() and literal_text.isdigit():
            return int(value), int(literal_text)
        return value.casefold(), literal_text.casefold()
    return None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def compile_condition(condition: Condition) -> Callable[[dict[str, Any]], bool]:
    path = condition.path
    time_field = _is_time_path(path)
    is_active = [p.lower() for p in path] == ["active"]
    if condition.op == "LIKE":
        pattern = "".join(".*" if ch == "%" else re.escape(ch) for ch in str(condition.values[0]))
        regex = re.compile(f"^{pattern}$", re.IGNORECASE | re.DOTALL)

        def like(record: dict[str, Any]) -> bool:
            value = field_value(record, path)
            return isinstance(value, str) and regex.match(value) is not None

        return like
    if condition.op == "IN":
        literals = condition.values

        def member(record: dict[str, Any]) -> bool:
            value = field_value(record, path)
            if value is _MISSING and is_active:
                value = True
            for literal in literals:
                pair = _comparable(value, literal, time_field)
                if pair is not None and pair[0] == pair[1]:
                    return True
            return False

        return member
    compare = _COMPARE[condition.op]
    literal = condition.values[0]
    literal_time = _as_datetime(str(literal)) if time_field else None

    def test(record: dict[str, Any]) -> bool:
        value = field_value(record, path)
        if value is _MISSING and is_active:
            value = True
        if literal_time is not None and isinstance(value, str):
            parsed = _as_datetime(value)
            return parsed is not None and compare(parsed, literal_time)
        pair = _comparable(value, literal, time_field)
        if pair is None:
            return False
        try:
            return compare(pair[0], pair[1])
        except TypeError:
            return False

    return test


def _sort_key(path: list[str]) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    time_field = _is_time_path(path)

    def key(record: dict[str, Any]) -> tuple[int, Any]:
        value = field_value(record, path)
        if value is _MISSING or value is None:
            return (0, "")
        if isinstance(value, bool):
            return (1, int(value))
        if isinstance(value, int | Decimal):
            return (2, Decimal(value))
        if isinstance(value, str):
            if time_field and (parsed := _as_datetime(value)) is not None:
                return (3, parsed.timestamp())
            if value.isdigit():
                return (2, Decimal(value))
            return (4, value.casefold())
        return (5, str(value))

    return key


class QueryEngine:
    """Runs queries; remembers a few filtered+sorted results so paging a large set stays cheap.

    A cached result is keyed on the realm, the query without paging, and the entity's write
    counter, so any write to that entity makes the next page see fresh data.
    """

    def __init__(self, cache_size: int = 16) -> None:
        self._cache: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size

    def clear(self) -> None:
        self._cache.clear()

    def matching(self, realm: Realm, query: Query) -> list[dict[str, Any]]:
        key = (realm.realm_id, id(realm), realm.versions[query.entity], *query.cache_key())
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        conditions = list(query.conditions)
        if query.entity in NAME_LISTS and not any([p.lower() for p in c.path] == ["active"] for c in conditions):
            conditions.append(Condition(["Active"], "=", [True]))
        tests = [compile_condition(c) for c in conditions]
        id_equals = next((c for c in conditions if [p.lower() for p in c.path] == ["id"] and c.op in ("=", "IN")), None)
        if id_equals is not None:
            candidates = [
                record
                for value in id_equals.values
                if (record := realm.records[query.entity].get(str(value))) is not None
            ]
        else:
            candidates = list(realm.records[query.entity].values())
        rows = [record for record in candidates if all(test(record) for test in tests)]
        for path, descending in reversed(query.order):
            rows.sort(key=_sort_key(path), reverse=descending)
        self._cache[key] = rows
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rows

    def run(self, realm: Realm, text: str) -> dict[str, Any]:
        """The ``QueryResponse`` object for ``text`` (without the ``time`` envelope)."""
        query = parse_query(text)
        rows = self.matching(realm, query)
        if query.count:
            return {"totalCount": len(rows)}
        page = rows[query.start_position - 1 : query.start_position - 1 + query.max_results]
        if not page:
            return {}
        return {query.entity: page, "startPosition": query.start_position, "maxResults": len(page)}
