"""Build the finance mapping workbook: Instructions, one sheet and Excel table per mapping, Lists sheets.

The workbook is the one place finance decides how QuickBooks maps onto Intacct. Its layout is
described once in :mod:`qbo_intacct.mappings.schema`; this module writes it with openpyxl.

What finance should know about the file this writes:

- Every mapping is an Excel table (Insert > Table) on its own sheet. Add rows inside the table; the
  sync reads tables by name and columns by header, so moving or inserting columns is safe, renaming
  a header is not.
- Target columns have dropdowns fed by the hidden, protected ``Lists Intacct`` / ``Lists QuickBooks`` /
  ``Choices`` sheets through workbook names (e.g. ``IntacctGLAccounts``), each dropdown only its own
  list; coded lists show ``40000 - Software Revenue`` and the loader accepts that or the code. Target
  columns show an input prompt. The lists are rewritten by the refresh DAG.
- A row with a source value and no target yet is highlighted yellow by conditional formatting, so the
  highlight goes away as soon as finance fills the target in.
- Every mapping sheet prints landscape, one page wide, header row repeated; the instructions wrap.

Every string that came from an API is written through :func:`write_text`: a name such as
``=HYPERLINK(...)`` in QuickBooks must reach Excel as text, never as a formula (airflow-notes §4.3).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from qbo_intacct.mappings.schema import (
    ALL_LISTS,
    CHOICES,
    FIELD_GROUPS,
    FLOWS,
    INTACCT_LISTS,
    LIST_SHEETS,
    QBO_LISTS,
    TABLES,
    ListSide,
    ListSpec,
    TableSpec,
)

# Rows waiting for finance: light yellow, like Excel's "Neutral" style. Applied by conditional
# formatting (a row with a source value and every target blank), so it goes away once finance fills
# the target in, and comes back if they clear it.
UNMAPPED_FILL = PatternFill(fill_type="solid", start_color="FFFFEB9C", end_color="FFFFEB9C", bgColor="FFFFEB9C")
HEADER_FONT = Font(bold=True)
WRAP = Alignment(wrap_text=True, vertical="top")
# Dropdowns cover this many rows below the header; a refresh extends them when a table grows past it.
DROPDOWN_ROWS = 2000
LIST_COLUMNS_PER_LIST = 4  # value, name, active, what the dropdown shows
# Lists whose values are codes with a name beside them: the dropdown shows "40000 - Software Revenue"
# and the loader accepts either that or the bare code (see loader.accept_code_and_name).
CODED_LISTS = frozenset(
    {
        "IntacctEntities",
        "IntacctGLAccounts",
        "IntacctLocations",
        "IntacctDepartments",
        "IntacctClasses",
        "IntacctFinancialEntities",
        "IntacctTaxDetails",
    }
)
CODE_NAME_SEPARATOR = " - "


def list_headers(spec: ListSpec) -> tuple[str, str, str, str]:
    """Plain headers of one list's four columns on its Lists sheet (also how the loader finds it)."""
    return (spec.title, f"{spec.title}: name", f"{spec.title}: active", f"{spec.title}: shown in dropdown")


def _legacy_headers(spec: ListSpec) -> tuple[str, str, str]:
    """Headers of workbooks written before the plain ones (still read, rewritten at the next refresh)."""
    return (spec.name, f"{spec.name} Name", f"{spec.name} Active")


def dropdown_text(spec: ListSpec, entry: ListEntry) -> str:
    """What the dropdown offers for ``entry``: ``code - name`` for coded lists with a name, else the value."""
    if spec.name in CODED_LISTS and entry.name and entry.name != entry.value:
        return f"{entry.value}{CODE_NAME_SEPARATOR}{entry.name}"
    return entry.value


@dataclass(frozen=True)
class ListEntry:
    """One value of a live list: the ID that goes into the mapping, its display name, and status.

    ``active`` matters to the validator: a mapping that points at an inactive Intacct account would
    be rejected by Intacct at posting time, so the workbook is rejected first.
    """

    value: str
    name: str = ""
    active: bool = True


ListsInput = Mapping[str, Iterable["ListEntry | str | Mapping[str, Any]"]]


def as_list_entry(item: ListEntry | str | Mapping[str, Any]) -> ListEntry:
    """Accept a ``ListEntry``, a bare value, or ``{"value", "name", "active"}`` (what a hook frame gives)."""
    if isinstance(item, ListEntry):
        return item
    if isinstance(item, str):
        return ListEntry(item)
    active = item.get("active", True)
    if isinstance(active, str):
        active = active.strip().lower() not in {"false", "no", "inactive", "0"}
    return ListEntry(str(item["value"]), str(item.get("name") or ""), bool(active))


