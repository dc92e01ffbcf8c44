"""``qbo_intacct_period_end_reconciliation`` end to end: both sandboxes over HTTP, a real SMTP server
(aiosmtpd on loopback, port 0), the workbook opened with openpyxl and converted by LibreOffice.

One module-scoped story (``reconciliation_story``): the demo group's books with the Intacct side as a
finished sync leaves it, differences planted on purpose and a vendor named like a formula; the DAG
runs once (``first``: one mail) and again for the same period (``again``: nothing read or sent).
Each test asserts one behaviour of what those runs left. The SIGKILL between building and sending
is in ``test_period_end_reconciliation_kill.py`` (slow: a cold ``airflow dags test`` process).
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from reconciliation_books import FORMULA_VENDOR
from reconciliation_story import RECIPIENTS, Story, attachment_of, reconciliation_story, run_in_process

pytestmark = pytest.mark.dag


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with reconciliation_story(sandboxes, tmp_path_factory.mktemp("reconciliation")) as story:
        yield story


@pytest.fixture(scope="module")
def first(story: Story) -> dict[str, Any]:
    return run_in_process(story, "first")


@pytest.fixture(scope="module")
def again(story: Story, first: dict[str, Any]) -> dict[str, Any]:
    """The same period again: already mailed, so nothing is read or sent."""
    return run_in_process(story, "again")


@pytest.fixture(scope="module")
def mail(story: Story, first: dict[str, Any]) -> Message:
    assert first["state"] == "success"
    assert story.mail_count["first"] == 1
    return story.mailbox.messages[-1]


@pytest.fixture(scope="module")
def attachment(mail: Message, story: Story) -> Path:
    return attachment_of(mail, story.home / "received")


@pytest.fixture(scope="module")
def sheets(attachment: Path) -> dict[str, list[dict[str, Any]]]:
    """Every sheet's rows as dicts keyed by header (values as openpyxl reads them)."""
    from openpyxl import load_workbook

    wb = load_workbook(attachment)
    out: dict[str, list[dict[str, Any]]] = {}
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        if not rows:
            continue
        headers = [str(h) if h is not None else "" for h in rows[0]]
        out[ws.title] = [dict(zip(headers, r, strict=False)) for r in rows[1:] if any(v is not None for v in r)]
    return out


def _rows(sheets: dict[str, list[dict[str, Any]]], sheet: str) -> list[dict[str, Any]]:
    return [r for r in sheets[sheet] if r.get("Check")]


# ------------------------------------------------------------------------------------------ tests


def test_the_period_is_mailed_exactly_once(story: Story, first: dict[str, Any], again: dict[str, Any]) -> None:
    assert first["state"] == "success"
    assert story.mail_count["first"] == 1
    assert again["state"] == "success"
    assert story.mail_count["again"] == 0
    assert "already mailed" in again["summary"]["text"]
    message_id = first["summary"]["summary"]["email"]["message_id"]
    assert again["summary"]["summary"]["email"]["message_id"] == message_id
    assert story.mailbox.messages[-1]["Message-ID"] == message_id


def test_the_mail_goes_to_the_recipients_variable_with_an_html_summary(
    mail: Message, sheets: dict[str, list[dict[str, Any]]]
) -> None:
    assert {a.strip() for a in mail["To"].split(",")} == {a.strip() for a in RECIPIENTS.split(",")}
    assert "2026-10" in mail["Subject"]
    assert mail["Message-ID"]
    (body,) = [p for p in mail.walk() if p.get_content_type() == "text/html"]
    text = body.get_payload(decode=True).decode()
    assert "<table" in text
    assert "Fail" in text
    rows = [
        r
        for sheet, rows in sheets.items()
        if sheet not in ("Summary", "Open review items", "How to read this", "Currency or rate differs")
        for r in rows
        if r.get("Check") and r.get("Difference") is not None
    ]
    largest = max(rows, key=lambda r: abs(Decimal(str(r["Difference"]))))
    named = largest["QuickBooks number"] or largest["Intacct number"] or largest["QuickBooks customer or vendor"]
    assert named in html.unescape(text)  # the largest difference is listed (as text, escaped or not)


def test_every_planted_difference_is_found_and_explained(story: Story, sheets: dict[str, list[dict[str, Any]]]) -> None:
    from qbo_intacct.reconciliation.workbook import SHEETS

    sheet_of = {kind: sheet for kind, sheet, _, _ in SHEETS}
    for plant in story.plants:
        rows = [
            r
            for r in _rows(sheets, sheet_of[plant.kind])
            if plant.number in (r["QuickBooks number"], r["Intacct number"]) and r["Check"] == plant.check
        ]
        assert len(rows) == 1, (plant, _rows(sheets, sheet_of[plant.kind]))
        row = rows[0]
        if plant.difference is not None:
            assert Decimal(str(row["Difference"])) == plant.difference, (plant, row)
        assert row["Why"]
        assert row["Where to fix it"]


def test_held_documents_say_why_they_are_missing(sheets: dict[str, list[dict[str, Any]]]) -> None:
    rows = {r["QuickBooks number"]: r for r in _rows(sheets, "Missing in Intacct") if r["Check"] == "Invoices"}
    assert "held for review" in rows["1014"]["Why"]
    assert "CHF" in rows["1014"]["Why"]
    assert "Open review items" in rows["1014"]["Where to fix it"]
    review = sheets["Open review items"]
    assert len(review) == 3
    assert any("CHF" in r["Why it is held"] for r in review)


