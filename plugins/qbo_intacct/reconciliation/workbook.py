"""The discrepancy workbook finance receives: Summary, one sheet per kind of difference, open review
items and how to read it (openpyxl).

What finance should know about the file this writes:

- *Summary*: one row per check, measure, entity and currency with the QuickBooks and Intacct
  figures, the difference and Pass/Fail, a bar chart of the differences, the period, when the run
  read the data and the rate tolerance.
- One sheet per kind of difference, each an Excel table (filter and sort in place) with a frozen
  header, amounts in a currency format, non-zero differences in red, a *Finance status* dropdown
  and a *Notes* column to keep track while working through them. Numbers, names and record ids are
  the ones finance searches for in each system.
- *Open review items*: what the sync holds for a decision; *How to read this*: the rules.

Every text that came from QuickBooks or Intacct is written through
:func:`qbo_intacct.mappings.workbook.write_text` (a literal string, never a formula, characters
Excel forbids removed); amounts are written as exact decimals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from qbo_intacct.mappings.workbook import HEADER_FONT, WRAP, save_atomically, write_text
from qbo_intacct.reconciliation.compare import (
    AMOUNT,
    BALANCE,
    CURRENCY,
    DATE,
    DUPLICATE,
    MISSING_IN_INTACCT,
    MISSING_IN_QBO,
    STATUS,
    TRIAL_BALANCE,
)

MONEY = "#,##0.00;[Red]-#,##0.00"
RATE = "#,##0.00####;[Red]-#,##0.00####"
RED = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE", bgColor="FFFFC7CE")
RED_FONT = Font(color="FF9C0006")
GREEN = PatternFill(fill_type="solid", start_color="FFC6EFCE", end_color="FFC6EFCE", bgColor="FFC6EFCE")
FINANCE_STATUSES = ("Open", "Explained", "Fixed in QuickBooks", "Fixed in Intacct", "Accepted")
DROPDOWN_ROWS = 2000
SUMMARY_SHEET, REVIEW_SHEET, HELP_SHEET = "Summary", "Open review items", "How to read this"

#: One sheet per kind of difference: (type, sheet name, table name, what the sheet lists).
SHEETS: tuple[tuple[str, str, str, str], ...] = (
    (MISSING_IN_INTACCT, "Missing in Intacct", "MissingInIntacct", "QuickBooks documents Intacct does not have."),
    (
        MISSING_IN_QBO,
        "Missing in QuickBooks",
        "MissingInQuickBooks",
        "Intacct documents from QuickBooks it no longer has.",
    ),
    (AMOUNT, "Amount differs", "AmountDiffers", "The same document with different totals."),
    (
        STATUS,
        "Status differs",
        "StatusDiffers",
        "Same total, different open balance (paid in one system, open in the other).",
    ),
    (DATE, "Date or period differs", "DateDiffers", "The same document dated differently (maybe in another period)."),
    (DUPLICATE, "Duplicates", "Duplicates", "A document entered twice in one system."),
    (
        CURRENCY,
        "Currency or rate differs",
        "CurrencyDiffers",
        "Different currency, or exchange rates beyond the tolerance.",
    ),
    (BALANCE, "Open balances differ", "OpenBalances", "AR and AP open balances at period end, by customer and vendor."),
    (
        TRIAL_BALANCE,
        "Trial balance",
        "TrialBalance",
        "Trial balance by mapped Intacct account and entity: differences the reports do not explain.",
    ),
)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("Check", "check", 18),
    ("Entity", "entity", 8),
    ("Currency", "currency", 9),
    ("QuickBooks number", "qbo_number", 16),
    ("QuickBooks customer or vendor", "qbo_party", 28),
    ("QuickBooks date", "qbo_date", 12),
    ("QuickBooks amount", "qbo_amount", 15),
    ("Intacct number", "intacct_number", 16),
    ("Intacct customer or vendor", "intacct_party", 28),
    ("Intacct date", "intacct_date", 12),
    ("Intacct amount", "intacct_amount", 15),
    ("Difference", "difference", 14),
    ("Why", "explanation", 60),
    ("Where to fix it", "where_to_fix", 50),
    ("QuickBooks record", "qbo_record", 16),
    ("Intacct record", "intacct_record", 18),
    ("Finance status", "", 18),
    ("Notes", "", 30),
)
AMOUNT_KEYS = {"qbo_amount", "intacct_amount", "difference"}
SUMMARY_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("Line", "line", 44),
    ("Check", "check", 18),
    ("Measure", "measure", 24),
    ("Entity", "entity", 10),
    ("Currency", "currency", 9),
    ("QuickBooks count", "qbo_count", 11),
    ("Intacct count", "intacct_count", 11),
    ("QuickBooks", "qbo", 16),
    ("Intacct", "intacct", 16),
    ("Difference", "difference", 15),
    ("Discrepancies", "discrepancies", 13),
    ("Status", "status", 9),
)
REVIEW_COLUMNS: tuple[tuple[str, int], ...] = (
    ("Flow", 14),
    ("Record", 40),
    ("Why it is held", 60),
    ("Where to fix it", 50),
    ("Held since", 20),
)
HELP_TEXT: tuple[str, ...] = (
    "How to read this workbook",
    "This workbook compares QuickBooks Online and Sage Intacct as both systems hold them now, for the period "
    "on the Summary sheet. It does not trust what the sync believes it wrote: it reads both systems.",
    "Each QuickBooks document is paired with its Intacct document by the sync's link, then by the Intacct "
    "document's external id (qbo:<type>:<id>, written by the sync), then by document number and customer or "
    "vendor. Intacct documents that never came from QuickBooks are Intacct's own business; they are counted "
    "on the run summary but not compared.",
    "Summary: one row per check, measure, entity and currency. Pass means the counts and amounts agree to the "
    "cent and no document of that check differs; Fail means at least one row on the other sheets explains it.",
    "Missing in Intacct: a QuickBooks document with no Intacct document. 'Held for review' means the sync "
    "stopped on purpose; the Open review items sheet says why and where to fix it.",
    "Missing in QuickBooks: an Intacct document the sync wrote whose QuickBooks document was deleted or voided.",
    "Amount differs / Status differs: the same document with a different total, or the same total with a "
    "different open balance (paid in one system, open in the other). Difference = QuickBooks minus Intacct.",
    "Date or period differs: the same document dated differently; if the dates fall in different months, "
    "one of the periods is wrong in one system.",
    "Duplicates: a document entered twice in one system (the same external id, or the same number and party).",
    "Currency or rate differs: a different currency, or exchange rates further apart than the tolerance on the "
    "Summary sheet (rates are compared where the Intacct entity's base currency is QuickBooks' home currency).",
    "Open balances differ: what each customer or vendor owes at period end in each system, over the documents "
    "dated through the period end, as both systems show their open balances when the run read them.",
    "Trial balance: per entity and Intacct account, QuickBooks' trial balance for the period mapped through the "
    "Accounts and Entity Routing sheets against Intacct's. What the systems' reports explain (QuickBooks postings "
    "other than journal entries, Intacct postings other than the journal entries flow's batches, entries held "
    "for review) is named in Why; a row is listed only when a difference is left unexplained.",
    "Finance status and Notes are yours: pick a status from the dropdown as you work through the rows. The "
    "next period's workbook is a new file; nothing here is read back by the sync.",
    "Amounts are in the document's currency and exact to the cent. Names and numbers are as each system "
    "shows them, so you can search for them there.",
)
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class RunInfo:
    period: str
    entities: Sequence[str]
    run_time: str
    freshness: Mapping[str, str]  # system -> when its data was read
    rate_tolerance: Decimal
    intacct_own: int = 0


def _write(ws: Worksheet, row: int, col: int, value: object, number_format: str | None = None) -> None:
    if value is None or (isinstance(value, float) and value != value):
        return
    if isinstance(value, str):
        write_text(ws, row, col, value)
        return
    cell = ws.cell(row=row, column=col, value=value)
    if number_format:
        cell.number_format = number_format


def _table(ws: Worksheet, name: str, columns: int, last_row: int) -> None:
    table = Table(displayName=name, ref=f"A1:{get_column_letter(columns)}{max(last_row, 2)}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(table)


def _headers(ws: Worksheet, columns: Iterable[tuple[str, int]]) -> None:
    for col, (header, width) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=col, value=header)
        cell.font = HEADER_FONT
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = "B2"


def _print_setup(ws: Worksheet) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"


def write_discrepancy_sheet(wb: Workbook, sheet: str, table: str, about: str, rows: Sequence[Mapping[str, Any]]) -> int:
    ws = wb.create_sheet(_SHEET_FORBIDDEN.sub("", sheet)[:31])
    _headers(ws, [(h, w) for h, _, w in COLUMNS])
    fmt = RATE if table == "CurrencyDiffers" else MONEY
    for r, row in enumerate(rows, start=2):
        for c, (_, key, _) in enumerate(COLUMNS, start=1):
            if key:
                _write(ws, r, c, row.get(key), fmt if key in AMOUNT_KEYS else None)
            elif c == len(COLUMNS) - 1:
                write_text(ws, r, c, "Open")
        ws.cell(row=r, column=13).alignment = WRAP
        ws.cell(row=r, column=14).alignment = WRAP
    last = len(rows) + 1
    if not rows:
        write_text(ws, 2, 13, f"No differences of this kind in this period. ({about})")
    _table(ws, table, len(COLUMNS), last)
    diff_col = get_column_letter(12)
    ws.conditional_formatting.add(
        f"{diff_col}2:{diff_col}{DROPDOWN_ROWS}",
        FormulaRule(formula=[f"AND(ISNUMBER({diff_col}2),{diff_col}2<>0)"], fill=RED, font=RED_FONT),
    )
    status_col = get_column_letter(len(COLUMNS) - 1)
    options = ",".join(FINANCE_STATUSES)
    dv = DataValidation(
        type="list",
        formula1=f'"{options}"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Finance status",
        error="Pick a status from the list.",
    )
    ws.add_data_validation(dv)
    dv.add(f"{status_col}2:{status_col}{max(DROPDOWN_ROWS, last)}")
    _print_setup(ws)
    return len(rows)


def write_summary_sheet(wb: Workbook, info: RunInfo, summary: Sequence[Mapping[str, Any]]) -> None:
    ws = wb.active
    ws.title = SUMMARY_SHEET
    failed = sum(1 for s in summary if s["status"] == "Fail")
    heading = [
        ("Period-end reconciliation: QuickBooks Online and Sage Intacct", ""),
        ("Period", info.period),
        ("Entities", ", ".join(info.entities) or "all"),
        ("Run time (UTC)", info.run_time),
        *[(f"{system} data read at (UTC)", when) for system, when in info.freshness.items()],
        ("Exchange rate tolerance", str(info.rate_tolerance)),
        ("Result", f"{failed} of {len(summary)} lines fail" if failed else f"all {len(summary)} lines pass"),
    ]
    # The heading sits right of the table (columns N-O) so the table starts at A1 and stays a plain table.
    for r, (label, value) in enumerate(heading, start=1):
        write_text(ws, r, 14, label).font = HEADER_FONT
        if value:
            write_text(ws, r, 15, value)
    ws.column_dimensions["N"].width = 30
    ws.column_dimensions["O"].width = 36
    _headers(ws, [(h, w) for h, _, w in SUMMARY_COLUMNS])
    for r, row in enumerate(summary, start=2):
        line = f"{row['check']}, {row['measure']}, {row['entity']} {row['currency']}"
        for c, (_, key, _) in enumerate(SUMMARY_COLUMNS, start=1):
            value = line if key == "line" else row.get(key)
            _write(ws, r, c, value, MONEY if key in {"qbo", "intacct", "difference"} else None)
    last = len(summary) + 1
    _table(ws, "Summary", len(SUMMARY_COLUMNS), last)
    ws.conditional_formatting.add(
        f"L2:L{max(last, 2)}", CellIsRule(operator="equal", formula=['"Fail"'], fill=RED, font=RED_FONT)
    )
    ws.conditional_formatting.add(f"L2:L{max(last, 2)}", CellIsRule(operator="equal", formula=['"Pass"'], fill=GREEN))
    ws.conditional_formatting.add(
        f"J2:J{max(last, 2)}",
        FormulaRule(formula=["AND(ISNUMBER(J2),J2<>0)"], fill=RED, font=RED_FONT),
    )
    if summary:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "Differences (QuickBooks minus Intacct)"
        chart.y_axis.title = "Difference"
        chart.add_data(Reference(ws, min_col=10, min_row=1, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=last))
        chart.height = max(7.5, 0.5 * len(summary))
        chart.width = 18
        chart.legend = None
        ws.add_chart(chart, f"N{len(heading) + 2}")
    _print_setup(ws)


def write_review_sheet(wb: Workbook, items: Sequence[Mapping[str, Any]]) -> None:
    ws = wb.create_sheet(REVIEW_SHEET)
    _headers(ws, REVIEW_COLUMNS)
    for r, item in enumerate(items, start=2):
        for c, (header, _) in enumerate(REVIEW_COLUMNS, start=1):
            _write(ws, r, c, item.get(header))
            ws.cell(row=r, column=c).alignment = WRAP
    if not items:
        write_text(ws, 2, 3, "Nothing is held for review.")
    _table(ws, "OpenReviewItems", len(REVIEW_COLUMNS), len(items) + 1)
    _print_setup(ws)


def write_help_sheet(wb: Workbook) -> None:
    ws = wb.create_sheet(HELP_SHEET)
    ws.column_dimensions["A"].width = 120
    for r, text in enumerate(HELP_TEXT, start=1):
        cell = write_text(ws, r, 1, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if r == 1:
            cell.font = Font(bold=True, size=14)


def build_workbook(
    path: Path,
    info: RunInfo,
    summary: Sequence[Mapping[str, Any]],
    discrepancies: Sequence[Mapping[str, Any]],
    review_items: Sequence[Mapping[str, Any]],
) -> dict[str, int]:
    """Write the workbook to ``path`` (atomically); return the number of rows per sheet."""
    wb = Workbook()
    write_summary_sheet(wb, info, summary)
    counts: dict[str, int] = {}
    for kind, sheet, table, about in SHEETS:
        rows = [d for d in discrepancies if d["type"] == kind]
        counts[sheet] = write_discrepancy_sheet(wb, sheet, table, about, rows)
    write_review_sheet(wb, review_items)
    write_help_sheet(wb)
    save_atomically(wb, path)
    return counts