def clean_text(value: str) -> str:
    """Drop the control characters openpyxl refuses (``IllegalCharacterError``), e.g. ``\\x0b`` in a memo."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def write_text(ws: Worksheet, row: int, column: int, value: str) -> Cell:
    """Write ``value`` as literal text, whatever its first character.

    openpyxl binds any string starting with ``=`` as a formula; ``data_type = "s"`` stops that, and
    ``quotePrefix`` keeps Excel treating it as text after a user edits the cell (airflow-notes §4.3).
    """
    cell = ws.cell(row=row, column=column, value=clean_text(value))
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def write_value(ws: Worksheet, row: int, column: int, value: object) -> Cell:
    """Write a mapping value: text through :func:`write_text`, booleans as Yes/No, ``None`` as empty."""
    if value is None or value == "":
        cell = ws.cell(row=row, column=column)
        cell.value = None
        return cell
    if isinstance(value, bool):
        return write_text(ws, row, column, "Yes" if value else "No")
    return write_text(ws, row, column, str(value))


def save_atomically(wb: Workbook, path: Path) -> None:
    """Save next to ``path`` and rename, so a crash mid-save never leaves finance a truncated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# Lists sheets
# ---------------------------------------------------------------------------------------------


def _specs_on(side: ListSide) -> tuple[ListSpec, ...]:
    return tuple(s for s in ALL_LISTS.values() if s.side is side)


def write_list_sheet(wb: Workbook, side: ListSide, lists: Mapping[str, Iterable[ListEntry]]) -> None:
    """(Re)write one Lists sheet wholesale and point each list's workbook name at its dropdown column.

    Each list takes four columns (value, name, active, what the dropdown shows) under plain headers,
    with a blank column between lists. The sheet is hidden and protected: finance never edits it
    (the refresh rewrites it), and a dropdown must offer only its own list. Unhide it (right-click a
    sheet tab > Unhide) to see why an old mapping is rejected (inactive values stay listed).
    """
    title = LIST_SHEETS[side]
    if title in wb.sheetnames:
        ws = wb[title]
        ws.delete_rows(1, ws.max_row)
        ws.delete_cols(1, ws.max_column)
    else:
        ws = wb.create_sheet(title)
    for index, spec in enumerate(_specs_on(side)):
        first_col = 1 + index * (LIST_COLUMNS_PER_LIST + 1)
        for offset, header in enumerate(list_headers(spec)):
            cell = ws.cell(row=1, column=first_col + offset, value=header)
            cell.font = HEADER_FONT
            cell.alignment = WRAP
            ws.column_dimensions[get_column_letter(first_col + offset)].width = (18, 30, 8, 40)[offset]
        entries = sorted(lists.get(spec.name, ()), key=lambda e: (not e.active, e.value.casefold()))
        for row, entry in enumerate(entries, start=2):
            write_text(ws, row, first_col, entry.value)
            write_value(ws, row, first_col + 1, entry.name or None)
            write_text(ws, row, first_col + 2, "Yes" if entry.active else "No")
            write_text(ws, row, first_col + 3, dropdown_text(spec, entry))
        # Only active values are offered in the dropdown (they are sorted first); inactive ones stay
        # on the sheet so finance sees why an old mapping is rejected.
        active_count = sum(1 for e in entries if e.active)
        last_row = max(2, 1 + active_count)
        col = get_column_letter(first_col + 3)
        ref = f"{quote_sheetname(title)}!${col}$2:${col}${last_row}"
        if spec.name in wb.defined_names:
            del wb.defined_names[spec.name]
        wb.defined_names[spec.name] = DefinedName(spec.name, attr_text=ref)
    ws.row_dimensions[1].height = 30
    ws.freeze_panes = "A2"
    ws.sheet_state = "hidden"
    ws.protection.sheet = True  # no password: protection against slips, not a secret


def read_list_sheets(wb: Workbook) -> dict[str, list[ListEntry]]:
    """Every list on the Lists sheets, found by header text; lists whose sheet is missing are absent."""
    found: dict[str, list[ListEntry]] = {}
    for side in ListSide:
        title = LIST_SHEETS[side]
        if title not in wb.sheetnames:
            continue
        ws = wb[title]
        headers = {str(c.value): c.column for c in ws[1] if c.value is not None}
        for spec in _specs_on(side):
            plain, legacy = list_headers(spec), _legacy_headers(spec)
            names = plain if plain[0] in headers else legacy
            col = headers.get(names[0])
            if col is None:
                continue
            name_col = headers.get(names[1])
            active_col = headers.get(names[2])
            entries: list[ListEntry] = []
            for row in range(2, ws.max_row + 1):
                value = ws.cell(row=row, column=col).value
                if value is None or str(value).strip() == "":
                    continue
                name = ws.cell(row=row, column=name_col).value if name_col else None
                active = ws.cell(row=row, column=active_col).value if active_col else "Yes"
                entries.append(
                    ListEntry(str(value).strip(), "" if name is None else str(name), str(active).strip() != "No")
                )
            found[spec.name] = entries
    return found


