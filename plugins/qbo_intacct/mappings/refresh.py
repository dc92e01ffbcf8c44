"""Refresh the workbook's live lists and append every source value that has no mapping yet.

The ``qbo_intacct_refresh_mappings`` DAG fetches both systems' lists through the hooks and calls
:func:`refresh_workbook` (or the two functions below). Promises to finance:

- The Lists sheets are rewritten wholesale: they belong to the systems, not to finance.
- On mapping sheets, nothing finance typed is ever changed: rows are only *added*, below the last
  used row of a table (or into blank rows at its end), with the source value filled in and the row
  highlighted yellow. If something finance typed sits directly below a table, the refresh stops
  with an error instead of writing over it.
- Only *active* QuickBooks values are appended: an inactive account without a mapping matters only
  if a document still uses it, and then that document is held for review naming the account.
- The workbook is loaded in normal mode (formulas kept) and saved atomically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.workbook.workbook import Workbook

from qbo_intacct.mappings.loader import cell_text
from qbo_intacct.mappings.schema import ALL_LISTS, TABLES, TABLES_BY_NAME, ListSide, TableSpec, dimension_source_lists
from qbo_intacct.mappings.workbook import (
    ListEntry,
    ListsInput,
    apply_dropdowns,
    normalize_lists,
    read_list_sheets,
    save_atomically,
    write_list_sheet,
    write_text,
)


class WorkbookRefreshError(Exception):
    """The refresh could not add rows without touching something finance typed."""


SourceValue = str | Mapping[str, str]


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh changed: list sizes written and rows appended per table."""

    list_sizes: dict[str, int]
    appended: dict[str, list[str]]

    @property
    def appended_count(self) -> int:
        return sum(len(v) for v in self.appended.values())


def _merge_lists(wb: Workbook, side: ListSide, given: ListsInput | None) -> dict[str, list[ListEntry]]:
    """Lists to write on one side: the given ones replace, the others keep their last refreshed values."""
    current = read_list_sheets(wb)
    fresh = normalize_lists(given, side)
    merged = {name: entries for name, entries in current.items() if name not in fresh}
    merged.update(fresh)
    return merged


def _refresh_lists_in(wb: Workbook, qbo_lists: ListsInput | None, intacct_lists: ListsInput | None) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for side, given in ((ListSide.QBO, qbo_lists), (ListSide.INTACCT, intacct_lists)):
        lists = _merge_lists(wb, side, given)
        write_list_sheet(wb, side, lists)
        own = {spec.name for spec in ALL_LISTS.values() if spec.side is side}
        sizes.update({name: len(entries) for name, entries in lists.items() if name in own})
    return sizes


def refresh_lists(path: Path | str, qbo_lists: ListsInput | None, intacct_lists: ListsInput | None) -> dict[str, int]:
    """Rewrite the Lists sheets from both systems' live lists; returns list name -> entries written.

    Lists are keyed by the names in :mod:`qbo_intacct.mappings.schema` (``QboAccounts``,
    ``IntacctGLAccounts``, ...); entries are :class:`ListEntry`, bare values, or
    ``{"value", "name", "active"}`` dicts. A list not passed keeps its previous contents.
    """
    path = Path(path)
    wb = load_workbook(path)
    sizes = _refresh_lists_in(wb, qbo_lists, intacct_lists)
    save_atomically(wb, path)
    return sizes


def _as_row_values(spec: TableSpec, value: SourceValue) -> dict[str, str]:
    if isinstance(value, str):
        return {spec.source_columns[0]: value}
    unknown = set(value) - set(spec.headers)
    if unknown:
        raise KeyError(f"{spec.table}: unknown columns {sorted(unknown)}")
    return dict(value)


