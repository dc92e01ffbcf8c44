"""The XML gateway protocol: control block, authentication, sessions and the functions.

A request passes three levels, as on the real gateway (I-ERR): a control failure (bad XML, bad
sender) answers with no ``<operation>``; an authentication failure answers with the
authentication block and an ``<errormessage>`` and runs nothing; otherwise every function runs
and gets one ``<result>``, in order. All failures are HTTP 200.

Choices where Intacct documents nothing (api-facts.md Part D):
- ``uniqueid=true`` and a function ``controlid`` that already completed successfully: the function
  is not run again and the original ``<result>`` is returned unchanged (same RECORDNO, same key),
  so a retried write can never duplicate a record. Failed functions are not remembered (a retry
  runs them). The memory is per company and is cleared by ``/_sandbox/reset``. Per the docs the
  default, when ``<uniqueid>`` is absent, is true.
- An expired or unknown session fails authentication with XL03000006 "Sign-in information is
  incorrect" (the documented login-failure shape); clients must log in again.
- Sessions slide: each request made before expiry resets it to now + timeout (24 h by default).
- ``getAPISession`` sent with other functions fails that function (the docs say "send it alone").
- readByQuery ``resultId`` cursors live until reset or until 200 newer cursors exist.
- ``readByQuery``/``readMore`` records are lowercase elements (``<customer>``, as documented);
  ``query``/``read``/``readByName`` records use the object name (``<CUSTOMER>``), as the SDK reads them.
- A generic create/update/delete with several objects runs each object on its own: the function
  fails if any object fails, and ``<data>`` lists the objects that succeeded (as the documented
  partial-update sample does). Use ``transaction="true"`` for all-or-nothing.
- Entity privacy (state.py): at top level, query/readByQuery see entity-owned records only with
  ``showprivate``; read/readByName of explicitly named keys find them without it.
- Query errors use errorno "Query Failed" (the documented sample), except fields an object does
  not document: XL03000006 "The following fields cannot be queried: [ obj: [F] ]" (fields.py);
  business errors BL01001973 / BL34000061 (see state.py).
- Control-level errors carry their text in ``<description2>`` (where I-ERR shows it and the SDKs
  read it); gateway errors (GW-nnnn, documented with ``<description>``) keep ``<description>``.
- ``lookup`` answers ``<Type Name=..><Fields><Field><ID>..`` from fields.py. ``query`` aggregates
  (count, sum, avg, min, max) group by the selected plain fields and come back as
  ``FUNCTION.FIELD`` elements (``COUNT.RECORDNO``): Intacct documents the aggregates, not the
  response.
- Legacy functions served: create_invoice / update_invoice / reverse_invoice, reverse_bill,
  create/update/delete_aradjustment and _apadjustment (the only way to write adjustments; the
  generic create/update of ARADJUSTMENT/APADJUSTMENT is refused, as of ARINVOICE),
  apply_arpayment, reverse_arpayment, get_trialbalance and get_accountbalances (ledger.py).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from include.sandbox.common import partial_refusal
from include.sandbox.intacct import fields as field_catalogue
from include.sandbox.intacct import ledger
from include.sandbox.intacct.query import (
    NUMERIC_FIELDS,
    QueryError,
    check_fields,
    compile_filter,
    compile_sql,
    field_value,
    sort_key,
)
from include.sandbox.intacct.state import (
    SPECS,
    IntacctBusinessError,
    IntacctErrorDetail,
    IntacctState,
    ObjectSpec,
    Record,
    cents,
    generic_error,
)
from include.sandbox.intacct.xmlio import (
    XML_HEAD,
    XmlRequestError,
    as_list,
    esc,
    parse_request,
    render_control,
    render_errors,
    render_record,
    text_of,
)

if TYPE_CHECKING:
    from include.sandbox.common import RequestLog, SandboxClock

WRITE_FUNCTIONS = frozenset(
    {
        "create",
        "update",
        "delete",
        "create_invoice",
        "update_invoice",
        "reverse_invoice",
        "reverse_bill",
        "create_aradjustment",
        "update_aradjustment",
        "delete_aradjustment",
        "create_apadjustment",
        "update_apadjustment",
        "delete_apadjustment",
        "apply_arpayment",
        "reverse_arpayment",
    }
)
QUERY_FUNCTIONS = frozenset(
    {"readByQuery", "readMore", "query", "read", "readByName", "lookup", "get_trialbalance", "get_accountbalances"}
)
AGGREGATES = ("count", "sum", "avg", "min", "max")
#: Objects Intacct writes only through legacy functions (I-INV, I-ARADJ): (create, update).
LEGACY_ONLY = {
    "ARINVOICE": ("create_invoice", "update_invoice"),
    "ARADJUSTMENT": ("create_aradjustment", "update_aradjustment"),
    "APADJUSTMENT": ("create_apadjustment", "update_apadjustment"),
}
READBYQUERY_MAX_PAGE = 1000
QUERY_MAX_PAGE = 2000
READ_MAX_KEYS = 100
MAX_CURSORS = 200
QUERY_CACHE_SIZE = 8
ABORTED_TEXT = "The entire transaction in this operation has been rolled back due to an error."


@dataclass
class Session:
    session_id: str
    user_id: str
    company_id: str
    entity: str  # "" = top level
    expires_at: datetime


@dataclass
class Cursor:
    """A readByQuery result set being paged with readMore."""

    object_name: str
    fields: list[str] | None
    recordnos: list[int]
    position: int
    page_size: int = 100  # readMore keeps the page size of the readByQuery that opened it


@dataclass
class Credentials:
    sender_id: str
    sender_password: str
    company_id: str
    user_id: str
    user_password: str


#: What a function refused by an injected ``partial`` fault answers (the sandbox's own wording: the
#: real gateway's text for a transient function failure is not documented).
_PARTIAL_ERROR = IntacctErrorDetail(
    "BL01001973", "", "The function could not be completed because of a temporary error.", "Try again later."
)


@dataclass
class FunctionOutcome:
    name: str
    controlid: str
    status: str  # success | failure
    body: str = ""  # data/key XML inside <result>
    errors: list[IntacctErrorDetail] = field(default_factory=list)
    records_written: int = 0
    queries: int = 0
    replayed: bool = False

    def xml(self) -> str:
        out = [f"<result><status>{self.status}</status><function>{esc(self.name)}</function>"]
        out.append(f"<controlid>{esc(self.controlid)}</controlid>{self.body}")
        if self.errors:
            render_errors(self.errors, out)
        out.append("</result>")
        return "".join(out)


class _AbortError(Exception):
    """Raised inside a transaction="true" operation to roll every function back."""


class _ControlFailureError(Exception):
    """A control-level failure. Its text goes in ``<description2>``, where the documentation shows
    it and where the SDKs read it (sageintacctsdk reports a blank message otherwise)."""

    def __init__(self, errorno: str, text: str) -> None:
        super().__init__(text)
        self.error = IntacctErrorDetail(errorno, "", text, "")


class Gateway:
    """Everything between the HTTP body and the company state. One lock: the state is not thread-safe."""

    def __init__(
        self,
        *,
        state: IntacctState,
        credentials: Credentials,
        clock: SandboxClock,
        log: RequestLog,
        endpoint_url: str,
        session_timeout_seconds: int = 86_400,
    ) -> None:
        self.state = state
        self.credentials = credentials
        self.clock = clock
        self.log = log
        self.endpoint_url = endpoint_url
        self.session_timeout_seconds = session_timeout_seconds
        self.sessions: dict[str, Session] = {}
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.completed: dict[str, str] = {}  # function controlid -> original <result> (uniqueid)
        self.query_cache: OrderedDict[str, list[Record]] = OrderedDict()
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ state swaps (reset/load)
    def replace_state(self, state: IntacctState) -> None:
        """New company data; sessions survive (a hook holding one keeps working), cursors do not."""
        with self.lock:
            state.company_id = self.credentials.company_id
            state.now_fn = self.clock.now
            self.state = state
            self.cursors.clear()
            self.completed.clear()
            self.query_cache.clear()

    def expire_session(self, session_id: str) -> None:
        """Make a session run out now (the ``expire_session`` fault); the next use is refused."""
        with self.lock:
            found = self.sessions.get(session_id)
            if found is not None:
                found.expires_at = self.clock.now()

    # ------------------------------------------------------------------ request
    def handle(self, body: bytes) -> bytes:
        with self.lock:
            return self._handle(body)

    def _handle(self, body: bytes) -> bytes:
        control: dict[str, str] = {}
        try:
            try:
                doc = parse_request(body)
            except XmlRequestError as exc:
                raise _ControlFailureError("XL03000003", f"XML Parse schema error: {exc}") from None
            request = doc.get("request") if isinstance(doc, dict) else None
            if not isinstance(request, dict) or not isinstance(request.get("control"), dict):
                raise _ControlFailureError("XL03000003", "XML Parse schema error: <request><control> is required")
            control = {k: text_of(v) for k, v in request["control"].items() if not k.startswith("#")}
            creds = self.credentials
            if control.get("senderid") != creds.sender_id or control.get("password") != creds.sender_password:
                raise _ControlFailureError("XL03000006", "Incorrect Intacct XML Partner ID or password.")
            if control.get("dtdversion", "3.0") not in ("3.0", "2.1"):
                raise _ControlFailureError("XL03000003", "XML Parse schema error: dtdversion must be 3.0 or 2.1")
            operation = request.get("operation")
            if not isinstance(operation, dict):
                raise _ControlFailureError("XL03000003", "XML Parse schema error: <operation> is required")
            content = operation.get("content")
            functions = as_list(content.get("function")) if isinstance(content, dict) else []
            if not functions or not all(isinstance(f, dict) for f in functions):
                raise _ControlFailureError("XL03000003", "XML Parse schema error: <content> needs <function> elements")
        except _ControlFailureError as failure:
            out = [XML_HEAD, "<response>"]
            render_control(control, "failure", out)
            render_errors([failure.error], out)
            out.append("</response>")
            return "".join(out).encode("utf-8")

        out = [XML_HEAD, "<response>"]
        render_control(control, "success", out)
        out.append("<operation>")
        session, auth_errors, auth_xml = self._authenticate(operation.get("authentication"))
        out.append(auth_xml)
        if session is None:
            render_errors(auth_errors, out)
            out.append("</operation></response>")
            return "".join(out).encode("utf-8")
        unique = control.get("uniqueid", "true").strip().lower() != "false"
        transactional = str(operation.get("@transaction", "false")).strip().lower() == "true"
        outcomes = self._run_all(functions, session, unique=unique, transactional=transactional)
        for outcome in outcomes:
            out.append(outcome.xml())
        out.append("</operation></response>")
        return "".join(out).encode("utf-8")

    # ------------------------------------------------------------------ authentication
    def _authenticate(self, auth: Any) -> tuple[Session | None, list[IntacctErrorDetail], str]:
        now = self.clock.now()
        creds = self.credentials
        failure = [IntacctErrorDetail("XL03000006", "", "Sign-in information is incorrect", "")]
        session: Session | None = None
        user_id = company_id = location = ""
        if isinstance(auth, dict) and isinstance(auth.get("login"), dict):
            login = auth["login"]
            user_id = text_of(login.get("userid"))
            company_id = text_of(login.get("companyid"))
            location = text_of(login.get("locationid")).strip()
            company, _, piped_entity = company_id.partition("|")  # "COMPANY|ENTITY" logs into the entity
            location = location or piped_entity
            if (
                user_id == creds.user_id
                and company == creds.company_id
                and text_of(login.get("password")) == (creds.user_password)
            ):
                if location and self.state.entity(location) is None:
                    failure = [IntacctErrorDetail("XL03000006", "", f"Invalid entity {location} for sign-in", "")]
                else:
                    session = self._new_session(location, now)
        elif isinstance(auth, dict) and auth.get("sessionid") is not None:
            found = self.sessions.get(text_of(auth.get("sessionid")).strip())
            if found is not None and found.expires_at > now:
                found.expires_at = now + timedelta(seconds=self.session_timeout_seconds)
                session = found
            elif found is not None:
                self.sessions.pop(found.session_id, None)
            if found is not None:
                user_id, company_id, location = found.user_id, found.company_id, found.entity
        if session is None:
            xml = (
                f"<authentication><status>failure</status><userid>{esc(user_id)}</userid>"
                f"<companyid>{esc(company_id)}</companyid><locationid>{esc(location)}</locationid></authentication>"
            )
            return None, failure, xml
        xml = (
            f"<authentication><status>success</status><userid>{esc(session.user_id)}</userid>"
            f"<companyid>{esc(session.company_id)}</companyid><locationid>{esc(session.entity)}</locationid>"
            f"<sessiontimestamp>{self._stamp(now)}</sessiontimestamp>"
            f"<sessiontimeout>{self._stamp(session.expires_at)}</sessiontimeout></authentication>"
        )
        return session, [], xml

    def _new_session(self, entity: str, now: datetime) -> Session:
        session = Session(
            session_id=secrets.token_urlsafe(24) + "..",
            user_id=self.credentials.user_id,
            company_id=self.credentials.company_id,
            entity=entity,
            expires_at=now + timedelta(seconds=self.session_timeout_seconds),
        )
        self.sessions[session.session_id] = session
        return session

    def _stamp(self, when: datetime) -> str:
        return self.state.local_datetime(when).replace(microsecond=0).isoformat()

    # ------------------------------------------------------------------ functions
    def _run_all(
        self, functions: list[dict[str, Any]], session: Session, *, unique: bool, transactional: bool
    ) -> list[FunctionOutcome]:
        calls = [self._split(f) for f in functions]
        outcomes: list[FunctionOutcome] = []
        if not transactional:
            writes = sum(1 for name, _c, _b in calls if name in WRITE_FUNCTIONS)
            for index, (name, controlid, body) in enumerate(calls):
                if name in WRITE_FUNCTIONS and partial_refusal(index, writes):  # injected "partial" fault
                    outcome = FunctionOutcome(name, controlid, "failure", errors=[_PARTIAL_ERROR])
                    outcomes.append(outcome)
                    continue
                outcome = self._run_one(name, controlid, body, session, unique=unique, alone=len(calls) == 1)
                self._commit(outcome, unique)
                outcomes.append(outcome)
            return outcomes
        try:
            with self.state.transaction():
                for name, controlid, body in calls:
                    outcome = self._run_one(name, controlid, body, session, unique=unique, alone=len(calls) == 1)
                    outcomes.append(outcome)
                    if outcome.status != "success":
                        raise _AbortError
        except _AbortError:
            failed = outcomes[-1]
            aborted = []
            for name, controlid, _body in calls:
                if controlid == failed.controlid and name == failed.name and failed not in aborted:
                    aborted.append(failed)
                    continue
                aborted.append(
                    FunctionOutcome(
                        name,
                        controlid,
                        "aborted",
                        errors=[IntacctErrorDetail("XL03000009", "", ABORTED_TEXT, "")],
                        queries=0,
                    )
                )
            for done in outcomes:  # queries did run, and Intacct bills them
                if done.queries:
                    self.log.add("api_transactions", done.queries)
            return aborted
        for outcome in outcomes:
            self._commit(outcome, unique)
        return outcomes

    def _commit(self, outcome: FunctionOutcome, unique: bool) -> None:
        """Count what Intacct bills and remember completed functions for uniqueid replays."""
        if outcome.replayed:
            return
        billed = outcome.records_written + outcome.queries
        if billed:
            self.log.add("api_transactions", billed)
        if outcome.records_written:
            self.log.add("records_written", outcome.records_written)
        if unique and outcome.status == "success" and outcome.name != "getAPISession" and outcome.controlid:
            self.completed[outcome.controlid] = outcome.xml()

    @staticmethod
    def _split(function: dict[str, Any]) -> tuple[str, str, Any]:
        controlid = text_of(function.get("@controlid"))
        names = [k for k in function if not k.startswith(("@", "#"))]
        if len(names) != 1:
            return ("", controlid, None)
        return names[0], controlid, function[names[0]]

    def _run_one(
        self, name: str, controlid: str, body: Any, session: Session, *, unique: bool, alone: bool
    ) -> FunctionOutcome:
        if unique and controlid and controlid in self.completed:
            return _Replayed(name, controlid, self.completed[controlid])
        handler = getattr(self, f"_fn_{name}", None) if name else None
        if handler is None:
            return FunctionOutcome(
                name or "unknown",
                controlid,
                "failure",
                errors=[generic_error(f"Unknown function {name or '(none)'}.", "Check the function name.")],
            )
        outcome = FunctionOutcome(name, controlid, "success")
        try:
            handler(outcome, body if isinstance(body, dict) else {}, session, alone)
        except IntacctBusinessError as exc:
            outcome.status = "failure"
            outcome.errors = list(exc.errors)
        except QueryError as exc:
            outcome.status = "failure"
            outcome.errors = [IntacctErrorDetail(exc.errorno, "", str(exc), "")]
        if outcome.errors:
            outcome.status = "failure"
        return outcome

    # -- session -------------------------------------------------------------------------------
    def _fn_getAPISession(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:  # noqa: N802
        if not alone:
            raise IntacctBusinessError([generic_error("getAPISession must be sent alone in its request.")])
        target = session
        if "locationid" in body:
            entity = text_of(body.get("locationid")).strip()
            if entity and self.state.entity(entity) is None:
                raise IntacctBusinessError([generic_error(f"Invalid entity {entity}.", "Use an existing entity.")])
            if entity != session.entity:
                target = self._new_session(entity, self.clock.now())
        out.body = (
            f"<data><api><sessionid>{esc(target.session_id)}</sessionid>"
            f"<endpoint>{esc(self.endpoint_url)}</endpoint><locationid>{esc(target.entity)}</locationid></api></data>"
        )

    # -- reads ---------------------------------------------------------------------------------
    def _query_spec(self, body: dict[str, Any]) -> ObjectSpec:
        object_name = text_of(body.get("object")).strip().upper()
        spec = SPECS.get(object_name)
        if spec is None:
            raise QueryError(f"Object definition {object_name or '(none)'} not found")
        return spec

    @staticmethod
    def _fields(raw: Any) -> list[str] | None:
        text = text_of(raw).strip()
        if not text or text == "*":
            return None
        return [f.strip().upper() for f in text.split(",") if f.strip()]

    @staticmethod
    def _page_size(raw: Any, default: int, maximum: int) -> int:
        text = text_of(raw).strip()
        if not text:
            return default
        if not text.isdigit() or not 1 <= int(text) <= maximum:
            raise QueryError(f"pagesize must be between 1 and {maximum}")
        return int(text)

    @staticmethod
    def _flag(raw: Any) -> bool:
        return text_of(raw).strip().lower() == "true"

    def _fn_readByQuery(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:  # noqa: N802
        out.queries = 1
        spec = self._query_spec(body)
        predicate = compile_sql(spec, text_of(body.get("query")))
        page_size = self._page_size(body.get("pagesize"), 100, READBYQUERY_MAX_PAGE)
        check_fields(spec, self._fields(body.get("fields")) or [])
        show_private = self._flag(body.get("showprivate"))
        matches = [
            r["RECORDNO"]
            for r in self.state.visible(spec.name, session.entity, show_private=show_private)
            if predicate(r)
        ]
        matches.sort()
        result_id = secrets.token_hex(12)
        cursor = Cursor(spec.name, self._fields(body.get("fields")), matches, 0)
        self.cursors[result_id] = cursor
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        out.body = self._cursor_page(spec, cursor, result_id, page_size)

    def _fn_readMore(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:  # noqa: N802
        out.queries = 1
        result_id = text_of(body.get("resultId")).strip()
        cursor = self.cursors.get(result_id)
        if cursor is None:
            raise QueryError(f"Invalid resultId {result_id or '(none)'}; it may have expired.")
        out.body = self._cursor_page(SPECS[cursor.object_name], cursor, result_id, cursor.page_size)

    def _cursor_page(self, spec: ObjectSpec, cursor: Cursor, result_id: str, page_size: int) -> str:
        cursor.page_size = page_size
        page = cursor.recordnos[cursor.position : cursor.position + page_size]
        cursor.position += len(page)
        remaining = len(cursor.recordnos) - cursor.position
        tag = spec.name.lower()
        parts = [
            f'<data listtype="{tag}" count="{len(page)}" totalcount="{len(cursor.recordnos)}" '
            f'numremaining="{remaining}" resultId="{result_id}">'
        ]
        for recno in page:
            rec = self.state.get(spec.name, recno)
            if rec is not None:
                render_record(spec, rec, tag, cursor.fields, parts)
        parts.append("</data>")
        return "".join(parts)

    def _fn_query(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        out.queries = 1
        spec = self._query_spec(body)
        select = body.get("select")
        if not isinstance(select, dict):
            raise QueryError("<select> with at least one <field> is required")
        aggregates = [
            (function, text_of(f).strip().upper())
            for function in AGGREGATES
            for f in as_list(select.get(function))
            if text_of(f).strip()
        ]
        fields = [text_of(f).strip().upper() for f in as_list(select.get("field")) if text_of(f).strip()]
        if (not fields and not aggregates) or "*" in fields:
            raise QueryError("<select> needs field names (* is not allowed)")
        check_fields(spec, fields + [name for _, name in aggregates])
        for function, name in aggregates:
            if function in ("sum", "avg") and name not in NUMERIC_FIELDS:
                raise QueryError(f"{function} needs a numeric field; {name} is not one")
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        fold = self._flag(options.get("caseinsensitive"))
        show_private = self._flag(options.get("showprivate"))
        predicate = compile_filter(spec, body.get("filter"), fold=fold)
        page_size = self._page_size(body.get("pagesize"), 100, QUERY_MAX_PAGE)
        offset_text = text_of(body.get("offset")).strip() or "0"
        if not offset_text.isdigit():
            raise QueryError("offset must be a non-negative integer")
        offset = int(offset_text)
        orderby = body.get("orderby")
        orders = as_list(orderby.get("order")) if isinstance(orderby, dict) else []
        check_fields(spec, [text_of(o.get("field")).strip() for o in orders if isinstance(o, dict)])
        # Offset paging re-runs the same query for every page; unchanged data answers from the cache.
        cache_key = repr(
            (spec.name, session.entity, show_private, fold, body.get("filter"), orders, self.state.version)
        )
        matches = self.query_cache.get(cache_key)
        if matches is None:
            matches = [
                r for r in self.state.visible(spec.name, session.entity, show_private=show_private) if predicate(r)
            ]
            matches.sort(key=lambda r: r["RECORDNO"])
            for order in reversed(orders):  # stable sorts, last key first
                if not isinstance(order, dict) or not text_of(order.get("field")).strip():
                    raise QueryError("<order> needs a <field>")
                name = text_of(order.get("field")).strip().upper()
                matches.sort(key=sort_key(spec, name), reverse="descending" in order)
            self.query_cache[cache_key] = matches
            while len(self.query_cache) > QUERY_CACHE_SIZE:
                self.query_cache.popitem(last=False)
        rows: list[Record] = _aggregate(matches, fields, aggregates) if aggregates else matches
        page = rows[offset : offset + page_size]
        remaining = max(0, len(rows) - offset - len(page))
        parts = [
            f'<data listtype="{spec.name}" totalcount="{len(rows)}" offset="{offset}" count="{len(page)}" '
            f'numremaining="{remaining}">'
        ]
        columns = fields + [f"{function.upper()}.{name}" for function, name in aggregates]
        for rec in page:
            render_record(spec, rec, spec.name, columns, parts)
        parts.append("</data>")
        out.body = "".join(parts)

    def _fn_lookup(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        """The object definition: every query field with its type, as ``<Type><Fields><Field>``."""
        out.queries = 1
        spec = self._query_spec(body)
        parts = [f'<data listtype="All" count="1"><Type Name="{spec.name}" DocumentType=""><Fields>']
        for name in field_catalogue.lookup_fields(spec.name):
            required = "true" if name in spec.required else "false"
            readonly = "true" if name in field_catalogue.AUDIT else "false"
            parts.append(
                f"<Field><ID>{name}</ID><LABEL>{esc(name.replace('_', ' ').title())}</LABEL><DESCRIPTION></DESCRIPTION>"
                f"<REQUIRED>{required}</REQUIRED><READONLY>{readonly}</READONLY>"
                f"<DATATYPE>{_datatype(spec, name)}</DATATYPE><ISCUSTOM>false</ISCUSTOM></Field>"
            )
        parts.append("</Fields><Relationships>")
        for field_name, related in field_catalogue.RELATED.get(spec.name, {}).items():
            parts.append(
                f"<Relationship><OBJECTPATH>{field_name}</OBJECTPATH><OBJECTNAME>{related}</OBJECTNAME>"
                f"<LABEL>{esc(related.title())}</LABEL><RELATIONSHIPTYPE>MANY2ONE</RELATIONSHIPTYPE>"
                f"<RELATEDBY>{field_name}ID</RELATEDBY></Relationship>"
            )
        parts.append("</Relationships></Type></data>")
        out.body = "".join(parts)

    def _keys(self, body: dict[str, Any]) -> list[str]:
        keys = [k.strip() for k in text_of(body.get("keys")).split(",") if k.strip()]
        if len(keys) > READ_MAX_KEYS:
            raise QueryError(f"At most {READ_MAX_KEYS} keys per read")
        return keys

    def _render_reads(self, spec: ObjectSpec, records: list[Record], fields: list[str] | None) -> str:
        parts = [f'<data listtype="{spec.name}" count="{len(records)}">']
        for rec in records:
            render_record(spec, rec, spec.name, fields, parts, with_lines=fields is None)
        parts.append("</data>")
        return "".join(parts)

    def _fn_read(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        out.queries = 1
        spec = self._query_spec(body)
        show_private = self._flag(body.get("showprivate")) or bool(body.get("keys"))  # named keys: see docstring
        keys = self._keys(body)
        found: list[Record] = []
        if keys:
            for key in keys:
                rec = self.state.get(spec.name, int(key)) if key.isdigit() else None
                if rec is not None and self.state.is_visible(rec, session.entity, show_private=show_private):
                    found.append(rec)
        else:  # no keys: the first 100 records, as the real read does
            found = list(self.state.visible(spec.name, session.entity, show_private=show_private))[:READ_MAX_KEYS]
        check_fields(spec, self._fields(body.get("fields")) or [])
        out.body = self._render_reads(spec, found, self._fields(body.get("fields")))

    def _fn_readByName(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:  # noqa: N802
        out.queries = 1
        spec = self._query_spec(body)
        if spec.id_field is None:
            raise QueryError(f"{spec.name} has no name key; use read with RECORDNO keys")
        show_private = True  # a name asked for explicitly is found at top level (see module docstring)
        found = []
        for key in self._keys(body):
            rec = self.state.find(spec.name, key)
            if rec is not None and self.state.is_visible(rec, session.entity, show_private=show_private):
                found.append(rec)
        check_fields(spec, self._fields(body.get("fields")) or [])
        out.body = self._render_reads(spec, found, self._fields(body.get("fields")))

    # -- generic writes ------------------------------------------------------------------------
    def _objects(self, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        items: list[tuple[str, dict[str, Any]]] = []
        for key, value in body.items():
            if key.startswith(("@", "#")):
                continue
            for obj in as_list(value):
                items.append((key.upper(), obj if isinstance(obj, dict) else {}))
        if not items:
            raise IntacctBusinessError([generic_error("The function holds no object to write.")])
        return items

    def _write_each(self, out: FunctionOutcome, body: dict[str, Any], session: Session, verb: str) -> None:
        written: list[tuple[ObjectSpec, Record]] = []
        errors: list[IntacctErrorDetail] = []
        for object_name, fields in self._objects(body):
            try:
                spec = self._writable(object_name)
                if verb == "create":
                    if spec.name in LEGACY_ONLY:
                        raise IntacctBusinessError(
                            [generic_error(f"{spec.name} has no generic create; use {LEGACY_ONLY[spec.name][0]}.")]
                        )
                    rec = self.state.create(spec.name, fields, entity_id=session.entity)
                else:
                    if spec.name in LEGACY_ONLY and spec.name != "ARINVOICE":
                        raise IntacctBusinessError(
                            [generic_error(f"{spec.name} has no generic update; use {LEGACY_ONLY[spec.name][1]}.")]
                        )
                    rec = self.state.update(spec.name, fields, entity_id=session.entity)
                written.append((spec, rec))
            except IntacctBusinessError as exc:
                errors.extend(exc.errors)
        parts = [f'<data listtype="objects" count="{len(written)}">']
        for spec, rec in written:
            tag = spec.name.lower()
            parts.append(f"<{tag}><RECORDNO>{rec['RECORDNO']}</RECORDNO>")
            if spec.id_field:
                parts.append(f"<{spec.id_field}>{esc(str(rec.get(spec.id_field, '')))}</{spec.id_field}>")
            parts.append(f"</{tag}>")
        parts.append("</data>")
        out.body = "".join(parts)
        out.errors = errors
        out.records_written = len(written)

    def _writable(self, object_name: str) -> ObjectSpec:
        spec = SPECS.get(object_name)
        if spec is None:
            raise IntacctBusinessError([generic_error(f"Object definition {object_name} not found")])
        return spec

    def _fn_create(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        self._write_each(out, body, session, "create")

    def _fn_update(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        self._write_each(out, body, session, "update")

    def _fn_delete(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        spec = self._writable(text_of(body.get("object")).strip().upper())
        keys = [k.strip() for k in text_of(body.get("keys")).split(",") if k.strip()]
        if not keys:
            raise IntacctBusinessError([generic_error("delete needs <keys> (RECORDNO values).")])
        deleted: list[str] = []
        errors: list[IntacctErrorDetail] = []
        for key in keys:
            try:
                self.state.delete(spec.name, key, entity_id=session.entity)
                deleted.append(key)
            except IntacctBusinessError as exc:
                errors.extend(exc.errors)
        tag = spec.name.lower()
        out.body = (
            f'<data listtype="objects" count="{len(deleted)}">'
            + "".join(f"<{tag}><RECORDNO>{esc(k)}</RECORDNO></{tag}>" for k in deleted)
            + "</data>"
        )
        out.errors = errors
        out.records_written = len(deleted)

    # -- legacy AR invoice functions -------------------------------------------------------------
    def _fn_create_invoice(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        fields = _legacy_invoice_fields(body)
        rec = self.state.create("ARINVOICE", fields, entity_id=session.entity)
        out.body = f"<key>{rec['RECORDNO']}</key>"
        out.records_written = 1

    def _fn_update_invoice(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        key = text_of(body.get("@key")).strip()
        current = self.state.get("ARINVOICE", int(key)) if key.isdigit() else None
        if current is None:
            raise IntacctBusinessError(
                [
                    generic_error(f"Invoice {key or '(no key)'} does not exist."),
                    generic_error("Could not update Invoice record!"),
                ]
            )
        fields = _legacy_invoice_fields(body, partial=True)
        fields["RECORDNO"] = key
        items = body.get("updateinvoiceitems")
        if isinstance(items, dict):
            try:
                fields["ARINVOICEITEMS"] = _updated_lines(current.get("ARINVOICEITEMS", []), items, key)
            except IntacctBusinessError as exc:
                raise IntacctBusinessError([*exc.errors, generic_error("Could not update Invoice record!")]) from None
        rec = self.state.update("ARINVOICE", fields, entity_id=session.entity)
        out.body = f"<key>{rec['RECORDNO']}</key>"
        out.records_written = 1

    def _fn_reverse_invoice(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        key = text_of(body.get("@key")).strip()
        if not key.isdigit():
            raise IntacctBusinessError([generic_error("reverse_invoice needs key=RECORDNO.")])
        reversal = self.state.reverse_invoice(
            int(key), _split_date(body.get("datereversed"), "datereversed"), entity_id=session.entity
        )
        out.body = f"<key>{reversal['RECORDNO']}</key>"
        out.records_written = 1

    def _fn_reverse_bill(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        """Legacy reverse_bill (I-BILL): ``<reverse_bill key="RECORDNO"><datereversed>..``, as reverse_invoice."""
        key = text_of(body.get("@key")).strip()
        if not key.isdigit():
            raise IntacctBusinessError([generic_error("reverse_bill needs key=RECORDNO.")])
        reversal = self.state.reverse_bill(
            int(key), _split_date(body.get("datereversed"), "datereversed"), entity_id=session.entity
        )
        out.body = f"<key>{reversal['RECORDNO']}</key>"
        out.records_written = 1

    # -- reports ------------------------------------------------------------------------------------
    def _fn_get_trialbalance(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        """get_trialbalance (I-TB): see ledger.py for the postings and the response shape."""
        rows = self._ledger_rows(out, body, session)
        parts = [f'<data listtype="trialbalance" count="{len(rows)}">']
        for row in rows:
            parts.append("<trialbalance>")
            for key, value in row.items():
                parts.append(f"<{key}>{esc(format(value, 'f') if isinstance(value, Decimal) else str(value))}</{key}>")
            parts.append("</trialbalance>")
        parts.append("</data>")
        out.body = "".join(parts)

    def _fn_get_accountbalances(
        self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool
    ) -> None:
        """get_accountbalances (I-ACCTBAL) for one account (glaccountno) or a range (startaccountno,
        endaccountno); rows as the documented ``<accountbalance>`` (glaccountno, startbalance,
        periodbalance, endbalance, currency). accountgroupname is refused (groups are not modelled)."""
        if text_of(body.get("accountgroupname")).strip():
            raise IntacctBusinessError([generic_error("accountgroupname is not modelled by the sandbox.")])
        one = text_of(body.get("glaccountno")).strip()
        low, high = text_of(body.get("startaccountno")).strip(), text_of(body.get("endaccountno")).strip()
        if not one and not (low and high):
            raise IntacctBusinessError(
                [generic_error("Provide glaccountno, or startaccountno and endaccountno.", "Name the accounts.")]
            )
        rows = [
            row
            for row in self._ledger_rows(out, body, session)
            if (row["glaccountno"] == one if one else low <= row["glaccountno"] <= high)
        ]
        parts = [f'<data listtype="accountbalance" count="{len(rows)}">']
        for row in rows:
            period = row["debits"] - row["credits"]
            parts.append(
                f"<accountbalance><glaccountno>{esc(row['glaccountno'])}</glaccountno>"
                f"<startbalance>{row['startbalance']:f}</startbalance><periodbalance>{period:f}</periodbalance>"
                f"<endbalance>{row['endbalance']:f}</endbalance><currency>{esc(row['currency'])}</currency>"
                "</accountbalance>"
            )
        parts.append("</data>")
        out.body = "".join(parts)

    def _ledger_rows(self, out: FunctionOutcome, body: dict[str, Any], session: Session) -> list[dict[str, Any]]:
        """Shared by get_trialbalance and get_accountbalances: dates, entity, then ledger.trial_balance."""
        out.queries = 1
        if body.get("reportingperiodname") is not None:
            raise IntacctBusinessError(
                [generic_error("reportingperiodname is not modelled by the sandbox.", "Use startdate and enddate.")]
            )
        unsupported = [
            key
            for key in ("departmentid", "projectid", "customerid", "vendorid", "employeeid", "itemid", "classid")
            if text_of(body.get(key)).strip()
        ]
        if unsupported:
            raise IntacctBusinessError([generic_error(f"The sandbox does not filter by {', '.join(unsupported)}.")])
        start = _split_date(body.get("startdate"), "startdate")
        end = _split_date(body.get("enddate"), "enddate")
        entity = text_of(body.get("locationid")).strip() or session.entity
        if entity and self.state.entity(entity) is None:
            raise IntacctBusinessError([generic_error(f"Invalid locationid {entity}.", "Use an entity id.")])
        ledger.check_entity(self.state, entity)
        iso = [date(int(t[6:10]), int(t[0:2]), int(t[3:5])).isoformat() for t in (start, end)]
        return ledger.trial_balance(
            self.state, iso[0], iso[1], entity=entity, show_zero=self._flag(body.get("showzerobalances"))
        )

    # -- legacy AR adjustment (credit and debit memo) functions --------------------------------------
    def _create_adjustment(self, out: FunctionOutcome, body: dict[str, Any], session: Session, side: str) -> None:
        object_name = f"{side}ADJUSTMENT"
        rec = self.state.create(object_name, _legacy_adjustment_fields(body, side), entity_id=session.entity)
        out.body = f"<key>{rec['RECORDNO']}</key>"
        out.records_written = 1

    def _update_adjustment(self, out: FunctionOutcome, body: dict[str, Any], session: Session, side: str) -> None:
        object_name = f"{side}ADJUSTMENT"
        label = "AR Adjustment" if side == "AR" else "AP Adjustment"
        key = text_of(body.get("@key")).strip()
        current = self.state.get(object_name, int(key)) if key.isdigit() else None
        if current is None:
            raise IntacctBusinessError(
                [
                    generic_error(f"{label} {key or '(no key)'} does not exist."),
                    generic_error(f"Could not update {label} record!"),
                ]
            )
        fields = _legacy_adjustment_fields(body, side, partial=True)
        fields["RECORDNO"] = key
        items = body.get(f"update{side.lower()}adjustmentitems")
        if isinstance(items, dict):
            fields[f"{object_name}ITEMS"] = _updated_lines(current.get(f"{object_name}ITEMS", []), items, key)
        rec = self.state.update(object_name, fields, entity_id=session.entity)
        out.body = f"<key>{rec['RECORDNO']}</key>"
        out.records_written = 1

    def _delete_adjustment(self, out: FunctionOutcome, body: dict[str, Any], session: Session, side: str) -> None:
        key = text_of(body.get("@key")).strip()
        if not key:
            raise IntacctBusinessError([generic_error(f"delete_{side.lower()}adjustment needs key=RECORDNO.")])
        self.state.delete(f"{side}ADJUSTMENT", key, entity_id=session.entity)
        out.body = f"<key>{esc(key)}</key>"
        out.records_written = 1

    def _fn_create_apadjustment(
        self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool
    ) -> None:
        """create_apadjustment: like create_aradjustment; a negative total lowers what is owed."""
        self._create_adjustment(out, body, session, "AP")

    def _fn_update_apadjustment(
        self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool
    ) -> None:
        self._update_adjustment(out, body, session, "AP")

    def _fn_delete_apadjustment(
        self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool
    ) -> None:
        self._delete_adjustment(out, body, session, "AP")

    def _fn_create_aradjustment(
        self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool
    ) -> None:
        """create_aradjustment (I-ARADJ): negative line amounts make a credit memo, positive a debit memo."""
        self._create_adjustment(out, body, session, "AR")

    def _fn_update_aradjustment(
        self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool
    ) -> None:
        """update_aradjustment key=..: header fields, ``updatelineitem line_num`` changes, ``lineitem`` adds."""
        self._update_adjustment(out, body, session, "AR")

    def _fn_delete_aradjustment(
        self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool
    ) -> None:
        self._delete_adjustment(out, body, session, "AR")

    # -- legacy AR payment functions ---------------------------------------------------------------
    def _fn_apply_arpayment(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        """apply_arpayment (I-ARP): apply an overpayment, advance or credit memo to invoices."""
        key = text_of(body.get("arpaymentkey")).strip()
        if not key.isdigit():
            raise IntacctBusinessError([generic_error("apply_arpayment needs <arpaymentkey>.")])
        wrapper = body.get("arpaymentitems")
        raw_items = as_list(wrapper.get("arpaymentitem")) if isinstance(wrapper, dict) else []
        items: list[tuple[int, Decimal]] = []
        for item in raw_items:
            invoice_key = text_of(item.get("invoicekey") if isinstance(item, dict) else "").strip()
            amount = text_of(item.get("amount") if isinstance(item, dict) else "").strip()
            if not invoice_key.isdigit():
                raise IntacctBusinessError([generic_error("Each <arpaymentitem> needs an <invoicekey>.")])
            try:
                items.append((int(invoice_key), Decimal(amount)))
            except ArithmeticError:
                raise IntacctBusinessError([generic_error(f"Invalid amount {amount!r} in <arpaymentitem>.")]) from None
        if not items:
            raise IntacctBusinessError([generic_error("apply_arpayment needs at least one <arpaymentitem>.")])
        rec = self.state.apply_arpayment(
            int(key),
            _split_date(body.get("paymentdate"), "paymentdate"),
            items,
            memo=text_of(body.get("memo")),
            entity_id=session.entity,
        )
        out.body = f"<key>{rec['RECORDNO']}</key>"
        out.records_written = 1

    def _fn_reverse_arpayment(self, out: FunctionOutcome, body: dict[str, Any], session: Session, alone: bool) -> None:
        key = text_of(body.get("@key")).strip()
        if not key.isdigit():
            raise IntacctBusinessError([generic_error("reverse_arpayment needs key=RECORDNO.")])
        rec = self.state.reverse_arpayment(
            int(key), _split_date(body.get("datereversed"), "datereversed"), entity_id=session.entity
        )
        out.body = f"<key>{rec['RECORDNO']}</key>"
        out.records_written = 1


def _aggregate(records: list[Record], group_by: list[str], aggregates: list[tuple[str, str]]) -> list[Record]:
    """One row per distinct ``group_by`` value (one row overall without it), in first-seen order.

    Each aggregate lands in a ``FUNCTION.FIELD`` column (``COUNT.RECORDNO``, ``SUM.TOTALDUE``):
    sandbox choice, Intacct documents aggregates but shows no response. Sums of money are exact;
    an average is rounded half-up to cents; empty values are skipped, as SQL aggregates do.
    """
    groups: dict[tuple[str, ...], list[Record]] = {}
    for rec in records:
        key = tuple("" if field_value(rec, f) is None else str(field_value(rec, f)) for f in group_by)
        groups.setdefault(key, []).append(rec)
    if not groups and not group_by:
        groups[()] = []
    rows: list[Record] = []
    for key, members in groups.items():
        row: Record = {}
        for name, value in zip(group_by, key, strict=True):
            row[name] = field_value(members[0], name) if members else value
        for function, name in aggregates:
            values = [field_value(r, name) for r in members]
            present = [v for v in values if v not in (None, "")]
            column = f"{function.upper()}.{name}"
            if function == "count":
                row[column] = len(present)
            elif not present:
                row[column] = None
            elif function in ("sum", "avg"):
                total = sum((Decimal(str(v)) for v in present), Decimal(0))
                row[column] = total if function == "sum" else cents(total / len(present))
            else:
                typed = sorted(present, key=lambda v: Decimal(str(v)) if name in NUMERIC_FIELDS else str(v))
                row[column] = typed[0] if function == "min" else typed[-1]
        rows.append(row)
    return rows


def _datatype(spec: ObjectSpec, name: str) -> str:
    if name in NUMERIC_FIELDS:
        return "INTEGER" if name in ("RECORDNO", "LINE_NO", "BATCHNO") else "DECIMAL"
    if spec.is_datetime(name):
        return "TIMESTAMP"
    if spec.is_date(name):
        return "DATE"
    if name == "STATUS":
        return "ENUM"
    return "TEXT"


class _Replayed(FunctionOutcome):
    """A uniqueid replay: the stored <result> exactly as first returned."""

    def __init__(self, name: str, controlid: str, original_xml: str) -> None:
        super().__init__(name, controlid, "success", replayed=True)
        self._original = original_xml

    def xml(self) -> str:
        return self._original


_LEGACY_HEADER = {
    "customerid": "CUSTOMERID",
    "termname": "TERMNAME",
    "action": "ACTION",
    "invoiceno": "RECORDID",
    "ponumber": "DOCNUMBER",
    "description": "DESCRIPTION",
    "externalid": "EXTERNALID",
    "basecurr": "BASECURR",
    "currency": "CURRENCY",
    "exchratetype": "EXCH_RATE_TYPE_ID",
    "exchrate": "EXCHANGE_RATE",
}
_LEGACY_DATES = {
    "datecreated": "WHENCREATED",
    "dateposted": "WHENPOSTED",
    "datedue": "WHENDUE",
    "exchratedate": "EXCH_RATE_DATE",
}
_LEGACY_LINE = {
    "glaccountno": "ACCOUNTNO",
    "amount": "TRX_AMOUNT",
    "memo": "ENTRYDESCRIPTION",
    "locationid": "LOCATIONID",
    "departmentid": "DEPARTMENTID",
    "classid": "CLASSID",
}


def _split_date(value: Any, element: str) -> str:
    """Legacy ``<year><month><day>`` -> ``MM/DD/YYYY`` (validated later like any date)."""
    if not isinstance(value, dict):
        raise IntacctBusinessError([generic_error(f"<{element}> needs <year>, <month> and <day>.")])
    year, month, day = (text_of(value.get(k)).strip() for k in ("year", "month", "day"))
    try:
        return date(int(year), int(month), int(day)).strftime("%m/%d/%Y")
    except ValueError:
        raise IntacctBusinessError(
            [generic_error(f"Invalid date {year}-{month}-{day} in <{element}>.", "Use a real calendar date.")]
        ) from None


def _updated_lines(current: list[dict[str, Any]], items: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``updatelineitem line_num=..`` edits an existing line; ``lineitem`` appends one."""
    lines = [dict(line) for line in current]
    for upd in as_list(items.get("updatelineitem")):
        if not isinstance(upd, dict):
            continue
        line_num = text_of(upd.get("@line_num")).strip()
        if not line_num.isdigit() or not 1 <= int(line_num) <= len(lines):
            raise IntacctBusinessError([generic_error(f"Invalid line_num {line_num} for record {key}.")])
        lines[int(line_num) - 1].update(_legacy_line(upd))
    for new in as_list(items.get("lineitem")):
        if isinstance(new, dict):
            lines.append(_legacy_line(new))
    for line in lines:
        for server_field in ("RECORDNO", "LINE_NO", "AMOUNT"):
            line.pop(server_field, None)
    return lines


