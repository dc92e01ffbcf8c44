"""The shipped workbook as finance meets it in Excel or LibreOffice: highlights that go away when a
target is filled in, dropdowns showing 'code - name', input prompts, hidden and protected lists with
plain headers, readable instructions and a print setup (checked with openpyxl, and converted with
LibreOffice when it is installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import range_boundaries

from qbo_intacct.mappings.loader import DEFAULT_WORKBOOK, load_mappings
from qbo_intacct.mappings.schema import LIST_SHEETS, TABLES
from qbo_intacct.mappings.workbook import UNMAPPED_FILL

SHIPPED = DEFAULT_WORKBOOK


@pytest.fixture(scope="module")
def wb():
    return load_workbook(SHIPPED)


def _column(ws, header: str) -> str:
    return next(c.column_letter for c in ws[1] if c.value == header)


def test_blank_targets_are_highlighted_by_conditional_formatting_not_a_fixed_fill(wb) -> None:
    ws = wb["Accounts"]
    target = _column(ws, "Intacct GL Account")
    (cf,) = list(ws.conditional_formatting)
    (rule,) = cf.rules
    assert rule.type == "expression"
    assert rule.dxf.fill.bgColor.rgb == UNMAPPED_FILL.bgColor.rgb
    assert str(cf.sqref).startswith(f"{target}2:{target}")
    assert rule.formula == [f'AND($A2<>"",${target}2="")']  # a source value and no target yet
    waiting = [r for r in range(2, ws.max_row + 1) if ws[f"A{r}"].value and not ws[f"{target}{r}"].value]
    assert waiting, "the shipped workbook has rows waiting for a target (the demo's deliberate gaps)"
    assert all(ws[f"A{r}"].fill.fgColor.rgb != UNMAPPED_FILL.fgColor.rgb for r in waiting)


def test_every_mapping_sheet_with_refreshed_rows_highlights_its_targets(wb) -> None:
    for spec in TABLES:
        if spec.source_columns and any(c.list_name and c.list_name.startswith("Intacct") for c in spec.columns):
            assert list(wb[spec.sheet].conditional_formatting), spec.sheet


def test_gl_account_dropdown_shows_code_and_name_and_the_loader_accepts_either(wb, tmp_path: Path) -> None:
    ref = wb.defined_names["IntacctGLAccounts"].attr_text
    sheet, cells = ref.split("!")
    lists = wb[sheet.strip("'")]
    min_col, min_row, _, max_row = range_boundaries(cells.replace("$", ""))
    shown = [lists.cell(row=r, column=min_col).value for r in range(min_row, max_row + 1)]
    assert "10200 - Operating Cash - UK" in shown  # the name Intacct has, not the bank's
    assert all(" - " in v for v in shown)

    copy = tmp_path / "mappings.xlsx"
    shutil.copyfile(SHIPPED, copy)
    edit = load_workbook(copy)
    ws = edit["Accounts"]
    target = _column(ws, "Intacct GL Account")
    row = next(r for r in range(2, ws.max_row + 1) if ws[f"A{r}"].value and not ws[f"{target}{r}"].value)
    ws[f"{target}{row}"] = "40000 - Software Revenue" if "40000 - Software Revenue" in shown else shown[0]
    edit.save(copy)
    mappings = load_mappings(copy)
    assert mappings.gl_account(ws[f"A{row}"].value) == str(ws[f"{target}{row}"].value).split(" - ")[0]


def test_target_columns_prompt_and_source_columns_do_not(wb) -> None:
    ws = wb["Accounts"]
    target, source = _column(ws, "Intacct GL Account"), _column(ws, "QuickBooks Account")
    by_column = {str(dv.sqref).split(":")[0].rstrip("0123456789"): dv for dv in ws.data_validations.dataValidation}
    assert by_column[target].showInputMessage
    assert "code - name" in by_column[target].prompt
    assert by_column[target].promptTitle == "Intacct GL Account"
    assert not by_column[source].showInputMessage


def test_lists_sheets_are_hidden_protected_and_plainly_headed(wb) -> None:
    for title in LIST_SHEETS.values():
        ws = wb[title]
        assert ws.sheet_state == "hidden", title
        assert ws.protection.sheet, title
    headers = [c.value for c in wb["Lists Intacct"][1] if c.value]
    assert "Intacct GL accounts" in headers
    assert "Intacct GL accounts: name" in headers
    assert not [h for h in headers if h.startswith("Intacct") and h[7:8].isupper()]  # no "IntacctGLAccounts"
    assert wb.active.title == "Instructions"
    assert wb.active.sheet_state == "visible"


def test_locations_dropdown_offers_locations_only(wb) -> None:
    def values(name: str) -> set[str]:
        sheet, cells = wb.defined_names[name].attr_text.split("!")
        ws = wb[sheet.strip("'")]
        col, first, _, last = range_boundaries(cells.replace("$", ""))
        return {str(ws.cell(row=r, column=col).value).split(" - ")[0] for r in range(first, last + 1)}

    assert values("IntacctLocations")
    assert not values("IntacctLocations") & values("IntacctEntities")


def test_instructions_wrap_and_headers_fit(wb) -> None:
    ws = wb["Instructions"]
    assert all(c.alignment.wrap_text for row in ws.iter_rows() for c in row if c.value)
    assert ws.page_setup.fitToWidth == 1
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    for spec in TABLES:
        sheet = wb[spec.sheet]
        for cell in sheet[1]:
            if cell.value:
                assert sheet.column_dimensions[cell.column_letter].width >= len(str(cell.value)), (
                    spec.sheet,
                    cell.value,
                )


def test_mapping_sheets_print_one_page_wide_with_the_header_repeated(wb) -> None:
    for spec in TABLES:
        ws = wb[spec.sheet]
        assert ws.page_setup.orientation == "landscape", spec.sheet
        assert ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_title_rows in ("1:1", "$1:$1")
        assert (ws.print_area and ws.print_area[0].startswith("'")) or "$A$1" in str(ws.print_area)


@pytest.mark.skipif(
    shutil.which("soffice") is None and not os.environ.get("QBO_INTACCT_REQUIRE_LIBREOFFICE"),
    reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui); CI installs it and requires it",
)
def test_libreoffice_converts_the_workbook_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(SHIPPED)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    # LibreOffice's own start-up note about Java is about the installation, not the workbook.
    problems = [line for line in lines if not line.startswith("convert ") and "javaldx" not in line]
    assert result.returncode == 0, lines
    assert not problems, lines
    pdf = (tmp_path / f"{SHIPPED.stem}.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 0 < pages <= 20, pages  # 61 A4 pages before the print setup