def _append_in(wb: Workbook, spec: TableSpec, source_values: Iterable[SourceValue]) -> list[str]:
    if not spec.source_columns:
        raise ValueError(f"{spec.table} has no source column; finance fills it by hand")
    ws, table = None, None
    for sheet in wb.worksheets:
        for name in sheet.tables:
            if name.casefold() == spec.table.casefold():
                ws, table = sheet, sheet.tables[name]
    if ws is None or table is None:
        raise WorkbookRefreshError(f"the Excel table {spec.table!r} is missing; cannot append unmapped values")
    min_col, min_row, max_col, max_row = range_boundaries(table.ref)
    columns = {cell_text(ws.cell(row=min_row, column=c).value): c for c in range(min_col, max_col + 1)}
    missing = [h for h in spec.source_columns if h not in columns]
    if missing:
        raise WorkbookRefreshError(f"table {spec.table} on sheet {ws.title!r} has no column(s) {missing}")

    def row_blank(r: int) -> bool:
        return all(ws.cell(row=r, column=c).value in (None, "") for c in range(min_col, max_col + 1))

    existing = {
        tuple(cell_text(ws.cell(row=r, column=columns[h]).value).casefold() for h in spec.source_columns)
        for r in range(min_row + 1, max_row + 1)
    }
    # Trailing blank rows inside the table are free; everything above the last non-blank row is finance's.
    next_row = max_row + 1
    while next_row - 1 > min_row and row_blank(next_row - 1):
        next_row -= 1
    next_row = max(next_row, min_row + 1)

    appended: list[str] = []
    for value in source_values:
        row_values = _as_row_values(spec, value)
        key = tuple(row_values.get(h, "").strip().casefold() for h in spec.source_columns)
        if not key[0] or key in existing:
            continue
        if next_row > max_row and not row_blank(next_row):
            raise WorkbookRefreshError(
                f"sheet {ws.title!r} row {next_row} below table {spec.table} is not empty; "
                "move it away so the refresh can add rows to the table"
            )
        for header, text in row_values.items():
            if header in columns and text:
                write_text(ws, next_row, columns[header], text)
        existing.add(key)
        appended.append(row_values[spec.source_columns[0]])
        max_row = max(max_row, next_row)
        next_row += 1

    if appended:
        ref = f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{max_row}"
        table.ref = ref
        if table.autoFilter is not None:
            table.autoFilter.ref = ref
        apply_dropdowns(ws, spec, header_row=min_row, columns=columns, last_row=max_row)
    return appended


def append_unmapped(path: Path | str, table: str, source_values: Iterable[SourceValue]) -> list[str]:
    """Append a highlighted row for each source value the table does not map yet; returns those values.

    ``source_values`` are the QuickBooks values (e.g. account names), or dicts by header for tables
    with several source columns (``{"QuickBooks Dimension": "Class", "QuickBooks Value": "UK"}``).
    Matching is case-insensitive; a value already present in any row (mapped or not) is skipped.
    """
    path = Path(path)
    spec = TABLES_BY_NAME[table]
    wb = load_workbook(path)
    appended = _append_in(wb, spec, source_values)
    if appended:
        save_atomically(wb, path)
    return appended


def _unmapped_candidates(spec: TableSpec, qbo: Mapping[str, list[ListEntry]]) -> list[SourceValue]:
    dimension_lists = dimension_source_lists(spec)
    if dimension_lists:
        return [
            {"QuickBooks Dimension": dimension, "QuickBooks Value": e.value}
            for dimension, list_name in dimension_lists.items()
            for e in qbo.get(list_name, [])
            if e.active
        ]
    if spec.source_list is None:
        return []
    return [e.value for e in qbo.get(spec.source_list, []) if e.active]


def refresh_workbook(path: Path | str, qbo_lists: ListsInput | None, intacct_lists: ListsInput | None) -> RefreshReport:
    """Both steps in one load/save: rewrite the lists, then append every unmapped active source value."""
    path = Path(path)
    wb = load_workbook(path)
    sizes = _refresh_lists_in(wb, qbo_lists, intacct_lists)
    qbo_now = read_list_sheets(wb)
    appended: dict[str, list[str]] = {}
    for spec in TABLES:
        candidates = _unmapped_candidates(spec, qbo_now)
        if candidates:
            added = _append_in(wb, spec, candidates)
            if added:
                appended[spec.table] = added
    save_atomically(wb, path)
    return RefreshReport(sizes, appended)


def refresh_review_sheet(path: Path | str, rows: Iterable[Mapping[str, object]]) -> int:
    """Rewrite the workbook's *Held for Review* sheet (see :func:`write_review_sheet`); returns the count."""
    from qbo_intacct.mappings.workbook import write_review_sheet

    path = Path(path)
    wb = load_workbook(path)
    count = write_review_sheet(wb, rows)
    save_atomically(wb, path)
    return count