_LEGACY_ADJUSTMENT_HEADER = {
    "customerid": "CUSTOMERID",
    "vendorid": "VENDORID",
    "adjustmentno": "RECORDID",
    "action": "ACTION",
    "invoiceno": "INVOICENO",
    "billno": "BILLNO",
    "description": "DESCRIPTION",
    "externalid": "EXTERNALID",
    "basecurr": "BASECURR",
    "currency": "CURRENCY",
    "exchratetype": "EXCH_RATE_TYPE_ID",
    "exchrate": "EXCHANGE_RATE",
    "nogl": "NOGL",
    "batchkey": "PRBATCHKEY",
}


def _legacy_adjustment_fields(body: dict[str, Any], side: str, *, partial: bool = False) -> dict[str, Any]:
    """create/update_{ar,ap}adjustment elements -> {AR,AP}ADJUSTMENT fields (amounts keep their sign).

    I-ARADJ's table says ACTION is Draft or Submit while its update sample sends ``Posted``; both
    spellings are accepted (Posted = Submit).
    """
    fields: dict[str, Any] = {}
    for source, target in _LEGACY_ADJUSTMENT_HEADER.items():
        if source in body:
            fields[target] = text_of(body[source])
    if fields.get("ACTION") == "Posted":
        fields["ACTION"] = "Submit"
    for source, target in _LEGACY_DATES.items():
        if source in body and source != "datedue":
            fields[target] = _split_date(body[source], source)
    if not partial:
        items = body.get(f"{side.lower()}adjustmentitems")
        lines = as_list(items.get("lineitem")) if isinstance(items, dict) else []
        if not lines:
            raise IntacctBusinessError([generic_error(f"{side} Adjustment must have at least 1 line.")])
        fields[f"{side}ADJUSTMENTITEMS"] = [_legacy_line(line) for line in lines if isinstance(line, dict)]
    return fields


def _legacy_line(line: dict[str, Any]) -> dict[str, Any]:
    if "accountlabel" in line:
        raise IntacctBusinessError([generic_error("accountlabel is not supported by the sandbox; use glaccountno.")])
    return {target: text_of(line[source]) for source, target in _LEGACY_LINE.items() if source in line}


def _legacy_invoice_fields(body: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for source, target in _LEGACY_HEADER.items():
        if source in body:
            fields[target] = text_of(body[source])
    for source, target in _LEGACY_DATES.items():
        if source in body:
            fields[target] = _split_date(body[source], source)
    if not partial:
        items = body.get("invoiceitems")
        lines = as_list(items.get("lineitem")) if isinstance(items, dict) else []
        fields["ARINVOICEITEMS"] = [_legacy_line(line) for line in lines if isinstance(line, dict)]
    return fields
