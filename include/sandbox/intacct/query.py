"""Filters for the two Intacct query dialects: readByQuery's SQL-like string and query's XML filter.

Both compile to a predicate over the internal record dicts. Comparisons are typed by field, as
the real service compares them: money and RECORDNO numerically, dates (``MM/DD/YYYY``) and
datetimes (``MM/DD/YYYY HH:MM:SS``, company local time) chronologically, everything else as text
(case-sensitive unless the query asks for ``caseinsensitive``). In readByQuery, ``STATUS = 'T'`` /
``'F'`` means active / inactive, as the Intacct examples write it.

Fields are checked against the object's documented query fields (``fields.py``): an unknown or
misspelt field in select, filter or order fails as Intacct fails it (XL03000006). A documented field
the sandbox does not hold reads as empty, so clients asking for the SDKs' long field lists work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from include.sandbox.intacct.state import MONEY_FIELDS, ObjectSpec, Record, parse_date

Predicate = Callable[[Record], bool]
NUMERIC_FIELDS = MONEY_FIELDS | {"RECORDNO", "TR_TYPE", "LINE_NO", "BATCHNO", "DUEDATE", "RECORDKEY"}


class QueryError(ValueError):
    """The query text or filter cannot be understood; becomes a failed function result."""

    errorno = "Query Failed"


class QueryFieldError(QueryError):
    """Fields the object cannot query: Intacct's own answer (XL03000006, see fields.py)."""

    errorno = "XL03000006"

    def __init__(self, object_name: str, names: list[str]) -> None:
        super().__init__(f"The following fields cannot be queried: [ {object_name.lower()}: [{', '.join(names)}] ]")


def check_fields(spec: ObjectSpec, names: list[str]) -> None:
    """Raise QueryFieldError unless every name is a documented query field of the object."""
    from include.sandbox.intacct.fields import not_queryable

    bad = not_queryable(spec.name, [n.upper() for n in names])
    if bad:
        raise QueryFieldError(spec.name, bad)


def field_value(rec: Record, name: str) -> Any:
    """A record field by name; ``A.B`` walks nested blocks (DISPLAYCONTACT.EMAIL1)."""
    if "." not in name:
        return rec.get(name)
    value: Any = rec
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _typed(spec: ObjectSpec, name: str, value: Any, *, literal: bool, fold: bool) -> Any:
    """A comparable value: Decimal for numbers, ISO text for dates, text otherwise."""
    if value is None:
        return None
    base = name.rsplit(".", 1)[-1]
    if base in NUMERIC_FIELDS:
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            if literal:
                raise QueryError(f"{value!r} is not a number for {name}") from None
            return None
    if literal and spec.is_datetime(base):
        text = str(value).strip()
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?", text)
        if m:
            mo, d, y, hh, mi, ss = (int(g or 0) for g in m.groups())
            try:
                return datetime(y, mo, d, hh, mi, ss).isoformat()  # noqa: DTZ001 - company local, naive on purpose
            except ValueError:
                raise QueryError(f"{value!r} is not a date and time for {name}") from None
        try:
            return parse_date(text) + "T00:00:00"
        except ValueError:
            raise QueryError(f"{value!r} is not a date and time for {name}") from None
    if literal and spec.is_date(base):
        try:
            return parse_date(str(value))
        except ValueError:
            raise QueryError(f"{value!r} is not a date for {name}") from None
    text = str(value)
    return text.lower() if fold else text


def _like(pattern: str, fold: bool) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if fold else 0))


def comparator(spec: ObjectSpec, name: str, op: str, values: list[Any], *, fold: bool = False) -> Predicate:
    """One operator (query's names) on one field, with the literals typed once, not per record."""
    if op in ("isnull", "isnotnull"):
        want_null = op == "isnull"
        return lambda rec: (field_value(rec, name) in (None, "")) == want_null
    if op in ("like", "notlike"):
        pattern = _like(str(values[0]), fold)
        positive = op == "like"

        def like(rec: Record) -> bool:
            raw = field_value(rec, name)
            return (raw is not None and bool(pattern.fullmatch(str(raw)))) == positive

        return like
    wanted = [_typed(spec, name, v, literal=True, fold=fold) for v in values]
    if op in ("in", "notin"):
        members = set(wanted)
        positive = op == "in"

        def member(rec: Record) -> bool:
            current = _typed(spec, name, field_value(rec, name), literal=False, fold=fold)
            return (current is not None and current in members) == positive

        return member
    if op not in _BINARY:
        raise QueryError(f"unknown operator {op}")
    test = _BINARY[op]
    first = wanted[0]

    def binary(rec: Record) -> bool:
        current = _typed(spec, name, field_value(rec, name), literal=False, fold=fold)
        if current is None or current == "":
            return op == "notequalto" and first not in (None, "")
        try:
            return test(current, wanted)
        except TypeError:
            return False

    return binary


