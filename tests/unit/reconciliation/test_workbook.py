"""The workbook and the mail body on small inputs: text stays text, amounts stay exact."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from qbo_intacct.reconciliation import compare as cmp
from qbo_intacct.reconciliation.tasks import html_body
from qbo_intacct.reconciliation.workbook import SHEETS, RunInfo, build_workbook

NAME = '=HYPERLINK("http://x","y")'
ROW = {
    "type": cmp.AMOUNT,
    "check": "Bills",
    "entity": "US",
    "currency": "USD",
    "qbo_number": "@SUM(A1)",
    "qbo_party": NAME,
    "qbo_date": "2026-10-02",
    "qbo_amount": Decimal("1234567890123.45"),
    "intacct_number": "+1",
    "intacct_party": "Bell\x07 & Co",
    "intacct_date": "2026-10-02",
    "intacct_amount": Decimal("0.10"),
    "difference": Decimal("1234567890123.35"),
    "explanation": "why",
    "where_to_fix": "where",
    "qbo_record": "Bill 7",
    "intacct_record": "APBILL 9",
}
SUMMARY = {
    "check": "Bills",
    "measure": "count and total",
    "entity": "US",
    "currency": "USD",
    "qbo_count": 1,
    "intacct_count": 1,
    "qbo": Decimal("1234567890123.45"),
    "intacct": Decimal("0.10"),
    "difference": Decimal("1234567890123.35"),
    "discrepancies": 1,
    "status": "Fail",
}


def test_api_text_is_literal_and_amounts_exact(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    info = RunInfo("2026-10", [], "2026-11-03 06:00:00", {"QuickBooks": "x", "Intacct": "y"}, Decimal("0.0001"))
    counts = build_workbook(path, info, [SUMMARY], [ROW], [])
    assert counts["Amount differs"] == 1
    assert sum(counts.values()) == 1
    wb = load_workbook(path)
    ws = wb["Amount differs"]
    cells = {c.value: c for row in ws.iter_rows(min_row=2, max_row=2) for c in row}
    for text in (NAME, "@SUM(A1)", "+1", "Bell & Co"):
        assert cells[text].data_type == "s"
    assert ws["L2"].value == 1234567890123.35  # openpyxl reads numbers back as float; written exactly:
    assert set(wb.sheetnames) >= {sheet for _, sheet, _, _ in SHEETS}
    empty = wb["Duplicates"]
    assert "No differences" in str(empty["M2"].value)


def test_the_mail_body_escapes_what_the_apis_hold() -> None:
    body = html_body({"label": "2026-10", "entities": []}, [SUMMARY], [ROW], 2)
    assert f"<td>{NAME}</td>" in body  # text in a cell (quotes need no escaping there), never markup
    hostile = html_body(
        {"label": "2026-10", "entities": []}, [SUMMARY], [{**ROW, "qbo_party": "<script>x</script>"}], 2
    )
    assert "<script>" not in hostile
    assert "&lt;script&gt;x&lt;/script&gt;" in hostile
    assert "Fail" in body
    assert "2 items held for review" in body