def _choices_lists() -> dict[str, list[ListEntry]]:
    return {name: [ListEntry(v) for v in values] for name, values in CHOICES.items()}


def normalize_lists(lists: ListsInput | None, side: ListSide) -> dict[str, list[ListEntry]]:
    """Validate list names against the schema (a typo would silently empty a dropdown) and coerce entries."""
    known = {s.name for s in _specs_on(side)}
    out: dict[str, list[ListEntry]] = {}
    for name, items in (lists or {}).items():
        if name not in known:
            raise KeyError(f"unknown {side.value} list {name!r}; expected one of {sorted(known)}")
        out[name] = [as_list_entry(i) for i in items]
    return out


# ---------------------------------------------------------------------------------------------
# Mapping sheets
# ---------------------------------------------------------------------------------------------


def _targets(spec: TableSpec) -> list[str]:
    """The columns finance fills in for a row the refresh added: Intacct-side list columns (not the
    optional ``Entity`` qualifier, which narrows a row to one entity)."""
    return [
        c.header
        for c in spec.columns
        if c.list_name and not c.source and ALL_LISTS[c.list_name].side is ListSide.INTACCT and c.header != "Entity"
    ]


def _prompt(spec: TableSpec, header: str) -> tuple[str, str]:
    col = spec.column(header)
    listed = ALL_LISTS[col.list_name].title if col.list_name else ""
    if col.list_name in CODED_LISTS:
        text = f"Pick from the list of {listed} (code - name), or type the code."
    else:
        text = f"Pick from the list of {listed}."
    if col.note:
        text += f" {col.note}"
    if not col.required:
        text += " May stay blank."
    return header[:32], text[:255]  # Excel's limits for an input message


def apply_dropdowns(ws: Worksheet, spec: TableSpec, header_row: int, columns: Mapping[str, int], last_row: int) -> None:
    """Replace the sheet's dropdowns, input prompts, highlights and print area for the table's size.

    ``columns`` maps header -> column number as found on the sheet, so a column finance moved keeps
    its own dropdown. Source columns accept values that are not (or no longer) in the list, since a
    QuickBooks value may have been made inactive; target and choice columns refuse anything else.
    A refresh that grows a table calls this again.
    """
    ws.data_validations.dataValidation = []
    bottom = max(last_row, header_row) + DROPDOWN_ROWS
    for col in spec.columns:
        if col.list_name is None or col.header not in columns:
            continue
        letter = get_column_letter(columns[col.header])
        title, prompt = _prompt(spec, col.header)
        dv = DataValidation(
            type="list",
            formula1=col.list_name,  # OOXML stores formulas without the leading "="
            allow_blank=not col.required,
            showErrorMessage=not col.source,
            errorTitle=f"Not a valid {col.header}"[:32],
            error=f"Pick a value from the list ({ALL_LISTS[col.list_name].title}).",
            showInputMessage=not col.source,
            promptTitle=title if not col.source else None,
            prompt=prompt if not col.source else None,
        )
        dv.add(f"{letter}{header_row + 1}:{letter}{bottom}")
        ws.add_data_validation(dv)
    _apply_highlight(ws, spec, header_row, columns, bottom)
    _apply_print_setup(ws, header_row, max(columns.values(), default=1), last_row)


def _apply_highlight(ws: Worksheet, spec: TableSpec, header_row: int, columns: Mapping[str, int], bottom: int) -> None:
    """Yellow target cells on rows that have a source value and no target yet (conditional formatting)."""
    ws.conditional_formatting = ConditionalFormattingList()
    targets = [columns[h] for h in _targets(spec) if h in columns]
    source = next((columns[h] for h in spec.source_columns if h in columns), None)
    if not targets or source is None:
        return
    first = header_row + 1
    blank = ",".join(f'${get_column_letter(c)}{first}=""' for c in targets)
    formula = f'AND(${get_column_letter(source)}{first}<>"",{blank})'
    ranges = " ".join(f"{get_column_letter(c)}{first}:{get_column_letter(c)}{bottom}" for c in targets)
    ws.conditional_formatting.add(ranges, FormulaRule(formula=[formula], fill=UNMAPPED_FILL, stopIfTrue=False))