_BINARY: dict[str, Callable[[Any, list[Any]], bool]] = {
    "equalto": lambda c, w: c == w[0],
    "notequalto": lambda c, w: c != w[0],
    "lessthan": lambda c, w: c < w[0],
    "lessthanorequalto": lambda c, w: c <= w[0],
    "greaterthan": lambda c, w: c > w[0],
    "greaterthanorequalto": lambda c, w: c >= w[0],
    "between": lambda c, w: w[0] <= c <= w[1],
}


# ------------------------------------------------------------------ query (XML filter)
QUERY_OPERATORS = frozenset(
    {
        "equalto",
        "notequalto",
        "lessthan",
        "lessthanorequalto",
        "greaterthan",
        "greaterthanorequalto",
        "isnull",
        "isnotnull",
        "between",
        "in",
        "notin",
        "like",
        "notlike",
    }
)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def compile_filter(spec: ObjectSpec, node: Any, *, fold: bool) -> Predicate:
    """``<filter>`` content (as parsed by xmltodict) -> predicate. Top-level siblings are ANDed."""
    if node is None:
        return lambda rec: True
    check_fields(spec, _filter_fields(node))
    if not isinstance(node, dict):
        raise QueryError("filter must contain operators")
    parts: list[Predicate] = []
    for key, value in node.items():
        for item in _as_list(value):
            parts.append(_compile_node(spec, key, item, fold=fold))
    return _all(parts)


