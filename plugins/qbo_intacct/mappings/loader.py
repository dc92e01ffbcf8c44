"""Read the finance mapping workbook into typed mappings, or stop with a full problem report.

Tables are found by their Excel table name (``ws.tables[...]``) and columns by header, so finance
can move, insert and sort freely. The workbook is loaded in openpyxl's normal mode because read-only
worksheets have no ``.tables`` (airflow-notes §4.1). Every value is read as text: an account number
typed as a number comes back as ``4000``, never ``4000.0``, and nothing read here is ever used in
arithmetic (money never lives in this workbook).

The path comes from the Airflow Variable ``qbo_intacct_mapping_workbook``; without it, the demo
workbook shipped in ``include/mappings/`` is used.
"""

from __future__ import annotations

import datetime as dt
import logging
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

from qbo_intacct.mappings.schema import TABLES, TableSpec
from qbo_intacct.mappings.validate import (
    ListStatus,
    MappingProblem,
    MappingWorkbookError,
    RawRow,
    RawTable,
    Severity,
    check_workbook,
    is_unmapped_placeholder,
)
from qbo_intacct.mappings.workbook import ListsInput, read_list_sheets

log = logging.getLogger(__name__)

WORKBOOK_VARIABLE = "qbo_intacct_mapping_workbook"
DEFAULT_WORKBOOK = Path(__file__).resolve().parents[3] / "include" / "mappings" / "qbo_intacct_mappings.xlsx"


class Direction(StrEnum):
    QBO_TO_INTACCT = "QuickBooks to Intacct"
    INTACCT_TO_QBO = "Intacct to QuickBooks"
    BOTH = "Both ways"


class ConflictRule(StrEnum):
    SYSTEM_OF_RECORD = "Follow system of record"
    REVIEW = "Always review"


class Decision(StrEnum):
    LINK = "Link"
    CREATE = "Create new"
    IGNORE = "Ignore"


@dataclass(frozen=True)
class AccountMapping:
    qbo_account: str
    entity: str | None
    intacct_gl_account: str
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class EntityRoute:
    qbo_dimension: str
    qbo_value: str
    intacct_entity: str
    intacct_location: str | None = None
    intacct_department: str | None = None
    intacct_class: str | None = None
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class Route:
    """Where a QuickBooks transaction lands in Intacct."""

    entity: str
    location: str | None = None
    department: str | None = None
    intacct_class: str | None = None


@dataclass(frozen=True)
class TermMapping:
    qbo_term: str
    intacct_term: str
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class TaxCodeMapping:
    qbo_tax_code: str
    entity: str | None
    intacct_tax_detail: str | None
    intacct_gl_account: str | None = None
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class PaymentMethodMapping:
    qbo_payment_method: str
    intacct_payment_method: str
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class BankAccountMapping:
    qbo_account: str
    entity: str | None
    intacct_financial_entity: str | None
    intacct_gl_account: str | None = None
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class CurrencyMapping:
    currency: str
    enabled: bool
    intacct_currency: str
    exchange_rate_type: str | None = None
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class FlowSetting:
    flow: str
    enabled: bool
    direction: Direction
    conflict_rule: ConflictRule
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class FieldGroupSetting:
    flow: str
    field_group: str
    system_of_record: str  # "QuickBooks", "Intacct" or "Review"
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class RecordLink:
    """Finance's decision for one record held for review (or any record they want to pin)."""

    flow: str
    source_system: str
    source_id: str
    decision: Decision
    target_id: str | None = None
    review_item: str | None = None
    decided_by: str | None = None
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class Form1099Mapping:
    """The Intacct 1099 form and box of a QuickBooks 1099 vendor (QuickBooks keeps only yes/no)."""

    qbo_1099: str
    intacct_form: str
    intacct_box: str
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class JournalSetting:
    """Where journal entries land in one entity (``entity`` None = every entity): journal and mode."""

    entity: str | None
    journal_symbol: str
    mode: str  # "Detailed" | "Summarized"
    summary_period: str | None = None  # "Month" (default) | "Day"
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class ClearingAccount:
    """The account a journal line on an Intacct control account (closed to direct posting) posts to."""

    control_account: str
    entity: str | None
    clearing_account: str
    notes: str = ""
    row: int = 0