def test_no_difference_where_the_books_agree(story: Story, sheets: dict[str, list[dict[str, Any]]]) -> None:
    """Only planted documents (and the formula vendor's bill, keyed after the mirror) appear anywhere."""
    from qbo_intacct.reconciliation import compare as cmp
    from qbo_intacct.reconciliation.workbook import SHEETS

    planted = {p.number for p in story.plants}
    document_sheets = [sheet for kind, sheet, _, _ in SHEETS if kind not in (cmp.BALANCE, cmp.TRIAL_BALANCE)]
    for sheet in document_sheets:
        for row in _rows(sheets, sheet):
            assert {row["QuickBooks number"], row["Intacct number"]} & planted, (sheet, row)
    summary = {(r["Check"], r["Measure"], r["Entity"], r["Currency"]): r for r in sheets["Summary"] if r.get("Check")}
    for (check, _, _, _), row in summary.items():
        if check in ("Credit memos", "Customer payments", "Bill payments"):
            assert row["Status"] == "Pass", row
    assert any(r["Status"] == "Pass" for r in summary.values() if r["Check"] == "Invoices")


def test_open_balances_by_party_follow_the_document_differences(sheets: dict[str, list[dict[str, Any]]]) -> None:
    rows = _rows(sheets, "Open balances differ")
    by_party = {(r["Check"], r["QuickBooks customer or vendor"]): Decimal(str(r["Difference"])) for r in rows}
    docs = [
        r
        for s in ("Missing in Intacct", "Missing in QuickBooks", "Amount differs", "Status differs")
        for r in _rows(sheets, s)
    ]
    assert by_party, rows
    ap = {party: diff for (check, party), diff in by_party.items() if check == "AP open balances"}
    assert FORMULA_VENDOR in ap  # its Intacct bill is open and QuickBooks has none
    assert ap[FORMULA_VENDOR] == Decimal("-321.09")
    assert docs


def test_the_trial_balance_tie_out_flags_journal_entries_intacct_does_not_have(
    sheets: dict[str, list[dict[str, Any]]],
) -> None:
    """No journal entries flow ran in this story: the mapped accounts QuickBooks' October journal entries
    move differ by what is left unexplained, each row naming its account; the held entries are named."""
    rows = _rows(sheets, "Trial balance")
    assert rows
    for row in rows:
        assert Decimal(str(row["Difference"])) != 0
        assert str(row["Intacct number"]) in row["Why"]
    assert any("JE-PLANT-1" in row["Why"] for row in rows)  # the unmapped account entry is held
    summary = [r for r in sheets["Summary"] if r.get("Check") == "Trial balance (mapped accounts)"]
    assert "Fail" in {r["Status"] for r in summary}


def test_a_vendor_named_like_a_formula_is_text(attachment: Path) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(attachment)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == FORMULA_VENDOR]
    assert cells, "the vendor's name is in the workbook"
    assert all(c.data_type == "s" for c in cells)
    with zipfile.ZipFile(attachment) as zf:
        xml = "".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.startswith("xl/worksheets/"))
    assert "HYPERLINK" in xml
    assert "<f>HYPERLINK" not in xml
    assert "<f>" not in xml  # the workbook holds no formula at all


def test_the_workbook_is_laid_out_for_finance(attachment: Path) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(attachment)
    assert wb.sheetnames[0] == "Summary"
    assert wb.sheetnames[-2:] == ["Open review items", "How to read this"]
    summary = wb["Summary"]
    assert summary._charts, "a bar chart of the differences"
    labels = {summary.cell(row=r, column=14).value for r in range(1, 10)}
    assert {"Period", "Run time (UTC)", "QuickBooks data read at (UTC)", "Intacct data read at (UTC)"} <= labels
    ws = wb["Amount differs"]
    assert ws.freeze_panes == "B2"
    assert list(ws.tables) == ["AmountDiffers"]
    assert ws["G2"].number_format.startswith("#,##0.00")
    assert Decimal(str(ws["L2"].value)) == Decimal("-100")
    assert ws.conditional_formatting, "red non-zero differences"
    (dv,) = ws.data_validations.dataValidation
    assert "Explained" in dv.formula1
    assert "Q2" in str(dv.sqref)
    assert ws["Q1"].value == "Finance status"
    assert ws["R1"].value == "Notes"


def test_the_workbook_converts_to_pdf_with_libreoffice(attachment: Path, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        if os.environ.get("QBO_INTACCT_REQUIRE_LIBREOFFICE"):
            pytest.fail("LibreOffice is required here (QBO_INTACCT_REQUIRE_LIBREOFFICE) but soffice is not installed")
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui); the pdf check is skipped")
    profile = tmp_path / "lo-profile"
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(attachment),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    pdf = tmp_path / (attachment.stem + ".pdf")
    assert result.returncode == 0, result.stderr
    assert pdf.exists(), result.stdout + result.stderr
    assert pdf.stat().st_size > 1000
    assert "Error" not in result.stderr