def _filter_fields(node: Any) -> list[str]:
    """Every ``<field>`` named anywhere in a filter tree."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "field":
                found.extend(str(v).strip() for v in _as_list(value) if isinstance(v, str))
            else:
                for item in _as_list(value):
                    found.extend(_filter_fields(item))
    return found


def _all(parts: list[Predicate]) -> Predicate:
    return lambda rec: all(p(rec) for p in parts)


def _compile_node(spec: ObjectSpec, op: str, body: Any, *, fold: bool) -> Predicate:
    if op in ("and", "or"):
        if not isinstance(body, dict):
            raise QueryError(f"<{op}> must contain conditions")
        children = [_compile_node(spec, k, item, fold=fold) for k, v in body.items() for item in _as_list(v)]
        if len(children) < 1:
            raise QueryError(f"<{op}> must contain conditions")
        if op == "and":
            return _all(children)
        return lambda rec: any(c(rec) for c in children)
    if op not in QUERY_OPERATORS:
        raise QueryError(f"Unknown filter operator <{op}>")
    if not isinstance(body, dict) or not body.get("field"):
        raise QueryError(f"<{op}> needs a <field>")
    name = str(body["field"]).strip()
    values = [("" if v is None else v) for v in _as_list(body.get("value"))]
    if op in ("isnull", "isnotnull"):
        pass
    elif op == "between" and len(values) != 2:
        raise QueryError("<between> needs two <value> elements")
    elif op in ("in", "notin") and not values:
        raise QueryError(f"<{op}> needs at least one <value>")
    elif op not in ("in", "notin", "between") and len(values) != 1:
        raise QueryError(f"<{op}> needs one <value>")
    return comparator(spec, name, op, values, fold=fold)  # types the literals: a bad date fails here


# ------------------------------------------------------------------ readByQuery (SQL-like text)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:\\.|''|[^'\\])*')
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|<>|!=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"Invalid query near {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            inner = value[1:-1]
            value = re.sub(r"\\(.)", r"\1", inner.replace("''", "'"))
        tokens.append((kind, value))
    return tokens


_SQL_OPS = {"=": "equalto", "!=": "notequalto", "<>": "notequalto", "<": "lessthan", "<=": "lessthanorequalto",
            ">": "greaterthan", ">=": "greaterthanorequalto"}  # fmt: skip


class _SqlParser:
    """expr := term (OR term)*; term := factor (AND factor)*; factor := NOT factor | (expr) | cond."""

    def __init__(self, spec: ObjectSpec, text: str, fold: bool) -> None:
        self.spec = spec
        self.tokens = _tokenize(text)
        self.pos = 0
        self.fold = fold

    def peek_word(self) -> str:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word":
            return self.tokens[self.pos][1].upper()
        return ""

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise QueryError("Invalid query: unexpected end")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.pos != len(self.tokens):
            raise QueryError(f"Invalid query near {self.tokens[self.pos][1]!r}")
        return pred

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.peek_word() == "OR":
            self.pos += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda rec: any(p(rec) for p in parts))

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.peek_word() == "AND":
            self.pos += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else _all(parts)

    def factor(self) -> Predicate:
        if self.peek_word() == "NOT":
            self.pos += 1
            inner = self.factor()
            return lambda rec: not inner(rec)
        kind, value = self.take()
        if kind == "punct" and value == "(":
            inner = self.expr()
            if self.take() != ("punct", ")"):
                raise QueryError("Invalid query: missing )")
            return inner
        if kind != "word":
            raise QueryError(f"Invalid query: expected a field name, got {value!r}")
        check_fields(self.spec, [value.upper()])
        return self.condition(value.upper())

    def literal(self) -> str:
        kind, value = self.take()
        if kind not in ("str", "num"):
            raise QueryError(f"Invalid query: expected a value, got {value!r}")
        return value

    def condition(self, name: str) -> Predicate:
        word = self.peek_word()
        negate = False
        if word == "IS":
            self.pos += 1
            if self.peek_word() == "NOT":
                self.pos += 1
                negate = True
            if self.peek_word() != "NULL":
                raise QueryError("Invalid query: IS must be followed by NULL or NOT NULL")
            self.pos += 1
            return comparator(self.spec, name, "isnotnull" if negate else "isnull", [], fold=self.fold)
        if word == "NOT":
            self.pos += 1
            negate = True
            word = self.peek_word()
        if word == "LIKE":
            self.pos += 1
            pattern = self.literal()
            return comparator(self.spec, name, "notlike" if negate else "like", [pattern], fold=self.fold)
        if word == "IN":
            self.pos += 1
            if self.take() != ("punct", "("):
                raise QueryError("Invalid query: IN needs (")
            values = [self._status(name, self.literal())]
            while True:
                kind, value = self.take()
                if (kind, value) == ("punct", ")"):
                    break
                if (kind, value) != ("punct", ","):
                    raise QueryError("Invalid query: expected , or ) in IN list")
                values.append(self._status(name, self.literal()))
            return comparator(self.spec, name, "notin" if negate else "in", values, fold=self.fold)
        if negate:
            raise QueryError("Invalid query: NOT must precede LIKE or IN here")
        kind, symbol = self.take()
        if kind != "op":
            raise QueryError(f"Invalid query: expected an operator after {name}")
        value = self._status(name, self.literal())
        return comparator(self.spec, name, _SQL_OPS[symbol], [value], fold=self.fold)

    @staticmethod
    def _status(name: str, value: str) -> str:
        if name == "STATUS" and value in ("T", "F"):
            return "active" if value == "T" else "inactive"
        return value


def compile_sql(spec: ObjectSpec, text: str | None, *, fold: bool = False) -> Predicate:
    """readByQuery ``<query>`` text -> predicate; empty text matches every record."""
    if text is None or not str(text).strip():
        return lambda rec: True
    return _SqlParser(spec, str(text), fold).parse()


def sort_key(spec: ObjectSpec, name: str) -> Callable[[Record], tuple[int, Any]]:
    """Order by one field; empty values first (ascending), typed like comparisons."""

    def key(rec: Record) -> tuple[int, Any]:
        value = _typed(spec, name, field_value(rec, name), literal=False, fold=False)
        if value is None or value == "":
            return (0, "")
        return (1, value)

    return key