@dataclass(frozen=True)
class BillSetting:
    """How bills cross in one entity (``entity`` None = every entity): Intacct state, line departments."""

    entity: str | None
    create_as: str  # "Submitted" | "Posted"
    line_departments: str  # "Class per line" | "Hold"
    notes: str = ""
    row: int = 0


ROW_TYPES: dict[str, type] = {
    "AccountMap": AccountMapping,
    "EntityRouting": EntityRoute,
    "TermMap": TermMapping,
    "TaxCodeMap": TaxCodeMapping,
    "PaymentMethodMap": PaymentMethodMapping,
    "BankAccountMap": BankAccountMapping,
    "CurrencyMap": CurrencyMapping,
    "FlowSettings": FlowSetting,
    "FieldGroups": FieldGroupSetting,
    "RecordLinks": RecordLink,
    "Form1099Map": Form1099Mapping,
    "JournalSettings": JournalSetting,
    "ClearingAccounts": ClearingAccount,
    "BillSettings": BillSetting,
}
_CONVERTERS: dict[str, Any] = {
    "enabled": lambda v: v == "Yes",
    "direction": Direction,
    "conflict_rule": ConflictRule,
    "decision": Decision,
}


def cell_text(value: object) -> str:
    """A cell's value as the text finance sees, without float arithmetic.

    Whole floats (Excel stores every number as a float) lose their ``.0``; other floats use the
    shortest repr that round-trips, so ``0.1`` stays ``0.1``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _find_table(wb: Workbook, name: str) -> tuple[str, str] | None:
    """(sheet title, table ref) of the table called ``name`` (Excel table names are workbook-unique)."""
    for ws in wb.worksheets:
        for table_name, ref in ws.tables.items():
            if table_name.casefold() == name.casefold():
                return ws.title, ref
    return None


def read_raw_tables(wb: Workbook) -> dict[str, RawTable]:
    """Every known mapping table present in ``wb``, with its non-blank rows as text."""
    found: dict[str, RawTable] = {}
    for spec in TABLES:
        located = _find_table(wb, spec.table)
        if located is None:
            continue
        sheet, ref = located
        ws = wb[sheet]
        min_col, min_row, max_col, max_row = range_boundaries(ref)
        headers = [cell_text(ws.cell(row=min_row, column=c).value) for c in range(min_col, max_col + 1)]
        table = RawTable(spec, sheet, min_row, headers)
        for r in range(min_row + 1, max_row + 1):
            values: dict[str, str] = {}
            cells: dict[str, str] = {}
            for offset, header in enumerate(headers):
                column = min_col + offset
                values[header] = cell_text(ws.cell(row=r, column=column).value)
                cells[header] = f"{get_column_letter(column)}{r}"
            if any(values.get(c.header) for c in spec.columns if c.header != "Notes"):
                table.rows.append(RawRow(r, values, cells))
        found[spec.table] = table
    return found


# What makes a file unusable before any sheet can be read, and what finance should do about it.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file: an encrypted .xlsx or an old .xls
_DAMAGED = (
    "the file cannot be opened as an Excel workbook ({detail}); it may be damaged or only partly copied. "
    "Open it in Excel: if Excel repairs it, save it again as Excel Workbook (.xlsx); otherwise restore the last "
    "good copy"
)


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a readable .xlsx (empty, CSV text, encrypted, old .xls), or ``None``.

    openpyxl reports all of these as a bare ``zipfile.BadZipFile``; finance needs to know which
    one it is and what to do.
    """
    size = path.stat().st_size
    if size == 0:
        return (
            "the file is empty (0 bytes), as when a save or a copy did not finish. Restore the last good copy "
            "of the workbook (your file server or OneDrive/SharePoint version history keeps one)"
        )
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if head.startswith(_ZIP_MAGIC):
        return None
    if head.startswith(_OLE_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in head or "EncryptedPackage".encode("utf-16-le") in head:
            return (
                "the workbook is protected with a password to open (encrypted), and the sync cannot read it. "
                "In Excel: File > Info > Protect Workbook > Encrypt with Password, clear the password and save. "
                "(To stop edits, protect sheets instead: that does not encrypt the file)"
            )
        return (
            "the file is in the old Excel 97-2003 format (.xls). Open it in Excel and save it as Excel Workbook (.xlsx)"
        )
    sample = head[:4096]
    if b"\x00" not in sample:
        first_line = sample.decode("utf-8", errors="replace").splitlines()[0] if sample.strip() else ""
        if any(sep in first_line for sep in (",", ";", "\t")):
            return (
                "the file is CSV text, not an Excel workbook (it was probably exported or saved as CSV and renamed "
                "to .xlsx), so every sheet but one and all tables are lost. Restore the last .xlsx copy, or open "
                "the original workbook in Excel and save it as Excel Workbook (.xlsx)"
            )
        return "the file is text, not an Excel workbook. Restore the last good .xlsx copy of the workbook"
    return _DAMAGED.format(detail="not an .xlsx file")


def formula_problems(path: Path, values: Workbook) -> list[MappingProblem]:
    """Formula cells in the mapping tables that have no calculated value saved with them.

    Excel and LibreOffice save each formula's result next to it; a file written by a program that
    does not calculate (a script, some exports) saves none, and the cell would read as blank: a
    mapping silently missing. Such a workbook is refused with the cell named. A formula *with* a
    saved result is read as that result.
    """
    formulas = load_workbook(path, read_only=True, data_only=False)
    problems: list[MappingProblem] = []
    try:
        for spec in TABLES:
            located = _find_table(values, spec.table)
            if located is None:
                continue
            sheet, ref = located
            min_col, min_row, max_col, max_row = range_boundaries(ref)
            headers = {
                c: cell_text(values[sheet].cell(row=min_row, column=c).value) for c in range(min_col, max_col + 1)
            }
            rows = formulas[sheet].iter_rows(
                min_row=min_row + 1, max_row=max_row, min_col=min_col, max_col=max_col, values_only=True
            )
            for r, row in enumerate(rows, start=min_row + 1):
                for c, value in enumerate(row, start=min_col):
                    if isinstance(value, str) and value.startswith("=") and values[sheet].cell(r, c).value is None:
                        problems.append(
                            MappingProblem(
                                sheet,
                                r,
                                headers.get(c),
                                f"the formula {value} has no calculated value saved with it (the file was last "
                                "saved by a program that does not calculate formulas), so the sync would read it "
                                "as blank. Open the workbook in Excel and save it, or type the value instead",
                                cell=f"{get_column_letter(c)}{r}",
                            )
                        )
    finally:
        formulas.close()
    return problems


def accept_code_and_name(tables: Mapping[str, RawTable], lists: Mapping[str, ListStatus]) -> None:
    """Read ``40000 - Software Revenue`` (what a coded list's dropdown offers) as the code ``40000``.

    Only in target columns of coded lists, and only when the part before `` - `` is a value of the
    list, so a code that itself contains `` - `` is never cut.
    """
    from qbo_intacct.mappings.workbook import CODE_NAME_SEPARATOR, CODED_LISTS

    for table in tables.values():
        coded = [c for c in table.spec.columns if c.list_name in CODED_LISTS and not c.source]
        for col in coded:
            known = lists.get(col.list_name or "")
            if known is None:
                continue
            for row in table.rows:
                text = row.values.get(col.header, "")
                if text and text not in known.values and CODE_NAME_SEPARATOR in text:
                    code = text.split(CODE_NAME_SEPARATOR, 1)[0].strip()
                    if code in known.values:
                        row.values[col.header] = code


def _typed_row(spec: TableSpec, row: RawRow) -> Any:
    cls = ROW_TYPES[spec.table]
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {"row": row.excel_row}
    for col in spec.columns:
        if col.attr not in names:
            continue
        text = row.get(col.header)
        convert = _CONVERTERS.get(col.attr)
        if convert is not None:
            kwargs[col.attr] = convert(text)
        elif col.attr == "notes":
            kwargs[col.attr] = text
        else:
            kwargs[col.attr] = text or None
    return cls(**kwargs)


@dataclass(frozen=True)
class MappingWorkbook:
    """The validated mappings, with the lookups the flows need.

    Lookups return ``None`` for an unmapped value; the map step turns that into a review item for
    the record (never a guess, never a default account).
    """

    path: str
    accounts: tuple[AccountMapping, ...] = ()
    routing: tuple[EntityRoute, ...] = ()
    terms: tuple[TermMapping, ...] = ()
    tax_codes: tuple[TaxCodeMapping, ...] = ()
    payment_methods: tuple[PaymentMethodMapping, ...] = ()
    bank_accounts: tuple[BankAccountMapping, ...] = ()
    currencies: tuple[CurrencyMapping, ...] = ()
    flow_settings: tuple[FlowSetting, ...] = ()
    field_groups: tuple[FieldGroupSetting, ...] = ()
    record_links: tuple[RecordLink, ...] = ()
    forms_1099: tuple[Form1099Mapping, ...] = ()
    journal_settings: tuple[JournalSetting, ...] = ()
    clearing_accounts: tuple[ClearingAccount, ...] = ()
    bill_settings: tuple[BillSetting, ...] = ()
    warnings: tuple[MappingProblem, ...] = field(default=(), compare=False)
    # Table -> source values listed without a target yet (appended by the refresh, not filled in).
    unmapped: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # Table -> source value -> Excel row of those rows (so a review item can say "row 12").
    unmapped_rows: Mapping[str, Mapping[str, int]] = field(default_factory=dict, compare=False)

    @staticmethod
    def _by_entity(rows: tuple[Any, ...], key_attr: str, key: str, entity: str | None) -> Any | None:
        fallback = None
        for row in rows:
            if getattr(row, key_attr) != key:
                continue
            if entity is not None and row.entity == entity:
                return row
            if row.entity is None:
                fallback = row
        return fallback

    def gl_account(self, qbo_account: str, entity: str | None = None) -> str | None:
        """The Intacct GL account for a QuickBooks account (the entity's own row wins over the blank one)."""
        row = self._by_entity(self.accounts, "qbo_account", qbo_account, entity)
        return None if row is None else row.intacct_gl_account

    def tax_code(self, qbo_tax_code: str, entity: str | None = None) -> TaxCodeMapping | None:
        """The tax detail or GL account for a QuickBooks tax code in an entity."""
        return self._by_entity(self.tax_codes, "qbo_tax_code", qbo_tax_code, entity)

    def bank_account(self, qbo_account: str, entity: str | None = None) -> BankAccountMapping | None:
        """The Intacct financial entity (or GL account) for a QuickBooks bank / deposit account."""
        return self._by_entity(self.bank_accounts, "qbo_account", qbo_account, entity)

    def route(self, qbo_class: str | None = None, qbo_department: str | None = None) -> Route | None:
        """Intacct entity and dimensions for a QuickBooks class / department, or ``None`` if undecidable.

        The department decides the entity. Without a department, a class with rows for a single
        entity decides it, otherwise the ``Default`` row does. A department that is unmapped, or
        routed to several entities, decides nothing (the document is held for review); it never
        falls back to the default. Then the department row gives the location, and the class row
        for that entity gives the department and class (falling back to the department row's).
        """
        by_department = [r for r in self.routing if r.qbo_dimension == "Department" and r.qbo_value == qbo_department]
        by_class = [r for r in self.routing if r.qbo_dimension == "Class" and r.qbo_value == qbo_class]
        if qbo_department:
            entities = {r.intacct_entity for r in by_department}
        else:
            entities = {r.intacct_entity for r in by_class}
            if len(entities) != 1:
                entities = {r.intacct_entity for r in self.routing if r.qbo_dimension == "Default"}
        if len(entities) != 1:
            return None
        (entity,) = entities
        dept_row = next((r for r in by_department if r.intacct_entity == entity), None)
        class_row = next((r for r in by_class if r.intacct_entity == entity), None)

        def pick(attr: str, first: EntityRoute | None, second: EntityRoute | None) -> str | None:
            for row in (first, second):
                if row is not None and getattr(row, attr):
                    return getattr(row, attr)
            return None

        return Route(
            entity=entity,
            location=pick("intacct_location", dept_row, class_row),
            department=pick("intacct_department", class_row, dept_row),
            intacct_class=pick("intacct_class", class_row, dept_row),
        )

    def term(self, qbo_term: str) -> str | None:
        return next((m.intacct_term for m in self.terms if m.qbo_term == qbo_term), None)

    def payment_method(self, qbo_payment_method: str) -> str | None:
        return next(
            (m.intacct_payment_method for m in self.payment_methods if m.qbo_payment_method == qbo_payment_method),
            None,
        )

    def currency(self, code: str) -> CurrencyMapping | None:
        return next((c for c in self.currencies if c.currency == code), None)

    @property
    def enabled_currencies(self) -> frozenset[str]:
        return frozenset(c.currency for c in self.currencies if c.enabled)

    def flow(self, flow: str) -> FlowSetting | None:
        return next((s for s in self.flow_settings if s.flow == flow), None)

    def systems_of_record(self, flow: str) -> dict[str, str]:
        """Field group -> "QuickBooks" / "Intacct" / "Review" for one flow."""
        return {g.field_group: g.system_of_record for g in self.field_groups if g.flow == flow}

    def form_1099(self) -> tuple[str, str] | None:
        """(Intacct form, box) of a QuickBooks 1099 vendor, or ``None`` when the 1099 Forms sheet has no 'Yes' row."""
        for row in self.forms_1099:
            if row.qbo_1099 == "Yes":
                return row.intacct_form, row.intacct_box
        return None

    def journal_setting(self, entity: str) -> JournalSetting | None:
        """The entity's Journals row, else the blank-entity row, else ``None`` (entries are held)."""
        own = next((r for r in self.journal_settings if r.entity == entity), None)
        return own or next((r for r in self.journal_settings if r.entity is None), None)

    def clearing_account(self, control_account: str, entity: str | None = None) -> str | None:
        """The clearing account for a control account in an entity (the entity's row wins)."""
        row = self._by_entity(self.clearing_accounts, "control_account", control_account, entity)
        return None if row is None else row.clearing_account

    def bill_setting(self, entity: str) -> BillSetting | None:
        """The entity's Bills row, else the blank-entity row, else ``None`` (the flow's defaults)."""
        own = next((r for r in self.bill_settings if r.entity == entity), None)
        return own or next((r for r in self.bill_settings if r.entity is None), None)

    def links_for(self, flow: str) -> list[RecordLink]:
        return [r for r in self.record_links if r.flow == flow]

    def frame(self, table: str) -> pd.DataFrame:
        """One mapping as a DataFrame (string columns), for merges in a flow's map step."""
        attr = {
            "AccountMap": "accounts",
            "EntityRouting": "routing",
            "TermMap": "terms",
            "TaxCodeMap": "tax_codes",
            "PaymentMethodMap": "payment_methods",
            "BankAccountMap": "bank_accounts",
            "CurrencyMap": "currencies",
            "FlowSettings": "flow_settings",
            "FieldGroups": "field_groups",
            "RecordLinks": "record_links",
            "Form1099Map": "forms_1099",
            "JournalSettings": "journal_settings",
            "ClearingAccounts": "clearing_accounts",
            "BillSettings": "bill_settings",
        }[table]
        cls = ROW_TYPES[table]
        rows = [{f.name: getattr(r, f.name) for f in fields(cls)} for r in getattr(self, attr)]
        return pd.DataFrame(rows, columns=[f.name for f in fields(cls)])


def _list_status(wb: Workbook, qbo_lists: ListsInput | None, intacct_lists: ListsInput | None) -> dict[str, ListStatus]:
    from qbo_intacct.mappings.schema import CHOICES

    status = {name: ListStatus.from_entries(entries) for name, entries in read_list_sheets(wb).items()}
    # Choices are fixed in code: a workbook whose Choices sheet was edited is still checked correctly.
    for name, values in CHOICES.items():
        status[name] = ListStatus(frozenset(values), frozenset(values))
    for given in (qbo_lists, intacct_lists):
        for name, entries in (given or {}).items():
            status[name] = ListStatus.from_entries(entries)
    return status


def inspect_workbook(
    path: Path | str, *, qbo_lists: ListsInput | None = None, intacct_lists: ListsInput | None = None
) -> tuple[MappingWorkbook | None, list[MappingProblem]]:
    """Read and check the workbook; the mappings are ``None`` when any error was found.

    Live lists passed here (from the hooks) take precedence over the Lists sheets, so a flow can
    check targets against Intacct as it is now rather than as of the last refresh.
    """
    path = Path(path)
    if not path.exists():
        return None, [MappingProblem("", None, None, f"the mapping workbook {path} does not exist")]
    unusable = file_problem(path)
    if unusable is not None:
        return None, [MappingProblem("", None, None, unusable)]
    try:
        wb = load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as exc:
        return None, [MappingProblem("", None, None, _DAMAGED.format(detail=f"{type(exc).__name__}: {exc}"))]
    tables = read_raw_tables(wb)
    uncalculated = formula_problems(path, wb)
    if uncalculated:
        return None, uncalculated
    lists = _list_status(wb, qbo_lists, intacct_lists)
    accept_code_and_name(tables, lists)
    problems = check_workbook(tables, lists)
    if any(p.severity is Severity.ERROR for p in problems):
        return None, problems
    typed = {
        name: tuple(_typed_row(t.spec, r) for r in t.rows if not is_unmapped_placeholder(t.spec, r))
        for name, t in tables.items()
    }
    unmapped = {
        name: tuple(r.get(t.spec.columns[0].header) for r in t.rows if is_unmapped_placeholder(t.spec, r))
        for name, t in tables.items()
    }
    warnings = tuple(p for p in problems if p.severity is Severity.WARNING)
    for warning in warnings:
        # Every task loads the workbook; the run says the gaps once (report_gaps, in its first task).
        log.debug("mapping workbook: %s", warning)
    return (
        MappingWorkbook(
            path=str(path),
            accounts=typed["AccountMap"],
            routing=typed["EntityRouting"],
            terms=typed["TermMap"],
            tax_codes=typed["TaxCodeMap"],
            payment_methods=typed["PaymentMethodMap"],
            bank_accounts=typed["BankAccountMap"],
            currencies=typed["CurrencyMap"],
            flow_settings=typed["FlowSettings"],
            field_groups=typed["FieldGroups"],
            record_links=typed["RecordLinks"],
            forms_1099=typed.get("Form1099Map", ()),
            journal_settings=typed.get("JournalSettings", ()),
            clearing_accounts=typed.get("ClearingAccounts", ()),
            bill_settings=typed.get("BillSettings", ()),
            warnings=warnings,
            unmapped={k: v for k, v in unmapped.items() if v},
            unmapped_rows={
                name: {
                    r.get(t.spec.columns[0].header): r.excel_row for r in t.rows if is_unmapped_placeholder(t.spec, r)
                }
                for name, t in tables.items()
                if unmapped.get(name)
            },
        ),
        problems,
    )


#: One wording for the health check, the refresh summary and the run logs.
WAITING_FOR_TARGET = "values waiting for a target"


def waiting_for_target(mappings: MappingWorkbook) -> int:
    """Rows listed on a mapping sheet whose target finance has not filled in yet (one count everywhere)."""
    return sum(len(values) for values in mappings.unmapped.values())


def report_gaps(mappings: MappingWorkbook, logger: logging.Logger | None = None) -> list[str]:
    """Log, once per run, each value the workbook lists without a target yet (and other warnings).

    Returns the lines. A flow calls it in its first task; later tasks load the workbook quietly.
    """
    lines = [str(w) for w in mappings.warnings]
    target = logger or log
    if lines:
        target.info("mapping workbook %s: %s: %d (records that need them are held for review):",
                    Path(mappings.path).name, WAITING_FOR_TARGET, waiting_for_target(mappings))  # fmt: skip
        for line in lines:
            target.info("  %s", line)
    return lines


def load_mappings(
    path: Path | str | None = None,
    *,
    qbo_lists: ListsInput | None = None,
    intacct_lists: ListsInput | None = None,
) -> MappingWorkbook:
    """The validated mappings; raises :class:`MappingWorkbookError` listing every problem otherwise."""
    resolved = Path(path) if path is not None else mapping_workbook_path()
    mappings, problems = inspect_workbook(resolved, qbo_lists=qbo_lists, intacct_lists=intacct_lists)
    if mappings is None:
        raise MappingWorkbookError(str(resolved), problems)
    return mappings


def mapping_workbook_path(variables: Mapping[str, str] | None = None) -> Path:
    """The workbook path from the Airflow Variable ``qbo_intacct_mapping_workbook``, else the demo one.

    Call it inside a task (Variables are read at run time, never at DAG parse time). ``variables``
    lets a caller that already holds the value skip the lookup.
    """
    if variables is not None and variables.get(WORKBOOK_VARIABLE):
        return Path(variables[WORKBOOK_VARIABLE])
    from airflow.sdk import Variable

    value = Variable.get(WORKBOOK_VARIABLE, default=None)
    return Path(value) if value else DEFAULT_WORKBOOK
