"""Sage Intacct XML gateway: building requests and reading responses, with no network in sight.

Split out of :mod:`qbo_intacct.hooks.intacct` so the wire format can be tested without a server.
Everything here is pure: bytes in, typed values out.

What a finance reader must know
-------------------------------
- **Money is exact.** Values going out are ``Decimal``/``int`` rendered as exact strings
  (``Decimal("1234.50")`` -> ``1234.50``); a ``float`` is refused with a typed error naming the
  record and field, because a float has already lost the cents. Money fields coming back (any field
  whose name contains ``AMOUNT`` or ``TOTAL``, plus the credit limit and exchange rates, see
  :func:`is_money_field`) are parsed into ``Decimal``.
- **Dates** go out as ``MM/DD/YYYY`` (3.0 generic functions) or split into ``<year><month><day>``
  (legacy 2.1 functions such as ``create_invoice``). Date fields coming back (``WHEN*`` and
  ``*DATE``) become ``datetime.date``; date-times (``MM/DD/YYYY HH:MM:SS``, e.g. ``WHENMODIFIED``)
  carry no zone in Intacct, so they are read as local time in the company timezone and returned as
  aware UTC datetimes. Which zone Intacct means is NOT FOUND in Sage's documentation; the connection's
  ``timezone`` extra states it (default ``America/Los_Angeles``).
- **Idempotency.** A function's ``controlid`` is a digest of the caller's idempotency key
  (:func:`function_control_id`), so the same record gets the same controlid on every retry and every
  rerun; with ``uniqueid=true`` Intacct refuses to execute a controlid twice.

Safety
------
- XML is always produced by ``xmltodict.unparse`` from a tree of strings, never by concatenation, so
  every text value is escaped (``&``, ``<``, ``>``); attribute values are quoted by the generator.
  Characters XML 1.0 cannot carry (NUL and other C0 controls) are refused with a typed error.
- Responses are parsed by expat through xmltodict with a ``DOCTYPE`` handler that raises, and entity
  declarations refused (xmltodict's ``disable_entities``): no external entities (XXE), no "billion
  laughs". A body carrying either is an :class:`IntacctXmlError`, never parsed further.
- Element multiplicity is fixed with ``force_list`` (results, errors, records, line items), so one
  record and many records have the same shape.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.parsers import expat as _expat
from zoneinfo import ZoneInfo

import xmltodict

from qbo_intacct.hooks._transport import ApiError

__all__ = [
    "GENERIC_FUNCTIONS",
    "READ_FUNCTIONS",
    "ErrorDetail",
    "FunctionCall",
    "FunctionResult",
    "GatewayResponse",
    "IntacctAuthError",
    "IntacctControlError",
    "IntacctError",
    "IntacctFunctionError",
    "IntacctValueError",
    "IntacctXmlError",
    "build_request",
    "format_datetime",
    "function_control_id",
    "is_money_field",
    "parse_intacct_datetime",
    "parse_response",
    "parse_xml",
    "record_from_xml",
    "render_function",
    "request_control_id",
]

# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class IntacctError(ApiError):
    """Base for every Intacct hook error. ``record_key`` names the caller's record when there is one.

    ``partial_results`` is set by ``IntacctHook.run_functions`` when a later request of a multi-request
    write fails: the results of the requests that did complete (empty otherwise).
    """

    partial_results: tuple[Any, ...] = ()


class IntacctXmlError(IntacctError):
    """A body that is not acceptable XML: malformed, or carrying a DOCTYPE / entity declaration.

    ``line`` and ``column`` say where the parser gave up (when it did), so the hook can name the
    record around that point.
    """

    line: int | None = None
    column: int | None = None


class IntacctValueError(IntacctError):
    """A value the hook will not send (float money, NaN, naive datetime, control characters, bad name)."""

    def __init__(self, message: str, *, record_key: str | None = None, field_name: str | None = None) -> None:
        super().__init__(message, record_key=record_key)
        self.field_name = field_name


@dataclass(frozen=True)
class ErrorDetail:
    """One ``<error>`` element: the specific error comes first, generic ``BL01001973`` ones after."""

    errorno: str
    description: str
    description2: str
    correction: str

    def text(self) -> str:
        parts = [p for p in (self.description, self.description2, self.correction) if p]
        return f"{self.errorno}: {' / '.join(parts)}" if parts else self.errorno


class IntacctFunctionError(IntacctError):
    """One function failed (content level): the other functions of the request may have succeeded."""

    def __init__(
        self,
        errorno: str,
        description: str,
        description2: str,
        correction: str,
        record_key: str | None = None,
        *,
        errors: Sequence[ErrorDetail] = (),
    ) -> None:
        detail = " / ".join(p for p in (description, description2, correction) if p)
        super().__init__(
            f"Intacct error {errorno}: {detail}" if detail else f"Intacct error {errorno}", record_key=record_key
        )
        self.errorno = errorno
        self.description = description
        self.description2 = description2
        self.correction = correction
        self.errors = tuple(errors)


class IntacctAuthError(IntacctError):
    """Sender or user credentials refused, or a session that could not be (re)established.

    Never retried by the hook, and ``retryable`` is False so an operator can fail the task without
    Airflow's retries: each failed sign-in counts towards locking the user out.
    """

    retryable = False

    def __init__(self, message: str, *, errorno: str = "", record_key: str | None = None) -> None:
        super().__init__(message, record_key=record_key)
        self.errorno = errorno


class IntacctControlError(IntacctError):
    """The request was refused before any function ran (control or gateway level)."""

    def __init__(self, message: str, *, errorno: str = "", http_status: int | None = None) -> None:
        super().__init__(message)
        self.errorno = errorno
        self.http_status = http_status


# --------------------------------------------------------------------------------------------------
# Control ids
# --------------------------------------------------------------------------------------------------

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_CONTROL_ID = 256


def function_control_id(idempotency_key: str) -> str:
    """Stable function ``controlid`` for an idempotency key: readable tag + 32 hex of its SHA-256.

    The tag (the key's first ``:``-separated part, e.g. ``customers``) is only for a human reading the
    Intacct audit trail; the digest carries the identity. Same key -> same controlid, on every retry
    and every rerun, in any process. At most 57 characters, well under Intacct's 256.
    """
    if not idempotency_key or not idempotency_key.strip():
        raise IntacctValueError("an Intacct write needs a non-empty idempotency key")
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    tag = _TAG_UNSAFE.sub("-", idempotency_key.split(":", 1)[0]).strip("-")[:24] or "fn"
    return f"{tag}-{digest}"


def request_control_id(function_control_ids: Sequence[str]) -> str:
    """Request-level ``controlid``: a digest of the functions it carries (Intacct only echoes it back).

    Deterministic, so a retried request logs under the same id as the attempt it repeats.
    """
    digest = hashlib.sha256("\n".join(function_control_ids).encode("utf-8")).hexdigest()[:24]
    return f"req-{digest}"


# --------------------------------------------------------------------------------------------------
# Rendering values
# --------------------------------------------------------------------------------------------------

# Functions of the 3.0 generic object API; anything else (create_invoice, ...) is a legacy 2.1
# function whose dates are split into <year><month><day> (api-facts B11, IPHP writeDateSplitElements).
GENERIC_FUNCTIONS = frozenset(
    {"create", "update", "delete", "read", "readByName", "readByQuery", "readMore", "query", "lookup", "inspect"}
)
READ_FUNCTIONS = frozenset(
    {
        "read",
        "readByName",
        "readByQuery",
        "readMore",
        "query",
        "lookup",
        "inspect",
        "getAPISession",
        "readEntityDetails",
    }
)
_ELEMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# XML 1.0 Char production minus what expat would turn into something else: no C0 controls except
# tab and newline. A carriage return would be normalised to a newline by any XML parser on the way
# in, so it cannot round-trip and is refused too.
_XML_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")


def format_datetime(value: datetime, tz: ZoneInfo) -> str:
    """An aware datetime as Intacct writes it: ``MM/DD/YYYY HH:MM:SS`` in the company timezone."""
    if value.tzinfo is None:
        raise IntacctValueError("naive datetime: give an aware datetime so the company timezone is unambiguous")
    return value.astimezone(tz).strftime("%m/%d/%Y %H:%M:%S")


@dataclass(frozen=True)
class _RenderContext:
    tz: ZoneInfo
    legacy: bool
    record_key: str | None


def _render_scalar(value: Any, ctx: _RenderContext, field_path: str) -> Any:
    """One leaf value as the exact text Intacct expects, or a typed error naming the field."""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise IntacctValueError(
                f"{field_path}: {value} is not an amount", record_key=ctx.record_key, field_name=field_path
            )
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise IntacctValueError(
            f"{field_path}: float values are refused (money must be Decimal, exact to the cent)",
            record_key=ctx.record_key,
            field_name=field_path,
        )
    if isinstance(value, datetime):
        try:
            return format_datetime(value, ctx.tz)
        except IntacctValueError as exc:
            raise IntacctValueError(
                f"{field_path}: {exc.message}", record_key=ctx.record_key, field_name=field_path
            ) from None
    if isinstance(value, date):
        if ctx.legacy:
            return {"year": f"{value.year:04d}", "month": f"{value.month:02d}", "day": f"{value.day:02d}"}
        return value.strftime("%m/%d/%Y")
    if isinstance(value, str):
        if _XML_UNSAFE_CHARS.search(value):
            raise IntacctValueError(
                f"{field_path}: contains a control character XML cannot carry",
                record_key=ctx.record_key,
                field_name=field_path,
            )
        return value
    raise IntacctValueError(
        f"{field_path}: unsupported value type {type(value).__name__}", record_key=ctx.record_key, field_name=field_path
    )


def _render_tree(value: Any, ctx: _RenderContext, field_path: str) -> Any:
    """Payload -> xmltodict tree of strings. ``None`` leaves are omitted (send ``""`` to clear a field)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, child in value.items():
            name = key[1:] if isinstance(key, str) and key.startswith("@") else key
            if not isinstance(name, str) or not _ELEMENT_NAME.match(name):
                raise IntacctValueError(
                    f"{field_path}: {key!r} is not a valid Intacct field name",
                    record_key=ctx.record_key,
                    field_name=field_path,
                )
            if child is None:
                continue
            child_path = f"{field_path}.{name}" if field_path else name
            out[key] = _render_tree(child, ctx, child_path)
        return out
    if isinstance(value, list | tuple):
        return [_render_tree(item, ctx, field_path) for item in value if item is not None]
    return _render_scalar(value, ctx, field_path)


@dataclass(frozen=True)
class FunctionCall:
    """One ``<function controlid=...>`` ready for a request: name, control id, payload tree."""

    name: str
    control_id: str
    payload: Mapping[str, Any] | None
    record_key: str | None = None


def render_function(call: FunctionCall, tz: ZoneInfo) -> dict[str, Any]:
    """The xmltodict tree of one function element; raises :class:`IntacctValueError` on a bad value."""
    if not _ELEMENT_NAME.match(call.name):
        raise IntacctValueError(f"{call.name!r} is not an Intacct function name", record_key=call.record_key)
    if not 1 <= len(call.control_id) <= _MAX_CONTROL_ID:
        raise IntacctValueError("function controlid must be 1-256 characters", record_key=call.record_key)
    ctx = _RenderContext(tz=tz, legacy=call.name not in GENERIC_FUNCTIONS, record_key=call.record_key)
    body = _render_tree(call.payload or {}, ctx, "") or None
    return {"@controlid": call.control_id, call.name: body}


def build_request(
    *,
    sender_id: str,
    sender_password: str,
    control_id: str,
    functions: Sequence[Mapping[str, Any]],
    session_id: str | None = None,
    login: Mapping[str, str] | None = None,
    unique_id: bool = True,
    transaction: bool = False,
) -> bytes:
    """A whole ``<request>`` as UTF-8 bytes. ``functions`` are trees from :func:`render_function`.

    Exactly one of ``session_id`` or ``login`` (``userid``, ``companyid``, ``password`` and optional
    ``locationid``) authenticates the operation.
    """
    if (session_id is None) == (login is None):
        raise ValueError("authenticate with exactly one of session_id or login")
    for label, text in (("sender id", sender_id), ("sender password", sender_password), ("control id", control_id)):
        if not text or _XML_UNSAFE_CHARS.search(text):
            raise IntacctValueError(f"{label} is empty or contains a control character")
    authentication: dict[str, Any]
    if session_id is not None:
        authentication = {"sessionid": session_id}
    else:
        assert login is not None
        authentication = {"login": {k: v for k, v in login.items() if v is not None}}
    tree = {
        "request": {
            "control": {
                "senderid": sender_id,
                "password": sender_password,
                "controlid": control_id,
                "uniqueid": "true" if unique_id else "false",
                "dtdversion": "3.0",
                "includewhitespace": "false",
            },
            "operation": {
                "@transaction": "true" if transaction else "false",
                "authentication": authentication,
                "content": {"function": list(functions)},
            },
        }
    }
    return xmltodict.unparse(tree, encoding="utf-8").encode("utf-8")


def function_size(function_tree: Mapping[str, Any]) -> int:
    """Bytes one function adds to a request; used to keep requests under the size bound."""
    return len(xmltodict.unparse({"function": function_tree}, full_document=False).encode("utf-8"))


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


class _GuardedExpat:
    """An ``expat`` stand-in for xmltodict whose parsers refuse any DOCTYPE and never load entities.

    xmltodict's ``disable_entities`` only refuses entity *declarations*; a bare DOCTYPE (possibly
    naming an external DTD) would still be accepted, so we refuse the DOCTYPE itself. Intacct never
    sends one.
    """

    error = _expat.ExpatError
    ExpatError = _expat.ExpatError

    @staticmethod
    def _refuse_doctype(*_args: Any) -> None:
        raise IntacctXmlError("XML with a DOCTYPE was refused (Intacct never sends one; XXE guard)")

    @staticmethod
    def _refuse_entity(*_args: Any) -> None:
        raise IntacctXmlError("XML with an entity declaration was refused (entity-expansion guard)")

    @classmethod
    def ParserCreate(cls, encoding: str | None = None, namespace_separator: str | None = None) -> Any:  # noqa: N802
        parser = _expat.ParserCreate(encoding, namespace_separator)
        parser.StartDoctypeDeclHandler = cls._refuse_doctype
        parser.EntityDeclHandler = cls._refuse_entity
        parser.UnparsedEntityDeclHandler = cls._refuse_entity
        parser.ExternalEntityRefHandler = cls._refuse_entity
        parser.SetParamEntityParsing(_expat.XML_PARAM_ENTITY_PARSING_NEVER)
        return parser


# Containers whose child element repeats: <APBILLITEMS><APBILLITEM/>..., plus the irregular names.
_IRREGULAR_LISTS = {("ENTRIES", "GLENTRY"), ("INVOICEITEMS", "LINEITEM"), ("BILLITEMS", "LINEITEM")}
_ALWAYS_LISTS = frozenset({"result", "error"})


def _force_list(path: Sequence[tuple[str, Any]], key: str, _value: Any) -> bool:
    if key.startswith(("@", "#")):
        return False
    if key in _ALWAYS_LISTS:
        return True
    if not path:
        return False
    parent = path[-1][0]
    if parent == "data":  # every record under <data>, however many came back
        return True
    # Intacct writes line tags in either case on read (<ARINVOICEITEMS><arinvoiceitem>), so compare
    # names case-insensitively.
    return parent.upper() == f"{key.upper()}S" or (parent.upper(), key.upper()) in _IRREGULAR_LISTS


def _drop_layout_text(node: Any) -> Any:
    """Remove whitespace-only text between child elements, keeping leaf text byte for byte.

    We parse with ``strip_whitespace=False`` so a value such as ``"  Acme  "`` survives intact; the
    price is indentation text in elements that have children, which is layout, not data.
    """
    if isinstance(node, dict):
        cleaned = {k: _drop_layout_text(v) for k, v in node.items()}
        text = cleaned.get("#text")
        if isinstance(text, str) and not text.strip() and len(cleaned) > 1:
            del cleaned["#text"]
        return cleaned
    if isinstance(node, list):
        return [_drop_layout_text(v) for v in node]
    return node


# C0 control characters XML 1.0 cannot carry, raw or as character references. Intacct may still send
# them (a description pasted from another system); they are sheltered in the Private Use Area for
# the parse and put back after, so the value reaches the caller byte for byte.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_REFS = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{1,2})|0*([0-9]{1,2}));")
_SHELTER = 0xE000
_UNSHELTER = {_SHELTER + code: chr(code) for code in range(32)}


def _shelter_controls(body: bytes) -> bytes:
    def reference(match: re.Match[bytes]) -> bytes:
        code = int(match[1], 16) if match[1] else int(match[2])
        return chr(_SHELTER + code).encode() if code < 32 and code not in (9, 10, 13) else match[0]

    sheltered = _CONTROL_BYTES.sub(lambda match: chr(_SHELTER + match[0][0]).encode(), body)
    return _CONTROL_REFS.sub(reference, sheltered)


def _unshelter(node: Any) -> Any:
    if isinstance(node, str):
        return node.translate(_UNSHELTER)
    if isinstance(node, dict):
        return {k: _unshelter(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unshelter(v) for v in node]
    return node


def _parse_guarded(body: bytes | str) -> dict[str, Any]:
    return xmltodict.parse(
        body,
        expat=_GuardedExpat,
        disable_entities=True,
        strip_whitespace=False,
        force_list=_force_list,
    )


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """Parse an XML body with the DOCTYPE/entity guard and stable list shapes.

    A body that is malformed only because of control characters (which XML 1.0 forbids, and Intacct
    may emit anyway) is parsed with them kept; anything else malformed raises
    :class:`IntacctXmlError` with the line and column where parsing stopped.
    """
    try:
        try:
            tree = _parse_guarded(body)
        except _expat.ExpatError:
            raw = body.encode("utf-8") if isinstance(body, str) else body
            sheltered = _shelter_controls(raw)
            if sheltered == raw:
                raise
            tree = _unshelter(_parse_guarded(sheltered))
    except IntacctXmlError:
        raise
    except (_expat.ExpatError, ValueError) as exc:
        if "entities are disabled" in str(exc):
            raise IntacctXmlError("XML with an entity declaration was refused (entity-expansion guard)") from None
        line, column = getattr(exc, "lineno", None), getattr(exc, "offset", None)
        where = f" at line {line}, column {column}" if line is not None else ""
        error = IntacctXmlError(f"response is not well-formed XML{where} ({type(exc).__name__})")
        error.line, error.column = line, column
        raise error from None
    return _drop_layout_text(tree) or {}


def _text(node: Any) -> str:
    """Leaf text of an element: ``None`` (empty element) reads as ``""``."""
    if node is None:
        return ""
    if isinstance(node, dict):
        return str(node.get("#text", ""))
    if isinstance(node, list):
        return _text(node[0]) if node else ""
    return str(node)


def _errors(errormessage: Any) -> tuple[ErrorDetail, ...]:
    if not isinstance(errormessage, dict):
        return ()
    out = []
    for err in errormessage.get("error") or []:
        if not isinstance(err, dict):
            out.append(ErrorDetail(errorno=_text(err), description="", description2="", correction=""))
            continue
        out.append(
            ErrorDetail(
                errorno=_text(err.get("errorno")),
                description=_text(err.get("description")),
                description2=_text(err.get("description2")),
                correction=_text(err.get("correction")),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class FunctionResult:
    """One ``<result>``: status, echoed function name and controlid, records, legacy key, errors."""

    status: str
    function: str
    control_id: str
    records: tuple[dict[str, Any], ...] = ()
    data_attrs: Mapping[str, str] = field(default_factory=dict)
    key: str | None = None
    errors: tuple[ErrorDetail, ...] = ()

    def attr_int(self, name: str, default: int = 0) -> int:
        try:
            return int(self.data_attrs.get(name, default))
        except (TypeError, ValueError):
            return default


@dataclass(frozen=True)
class GatewayResponse:
    """A parsed ``<response>`` at its three levels: control, authentication, results."""

    control_status: str
    control_errors: tuple[ErrorDetail, ...]
    auth_status: str | None
    auth_errors: tuple[ErrorDetail, ...]
    session_timeout: str | None
    results: tuple[FunctionResult, ...]

    @property
    def control_ok(self) -> bool:
        return self.control_status == "success"

    @property
    def auth_ok(self) -> bool:
        return self.auth_status == "success"


def _result(raw: Any) -> FunctionResult:
    raw = raw if isinstance(raw, dict) else {}
    data = raw.get("data")
    records: list[dict[str, Any]] = []
    attrs: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if key.startswith("@"):
                attrs[key[1:]] = str(value)
            elif key != "#text":
                records.extend(v if isinstance(v, dict) else {} for v in value)
    key_text = _text(raw.get("key")) or None
    return FunctionResult(
        status=_text(raw.get("status")),
        function=_text(raw.get("function")),
        control_id=_text(raw.get("controlid")),
        records=tuple(records),
        data_attrs=attrs,
        key=key_text,
        errors=_errors(raw.get("errormessage")),
    )


def parse_response(body: bytes | str) -> GatewayResponse:
    """Read a gateway response into its levels; raises :class:`IntacctXmlError` on an unreadable body."""
    tree = parse_xml(body)
    response = tree.get("response")
    if not isinstance(response, dict):
        raise IntacctXmlError("response has no <response> root")
    control = response.get("control") if isinstance(response.get("control"), dict) else {}
    operation = response.get("operation") if isinstance(response.get("operation"), dict) else None
    auth_status: str | None = None
    auth_errors: tuple[ErrorDetail, ...] = ()
    session_timeout: str | None = None
    results: tuple[FunctionResult, ...] = ()
    if operation is not None:
        auth = operation.get("authentication") if isinstance(operation.get("authentication"), dict) else {}
        auth_status = _text(auth.get("status")) or None
        session_timeout = _text(auth.get("sessiontimeout")) or None
        auth_errors = _errors(operation.get("errormessage"))
        results = tuple(_result(r) for r in operation.get("result") or [])
    return GatewayResponse(
        control_status=_text(control.get("status")),
        control_errors=_errors(response.get("errormessage")),
        auth_status=auth_status,
        auth_errors=auth_errors,
        session_timeout=session_timeout,
        results=results,
    )


# --------------------------------------------------------------------------------------------------
# Typed record values
# --------------------------------------------------------------------------------------------------

_MONEY_NAMES = frozenset({"CREDITLIMIT", "EXCHANGE_RATE", "EXCH_RATE", "EXCHRATE", "RATE", "BALANCE"})
_DATE_RE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_DATETIME_RE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})[ T](\d{2}):(\d{2}):(\d{2})$")


def is_money_field(name: str) -> bool:
    """Fields read back as ``Decimal``: amounts, totals, balances, credit limits and exchange rates."""
    upper = name.rsplit(".", 1)[-1].upper()  # dot-notation fields (VENDOR.CREDITLIMIT) by their last part
    return "AMOUNT" in upper or "TOTAL" in upper or upper in _MONEY_NAMES or upper.endswith("_BALANCE")


def _is_date_field(name: str) -> bool:
    upper = name.rsplit(".", 1)[-1].upper()
    return upper.startswith("WHEN") or upper.endswith("DATE")


def parse_intacct_datetime(text: str, tz: ZoneInfo) -> datetime:
    """``MM/DD/YYYY HH:MM:SS`` (company local time, no zone on the wire) -> aware UTC datetime.

    Ambiguous wall times (the repeated hour when clocks go back) are read as the first occurrence
    (``fold=0``): Intacct gives no way to tell them apart. A time so far in the future that it passes
    year 9999 in UTC (``12/31/9999 23:59:59``, the "never" some records carry) is read as
    ``datetime.max`` in UTC: the furthest instant Python can hold, and still later than any real one.
    """
    match = _DATETIME_RE.match(text.strip())
    if not match:
        raise IntacctValueError(f"{text!r} is not an Intacct date-time (MM/DD/YYYY HH:MM:SS)")
    month, day, year, hour, minute, second = (int(g) for g in match.groups())
    local = datetime.combine(date(year, month, day), time(hour, minute, second), tzinfo=tz)
    try:
        return local.astimezone(UTC)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if year >= 9999 else datetime.min.replace(tzinfo=UTC)


def _record_label(raw: Mapping[str, Any]) -> str | None:
    """How an Intacct record is named in an error when the caller gave no key: RECORDNO, else an *ID field."""
    for name in ("RECORDNO", "recordno"):
        if raw.get(name):
            return f"RECORDNO {raw[name]}"
    for name, value in raw.items():
        if isinstance(name, str) and name.upper().endswith("ID") and isinstance(value, str) and value:
            return f"{name} {value}"
    return None


def _typed_value(name: str, value: Any, tz: ZoneInfo, record_key: str | None) -> Any:
    if isinstance(value, dict):
        return {k: _typed_value(k, v, tz, record_key) for k, v in value.items() if not k.startswith("@")}
    if isinstance(value, list):
        return [_typed_value(name, v, tz, record_key) for v in value]
    if value is None:
        return None
    text = str(value)
    if text == "":
        return None
    if is_money_field(name):
        try:
            return Decimal(text.strip())
        except InvalidOperation:
            return text  # e.g. a text field that happens to contain "TOTAL" in its name
    if _is_date_field(name):
        stripped = text.strip()
        try:
            if _DATETIME_RE.match(stripped):
                return parse_intacct_datetime(stripped, tz)
            match = _DATE_RE.match(stripped)
            if match:
                month, day, year = (int(g) for g in match.groups())
                return date(year, month, day)
        except (ValueError, OverflowError):
            raise IntacctValueError(
                f"field {name}: {stripped!r} is not a valid Intacct date; correct the date on this record in Intacct",
                record_key=record_key,
                field_name=name,
            ) from None
    return text


def record_from_xml(raw: Mapping[str, Any], tz: ZoneInfo, *, record_key: str | None = None) -> dict[str, Any]:
    """An Intacct record element -> flat dict of UPPERCASE fields with typed values.

    Empty elements become ``None``; money becomes ``Decimal``; dates ``date``; date-times aware UTC
    ``datetime``; everything else (ids, RECORDNO, names) stays text, byte for byte, so an id such as
    ``00123`` keeps its zeros. Nested blocks (``DISPLAYCONTACT``, line items) stay nested.
    """
    key = record_key or _record_label(raw)
    return {k: _typed_value(k, v, tz, key) for k, v in raw.items() if not k.startswith(("@", "#"))}


def iter_text_values(node: Any) -> Iterable[str]:
    """Every text leaf of a tree (tests and log scrubbing)."""
    if isinstance(node, Mapping):
        for value in node.values():
            yield from iter_text_values(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from iter_text_values(value)
    elif isinstance(node, str):
        yield node
