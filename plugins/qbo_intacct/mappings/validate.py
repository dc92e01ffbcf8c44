"""Check the finance mapping workbook and report every problem by sheet, row and column.

A broken workbook stops the flow before anything is read from either system: syncing with half of
the accounts mapped would post to the wrong GL accounts, which is far costlier to undo than a
failed run. So the checker collects *all* problems in one pass and
:class:`MappingWorkbookError` lists them, each with the sheet, the Excel row number, the column
header and the cell, so finance can fix the file in one sitting.

What is checked:

- every mapping table exists (found by table name, anywhere in the workbook) with its headers;
- required cells are filled; values in choice columns (Yes/No, directions, ...) are from the list;
- the key of each table is unique (e.g. one row per QuickBooks account and entity);
- every target exists and is active in the target system's live list (the Lists sheets as of the
  last refresh, or lists passed in by the caller);
- record links: ``Link`` needs a Target Id, ``Create new`` and ``Ignore`` must not have one.

Source values that are no longer in QuickBooks are *warnings*: the row is kept and ignored, since
deleting finance's rows is not ours to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from qbo_intacct.mappings.schema import ALL_LISTS, TABLES, ListSide, TableSpec, dimension_source_lists


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class MappingProblem:
    """One thing wrong in the workbook, located the way finance finds it in Excel."""

    sheet: str
    row: int | None
    column: str | None
    message: str
    cell: str | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        if not self.sheet:  # the file as a whole (empty, encrypted, not a workbook ...)
            return self.message
        where = [f"sheet {self.sheet!r}"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.cell is not None:
            where.append(f"cell {self.cell}")
        return f"{', '.join(where)}: {self.message}"


class MappingWorkbookError(Exception):
    """The workbook cannot be used; every error is listed so finance can fix them all at once."""

    def __init__(self, path: str, problems: Iterable[MappingProblem]) -> None:
        self.path = path
        self.problems: list[MappingProblem] = [p for p in problems if p.severity is Severity.ERROR]
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"The mapping workbook {path} has {len(self.problems)} problem(s); nothing was synced. "
            f"Fix them in Excel and re-run:\n{lines}"
        )


@dataclass(frozen=True)
class RawRow:
    """One non-blank data row of a table: its Excel row number and text values by header."""

    excel_row: int
    values: Mapping[str, str]
    cells: Mapping[str, str]  # header -> cell reference, e.g. "C7"

    def get(self, header: str) -> str:
        return self.values.get(header, "")


@dataclass
class RawTable:
    """A mapping table as found in the workbook (headers may be in any order)."""

    spec: TableSpec
    sheet: str
    header_row: int
    headers: list[str]
    rows: list[RawRow] = field(default_factory=list)


@dataclass(frozen=True)
class ListStatus:
    """Membership of a live list: which values exist and which of those are active."""

    values: frozenset[str]
    active: frozenset[str]

    @classmethod
    def from_entries(cls, entries: Iterable[object]) -> ListStatus:
        from qbo_intacct.mappings.workbook import as_list_entry

        parsed = [as_list_entry(e) for e in entries]  # type: ignore[arg-type]
        return cls(frozenset(e.value for e in parsed), frozenset(e.value for e in parsed if e.active))


def _system_name(list_name: str) -> str:
    side = ALL_LISTS[list_name].side
    return {ListSide.QBO: "QuickBooks", ListSide.INTACCT: "Intacct", ListSide.CHOICES: "the Choices list"}[side]


def _check_value(
    problems: list[MappingProblem],
    table: RawTable,
    row: RawRow,
    header: str,
    list_name: str,
    lists: Mapping[str, ListStatus],
    *,
    source: bool,
) -> None:
    value = row.get(header)
    if not value:
        return
    status = lists.get(list_name)
    spec = ALL_LISTS[list_name]
    if status is None or not status.values:
        if spec.side is ListSide.INTACCT and not source:
            problems.append(
                MappingProblem(
                    table.sheet,
                    row.excel_row,
                    header,
                    f"cannot check {value!r}: the list {list_name} is empty; run qbo_intacct_refresh_mappings first",
                    row.cells.get(header),
                )
            )
        return
    if value not in status.values:
        if source:
            problems.append(
                MappingProblem(
                    table.sheet,
                    row.excel_row,
                    header,
                    f"{value!r} is not in {_system_name(list_name)} ({spec.title}); the row is ignored",
                    row.cells.get(header),
                    Severity.WARNING,
                )
            )
        elif spec.side is ListSide.CHOICES:
            allowed = ", ".join(sorted(status.values))
            problems.append(
                MappingProblem(
                    table.sheet, row.excel_row, header, f"{value!r} is not one of: {allowed}", row.cells.get(header)
                )
            )
        else:
            problems.append(
                MappingProblem(
                    table.sheet,
                    row.excel_row,
                    header,
                    f"{value!r} does not exist in {_system_name(list_name)} ({spec.title})",
                    row.cells.get(header),
                )
            )
    elif value not in status.active and not source:
        problems.append(
            MappingProblem(
                table.sheet,
                row.excel_row,
                header,
                f"{value!r} is inactive in {_system_name(list_name)}; pick an active one",
                row.cells.get(header),
            )
        )


def _check_record_link(problems: list[MappingProblem], table: RawTable, row: RawRow) -> None:
    decision, target = row.get("Decision"), row.get("Target Id")
    if decision == "Link" and not target:
        problems.append(
            MappingProblem(
                table.sheet, row.excel_row, "Target Id", "Link needs a Target Id", row.cells.get("Target Id")
            )
        )
    if decision in {"Create new", "Ignore"} and target:
        problems.append(
            MappingProblem(
                table.sheet,
                row.excel_row,
                "Target Id",
                f"{decision} must leave Target Id empty (it is {target!r}); choose Link to link to it",
                row.cells.get("Target Id"),
            )
        )


def is_unmapped_placeholder(spec: TableSpec, row: RawRow) -> bool:
    """A row with only its source filled in: "no mapping yet", as the refresh appends it.

    Such a row is not an error (the workbook stays usable while finance works through new values);
    records that need the value are held for review naming it, exactly as if the row were absent.
    """
    if not any(c.source for c in spec.columns):
        return False
    return not any(row.get(c.header) for c in spec.columns if not c.source and c.header != "Notes")


def check_table(table: RawTable, lists: Mapping[str, ListStatus]) -> list[MappingProblem]:
    """Every problem in one table; ``lists`` maps list name -> live membership."""
    spec = table.spec
    problems: list[MappingProblem] = []
    missing = [c.header for c in spec.columns if c.header not in table.headers and c.header != "Notes"]
    for header in missing:
        problems.append(
            MappingProblem(table.sheet, table.header_row, header, f"table {spec.table} has no column {header!r}")
        )
    if missing:
        return problems
    dimension_lists = dimension_source_lists(spec)
    seen: dict[tuple[str, ...], int] = {}
    for row in table.rows:
        placeholder = is_unmapped_placeholder(spec, row)
        if placeholder:
            problems.append(
                MappingProblem(
                    table.sheet,
                    row.excel_row,
                    None,
                    f"{row.get(spec.columns[0].header)!r} has no mapping yet; records that need it are held for review",
                    severity=Severity.WARNING,
                )
            )
        for col in spec.columns:
            if col.required and not row.get(col.header) and not (placeholder and not col.source):
                problems.append(
                    MappingProblem(table.sheet, row.excel_row, col.header, "required", row.cells.get(col.header))
                )
            if col.list_name:
                _check_value(problems, table, row, col.header, col.list_name, lists, source=col.source)
        if dimension_lists:
            list_name = dimension_lists.get(row.get("QuickBooks Dimension"))
            if list_name:
                _check_value(problems, table, row, "QuickBooks Value", list_name, lists, source=True)
        if spec.table == "RecordLinks":
            _check_record_link(problems, table, row)
        one_of = [h for h in spec.extra.get("one_of", "").split("|") if h]
        if one_of and not placeholder and not any(row.get(h) for h in one_of):
            problems.append(
                MappingProblem(
                    table.sheet,
                    row.excel_row,
                    one_of[0],
                    f"fill in {' or '.join(one_of)}",
                    row.cells.get(one_of[0]),
                )
            )
        key = tuple(row.get(h).casefold() for h in spec.key)
        if all(not k for k in key):
            continue
        if key in seen:
            shown = ", ".join(f"{h}={row.get(h)!r}" for h in spec.key)
            problems.append(
                MappingProblem(
                    table.sheet,
                    row.excel_row,
                    spec.key[0],
                    f"duplicate mapping ({shown}) already on row {seen[key]}; keep one row per "
                    f"{' and '.join(spec.key)}",
                    row.cells.get(spec.key[0]),
                )
            )
        else:
            seen[key] = row.excel_row
    return problems


def check_workbook(tables: Mapping[str, RawTable], lists: Mapping[str, ListStatus]) -> list[MappingProblem]:
    """Problems across all tables, including tables that are missing from the workbook."""
    problems: list[MappingProblem] = []
    for spec in TABLES:
        table = tables.get(spec.table)
        if table is None:
            problems.append(
                MappingProblem(
                    spec.sheet,
                    None,
                    None,
                    f"the Excel table {spec.table!r} is missing (expected on sheet {spec.sheet!r})",
                )
            )
            continue
        problems.extend(check_table(table, lists))
    return problems