def _apply_print_setup(ws: Worksheet, header_row: int, last_col: int, last_row: int) -> None:
    """Landscape A4, one page wide, the header row repeated on every page, the table as print area."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_area = f"A1:{get_column_letter(last_col)}{max(last_row, header_row + 1)}"
    ws.print_options.gridLines = True


def _write_mapping_sheet(wb: Workbook, spec: TableSpec, rows: Iterable[Mapping[str, object]]) -> None:
    ws = wb.create_sheet(spec.sheet)
    for col_index, col in enumerate(spec.columns, start=1):
        cell = ws.cell(row=1, column=col_index, value=col.header)
        cell.font = HEADER_FONT
        # Wide enough for the header and the dropdown's arrow: no "QuickBooks Payment Me..." headers.
        ws.column_dimensions[get_column_letter(col_index)].width = max(col.width, len(col.header) + 6)
    by_attr = {c.attr: c.header for c in spec.columns}
    row_number = 1
    for row_number, row in enumerate(rows, start=2):
        for col_index, col in enumerate(spec.columns, start=1):
            value = row.get(col.header, row.get(col.attr))
            write_value(ws, row_number, col_index, value)
        unknown = set(row) - set(spec.headers) - set(by_attr)
        if unknown:
            raise KeyError(f"{spec.table}: unknown columns {sorted(unknown)}")
    # An Excel table needs at least one data row; an empty mapping gets one blank row.
    last_row = max(row_number, 2)
    last_col = get_column_letter(len(spec.columns))
    table = Table(displayName=spec.table, ref=f"A1:{last_col}{last_row}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(table)
    ws.freeze_panes = "B2"
    columns = {col.header: index for index, col in enumerate(spec.columns, start=1)}
    apply_dropdowns(ws, spec, header_row=1, columns=columns, last_row=last_row)


INSTRUCTIONS_WIDTH = 110  # characters; with wrapping and fit-to-width, a paragraph prints as a paragraph


def _write_instructions(wb: Workbook) -> None:
    ws = wb.active
    ws.title = "Instructions"
    paragraphs: list[tuple[str, bool]] = [
        ("QuickBooks Online <-> Sage Intacct: finance mapping workbook", True),
        (
            "Finance owns this file. The sync reads it at the start of every run and stops, with a report naming "
            "sheet, row and column, if anything is wrong: it never syncs half-mapped data.",
            False,
        ),
        ("How to fill it in", True),
        (
            "1. The refresh DAG (qbo_intacct_refresh_mappings) adds a row for every QuickBooks value that has no "
            "mapping yet. Its target cells show in yellow until you fill them in from the dropdown (pick "
            "'40000 - Software Revenue', or type the code); nothing else is needed.",
            False,
        ),
        ("2. Add rows inside the tables only (the blue-striped areas). Do not rename tables or column headers.", False),
        (
            "3. The dropdown lists live on hidden, protected sheets (Lists QuickBooks, Lists Intacct, Choices) that "
            "the refresh rewrites; you never need to edit them.",
            False,
        ),
        ("4. Entity blank means every entity; a row with an entity overrides it for that entity.", False),
        (
            "5. Held for Review lists every record the sync holds, why, and where to fix it (rewritten by each "
            "refresh). Record Links: your decision per held record (Link / Create new / Ignore; Source System "
            "and Source Id as listed). You can also answer them in Airflow (the qbo_intacct_review DAG).",
            False,
        ),
        ("Sheets", True),
    ]
    paragraphs += [(f"{spec.sheet}: {spec.title}. {spec.instructions}", False) for spec in TABLES]
    ws.column_dimensions["A"].width = INSTRUCTIONS_WIDTH
    for row, (text, bold) in enumerate(paragraphs, start=1):
        cell = write_text(ws, row, 1, text)
        cell.font = Font(bold=bold, size=14 if row == 1 else 11)
        cell.alignment = WRAP
        lines = max(1, -(-len(text) // int(INSTRUCTIONS_WIDTH * 1.05)))  # ceil: rows Excel will wrap into
        ws.row_dimensions[row].height = (20 if row == 1 else 15) * lines + 4
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_area = f"A1:A{len(paragraphs)}"


def default_flow_settings() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Starting settings for a new workbook: master data both ways, documents QuickBooks to Intacct.

    Field groups default to QuickBooks as the system of record for what sales and AP staff edit
    (identity, contact, address, status) and to Intacct for what the controller owns (terms, tax,
    currency). Finance changes these rows; they are only a starting point.
    """
    master = {"customers", "vendors"}
    settings = [
        {
            "Flow": flow,
            "Enabled": "Yes",
            "Direction": "Both ways" if flow in master else "QuickBooks to Intacct",
            "Conflict Rule": "Follow system of record",
        }
        for flow in FLOWS
    ]
    owner = {"terms": "Intacct", "tax": "Intacct", "currency": "Intacct", "amounts": "QuickBooks"}
    groups = [
        {"Flow": flow, "Field Group": group, "System of Record": owner.get(group, "QuickBooks")}
        for flow in sorted(master)
        for group in FIELD_GROUPS
        if group not in ("amounts", "banking")  # banking: no row, so every bank-detail change is reviewed
    ]
    return settings, groups


def build_workbook(
    out: Path,
    *,
    qbo_lists: ListsInput | None = None,
    intacct_lists: ListsInput | None = None,
    rows: Mapping[str, Iterable[Mapping[str, object]]] | None = None,
) -> Path:
    """Write a mapping workbook with the given lists and table rows (keyed by table name).

    Rows are dicts keyed by column header or attribute name. Tables without rows get one blank row,
    except ``FlowSettings`` and ``FieldGroups``, which get :func:`default_flow_settings`.
    """
    rows = dict(rows or {})
    unknown_tables = set(rows) - {t.table for t in TABLES}
    if unknown_tables:
        raise KeyError(f"unknown mapping tables {sorted(unknown_tables)}")
    settings, groups = default_flow_settings()
    rows.setdefault("FlowSettings", settings)
    rows.setdefault("FieldGroups", groups)
    wb = Workbook()
    _write_instructions(wb)
    for spec in TABLES:
        _write_mapping_sheet(wb, spec, rows.get(spec.table, ()))
    write_list_sheet(wb, ListSide.QBO, normalize_lists(qbo_lists, ListSide.QBO))
    write_list_sheet(wb, ListSide.INTACCT, normalize_lists(intacct_lists, ListSide.INTACCT))
    write_list_sheet(wb, ListSide.CHOICES, _choices_lists())
    save_atomically(wb, Path(out))
    return Path(out)


def build_template(out: Path) -> Path:
    """An empty workbook for a new company: every table, default flow settings, empty live lists."""
    return build_workbook(out)


REVIEW_SHEET = "Held for Review"
REVIEW_HEADERS: tuple[tuple[str, int], ...] = (
    ("Item", 7),
    ("Flow", 12),
    ("System", 12),
    ("Record Id", 12),
    ("Record", 34),
    ("Why it is held", 60),
    ("Where to fix it", 60),
    ("Candidates", 40),
    ("Held since", 12),
)


def write_review_sheet(wb: Workbook, rows: Iterable[Mapping[str, object]]) -> int:
    """(Re)write the read-only *Held for Review* sheet: one row per open review item, in the words
    of the run summary and the review forms. Finance decides on *Record Links* (Source System and
    Source Id as listed here) or in the ``qbo_intacct_review`` DAG; this sheet is rewritten each time."""
    if REVIEW_SHEET in wb.sheetnames:
        ws = wb[REVIEW_SHEET]
        ws.delete_rows(1, ws.max_row)
    else:
        ws = wb.create_sheet(REVIEW_SHEET, index=1)
    for col, (header, width) in enumerate(REVIEW_HEADERS, start=1):
        cell = ws.cell(row=1, column=col, value=header)
        cell.font = HEADER_FONT
        ws.column_dimensions[get_column_letter(col)].width = width
    count = 0
    for count, row in enumerate(rows, start=1):
        for col, (header, _) in enumerate(REVIEW_HEADERS, start=1):
            cell = write_value(ws, count + 1, col, row.get(header))
            cell.alignment = WRAP
    if count == 0:
        write_text(ws, 2, 1, "Nothing is held for review.")
    ws.freeze_panes = "A2"
    ws.protection.sheet = True  # a report: decisions go on Record Links or in Airflow
    _apply_print_setup(ws, 1, len(REVIEW_HEADERS), max(count + 1, 2))
    return count


__all__ = [
    "CODED_LISTS",
    "DROPDOWN_ROWS",
    "INTACCT_LISTS",
    "QBO_LISTS",
    "REVIEW_SHEET",
    "UNMAPPED_FILL",
    "ListEntry",
    "apply_dropdowns",
    "as_list_entry",
    "build_template",
    "build_workbook",
    "clean_text",
    "read_list_sheets",
    "save_atomically",
    "write_list_sheet",
    "write_review_sheet",
    "write_text",
    "write_value",
]
