"""The bad-input corpus: each case, its expected outcome, run through the code the flows run.

Four families, as the reliability issue lists them:

- **workbook**: finance's mapping workbook broken every way we know; the run must stop before any
  read or write with one :class:`MappingWorkbookError` that names the file, sheet or cell (never a
  bare ``BadZipFile``/``KeyError``), or, for values finance typed loosely, load them as meant;
- **records**: API records through the customers and vendors flows' mapping (``source_frame`` /
  ``target_frame``, what the ``validate`` task runs): a record that cannot sync is held with a reason
  naming the record and the field, the others in the batch map on; text that is odd but legal
  (quotes, ampersands, ``]]>``, right-to-left, emoji, 4,000 characters, a leading ``=``) maps verbatim;
- **documents**: invoices and journal entries with values QuickBooks should never send or that are
  typos (NaN, a date in 9999, no customer, a rate of zero, a line neither debit nor credit): the one
  document is held naming the field, the batch maps on;
- **replies**: malformed answers from the APIs, served over real HTTP by a loopback server, must
  raise the hook's own typed error with a sentence that says what came back, never a parser's traceback.

The table of cases is :data:`CORPUS` (id -> expected outcome); the last test checks that it holds
at least 40 cases and that each is run by a test above (RELIABILITY.md lists them).
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from qbo_intacct.flows import customers as cust
from qbo_intacct.flows import vendors as vend
from qbo_intacct.flows.engine import source_frame, target_frame
from qbo_intacct.mappings.loader import load_mappings
from qbo_intacct.mappings.validate import MappingWorkbookError
from qbo_intacct.mappings.workbook import build_workbook

ROOT = Path(__file__).resolve().parents[2]
DEMO_WORKBOOK = ROOT / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
CORPUS: dict[str, str] = {}


def case(family: str, name: str, expected: str) -> str:
    key = f"{family}: {name}"
    CORPUS[key] = expected
    return key


# ====================================================================================== workbook

QBO_LISTS: dict[str, Any] = {"QboAccounts": ["Sales", "Travel"], "QboTerms": ["Net 30"], "QboCurrencies": ["USD"]}
INTACCT_LISTS: dict[str, Any] = {
    "IntacctGLAccounts": [
        {"value": "40000", "name": "Subscription Revenue"},
        {"value": "63000", "name": "Travel"},
        {"value": "69999", "name": "Old suspense", "active": False},
    ],
    "IntacctTerms": ["N30"],
    "IntacctCurrencies": ["USD"],
}
ROWS: dict[str, list[dict[str, Any]]] = {
    "AccountMap": [
        {"QuickBooks Account": "Sales", "Intacct GL Account": "40000"},
        {"QuickBooks Account": "Travel", "Intacct GL Account": "63000"},
    ],
    "TermMap": [{"QuickBooks Term": "Net 30", "Intacct Term": "N30"}],
}


_GOOD: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def _good_template(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One valid workbook per module (building costs a second); each case copies it."""
    folder = tmp_path_factory.mktemp("corpus-workbook")
    _GOOD["path"] = build_workbook(folder / "good.xlsx", qbo_lists=QBO_LISTS, intacct_lists=INTACCT_LISTS, rows=ROWS)


def _good(path: Path) -> Path:
    import shutil

    shutil.copyfile(_GOOD["path"], path)
    return path


def _cell(path: Path, table: str, header: str, row: int = 1) -> tuple[Any, str]:
    """(worksheet, cell coordinate) of ``header``'s column in data row ``row`` of ``table``."""
    from openpyxl.utils import get_column_letter, range_boundaries

    wb = load_workbook(path)
    for ws in wb.worksheets:
        if table in ws.tables:
            min_col, min_row, max_col, _ = range_boundaries(ws.tables[table].ref)
            for col in range(min_col, max_col + 1):
                if ws.cell(row=min_row, column=col).value == header:
                    return wb, f"{ws.title}!{get_column_letter(col)}{min_row + row}"
    raise AssertionError(f"{table}.{header} not found")


def _edit(path: Path, table: str, header: str, value: Any, row: int = 1) -> str:
    wb, where = _cell(path, table, header, row)
    sheet, coord = where.split("!")
    wb[sheet][coord] = value
    wb.save(path)
    return where


def _compound_file(stream: str) -> bytes:
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[24:26] = struct.pack("<H", 0x3E)
    header[26:28] = struct.pack("<H", 3)
    header[28:30] = b"\xfe\xff"
    header[30:32] = struct.pack("<H", 9)
    entries = bytearray()
    for name in ["Root Entry", stream]:
        entry = bytearray(128)
        encoded = (name + "\x00").encode("utf-16-le")
        entry[: len(encoded)] = encoded
        entry[64:66] = struct.pack("<H", len(encoded))
        entry[66] = 5 if name == "Root Entry" else 2
        entries += entry
    return bytes(header) + bytes(entries).ljust(512, b"\x00")


def _break_not_xlsx(p: Path) -> tuple[Path, list[str]]:
    p.write_text("this is a note, not a workbook\n")
    return p, [str(p)]


def _break_empty(p: Path) -> tuple[Path, list[str]]:
    p.write_bytes(b"")
    return p, ["empty"]


def _break_csv(p: Path) -> tuple[Path, list[str]]:
    p.write_text("QuickBooks Account,Entity,Intacct GL Account\nSales,,40000\n")
    return p, ["CSV"]


def _break_password(p: Path) -> tuple[Path, list[str]]:
    p.write_bytes(_compound_file("EncryptedPackage"))
    return p, ["password"]


def _break_old_xls(p: Path) -> tuple[Path, list[str]]:
    p.write_bytes(_compound_file("Workbook"))
    return p, [".xlsx"]


def _break_damaged_zip(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    p.write_bytes(p.read_bytes()[:2000])
    return p, [str(p)]


def _break_missing_sheet(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    wb = load_workbook(p)
    for ws in wb.worksheets:
        if "AccountMap" in ws.tables:
            title = ws.title
            del wb[title]
            break
    wb.save(p)
    return p, ["AccountMap"]


def _break_missing_table(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    wb = load_workbook(p)
    for ws in wb.worksheets:
        if "TermMap" in ws.tables:
            del ws.tables["TermMap"]
    wb.save(p)
    return p, ["TermMap"]


def _break_renamed_column(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    wb, where = _cell(p, "AccountMap", "Intacct GL Account", row=0)
    sheet, coord = where.split("!")
    wb[sheet][coord] = "GL Acct"
    wb.save(p)
    return p, ["Intacct GL Account"]


def _break_duplicate_key(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    where = _edit(p, "AccountMap", "QuickBooks Account", "Sales", row=2)
    return p, [where.split("!")[0], "Sales"]


def _break_unknown_target(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    where = _edit(p, "AccountMap", "Intacct GL Account", "99999", row=1)
    return p, ["99999", where.split("!")[0]]


def _break_inactive_target(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    _edit(p, "AccountMap", "Intacct GL Account", "69999", row=1)
    return p, ["69999"]


def _break_blank_target(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    _edit(p, "TermMap", "QuickBooks Term", "Due on receipt", row=2)
    _edit(p, "TermMap", "Intacct Term", "N30", row=2)
    _edit(p, "TermMap", "Intacct Term", None, row=2)
    _edit(p, "AccountMap", "Entity", "US", row=1)
    _edit(p, "AccountMap", "Intacct GL Account", None, row=1)
    return p, ["Intacct GL Account"]


def _break_formula(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    where = _edit(p, "AccountMap", "Intacct GL Account", "=40000+0", row=1)
    return p, [where.split("!")[1]]


def _break_merged(p: Path) -> tuple[Path, list[str]]:
    _good(p)
    wb, where = _cell(p, "AccountMap", "QuickBooks Account", row=1)
    sheet, coord = where.split("!")
    col = coord.rstrip("0123456789")
    row = int(coord[len(col) :])
    wb[sheet].merge_cells(f"{col}{row}:{col}{row + 1}")
    wb.save(p)
    return p, [sheet]


WORKBOOK_CASES: dict[str, Callable[[Path], tuple[Path, list[str]]]] = {
    case("workbook", "not an xlsx (plain text)", "refused naming the file"): _break_not_xlsx,
    case("workbook", "empty file", "refused: empty, restore a copy"): _break_empty,
    case("workbook", "CSV saved as .xlsx", "refused: CSV, save as Excel"): _break_csv,
    case("workbook", "password-protected", "refused: remove the password"): _break_password,
    case("workbook", "old .xls", "refused: save as .xlsx"): _break_old_xls,
    case("workbook", "damaged zip", "refused naming the file"): _break_damaged_zip,
    case("workbook", "mapping sheet deleted", "refused naming the missing table"): _break_missing_sheet,
    case("workbook", "table deleted", "refused naming the missing table"): _break_missing_table,
    case("workbook", "column renamed", "refused naming the expected column"): _break_renamed_column,
    case("workbook", "duplicate key", "refused naming sheet and value"): _break_duplicate_key,
    case("workbook", "unknown target account", "refused naming the account and sheet"): _break_unknown_target,
    case("workbook", "inactive target account", "refused naming the account"): _break_inactive_target,
    case("workbook", "blank target on an entity row", "refused naming the column"): _break_blank_target,
    case("workbook", "formula cell", "refused naming the cell"): _break_formula,
    case("workbook", "merged cells across mapping rows", "refused naming the sheet"): _break_merged,
}


@pytest.mark.parametrize("key", list(WORKBOOK_CASES))
def test_broken_workbook_is_refused_with_a_specific_message(key: str, tmp_path: Path) -> None:
    path, words = WORKBOOK_CASES[key](tmp_path / "mappings.xlsx")
    with pytest.raises(MappingWorkbookError) as caught:
        load_mappings(path)
    message = str(caught.value)
    assert "Traceback" not in message
    for word in words:
        assert word in message, f"{key}: {word!r} not in {message!r}"


LOOSE = case(
    "workbook",
    "value typed with trailing spaces and another case",
    "customers using it held for review naming the term (not matched; see RELIABILITY.md, open findings)",
)


def test_a_value_typed_with_trailing_spaces_or_another_case_holds_the_records_naming_the_term(tmp_path: Path) -> None:
    path = _good(tmp_path / "mappings.xlsx")
    _edit(path, "TermMap", "QuickBooks Term", "  net 30 ", row=1)
    terms = cust.TermLookup.build([{"Id": "3", "Name": "Net 30"}], load_mappings(path))
    mapped = source_frame(
        cust.SPEC, [_qbo_customer("1", SalesTermRef={"value": "3"}), _qbo_customer("2")], terms, "QB-{qbo_id}"
    )
    assert _hold(mapped, "1") == "unmapped_term:Net 30"
    assert _hold(mapped, "2") is None


# ====================================================================================== records


def _qbo_customer(qbo_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "Id": qbo_id,
        "SyncToken": "0",
        "DisplayName": f"Customer {qbo_id}",
        "CurrencyRef": {"value": "USD"},
        **extra,
    }


def _hold(mapped: Any, rid: str) -> str | None:
    rows = {str(r.get("source_id") or r.get("target_id")): r for r in mapped.frame.to_dict("records")}
    value = rows[rid].get("hold_reason")
    return value if isinstance(value, str) and value else None


@pytest.fixture(scope="module")
def terms() -> cust.TermLookup:
    return cust.TermLookup.build([{"Id": "3", "Name": "Net 30"}], load_mappings(DEMO_WORKBOOK))


# (record changes, expected hold reason or None = maps verbatim, the field the detail must name)
QBO_RECORDS: dict[str, tuple[dict[str, Any], str | None, str | None]] = {
    case("records", "QuickBooks name with quotes, ampersand, angle brackets", "maps verbatim"): (
        {"DisplayName": 'O\'Brien & Sons <Ltd> "Intl"'},
        None,
        None,
    ),
    case("records", "QuickBooks name with ]]>", "maps verbatim"): ({"DisplayName": "Alpha ]]> Beta"}, None, None),
    case("records", "QuickBooks name in right-to-left script", "maps verbatim"): (
        {"DisplayName": "\u0634\u0631\u0643\u0629 \u0627\u0644\u0646\u0648\u0631"},
        None,
        None,
    ),
    case("records", "QuickBooks name with emoji", "maps verbatim"): ({"DisplayName": "Cafe \U0001f600"}, None, None),
    case("records", "QuickBooks 4,000-character memo field", "maps verbatim"): (
        {"CompanyName": "A" * 4000},
        None,
        None,
    ),
    case("records", "QuickBooks name starting with =", "maps verbatim (never a formula in a workbook)"): (
        {"DisplayName": '=HYPERLINK("http://x","y")'},
        None,
        None,
    ),
    case("records", "QuickBooks name starting with +", "maps verbatim"): ({"DisplayName": "+1 Club"}, None, None),
    case("records", "QuickBooks name starting with -", "maps verbatim"): ({"DisplayName": "-dash Ltd"}, None, None),
    case("records", "QuickBooks name starting with @", "maps verbatim"): ({"DisplayName": "@home Ltd"}, None, None),
    case("records", "QuickBooks control character (BEL) in a name", "held: invalid_characters naming the field"): (
        {"CompanyName": "Acme\x07 Motors"},
        "invalid_characters:company_name",
        "company_name",
    ),
    case("records", "QuickBooks NUL in a name", "held: invalid_characters naming the field"): (
        {"CompanyName": "Acme\x00 Motors"},
        "invalid_characters:company_name",
        "company_name",
    ),
    case("records", "QuickBooks amount typed as words", "held: cannot_map naming the field"): (
        {"CreditLimit": "five thousand"},
        "cannot_map",
        "CreditLimit",
    ),
    case("records", "QuickBooks reference to an unknown term", "held: unmapped_term naming the value"): (
        {"SalesTermRef": {"value": "999"}},
        "unmapped_term:999",
        None,
    ),
    case("records", "QuickBooks record without its DisplayName", "held: missing_field:name naming DisplayName"): (
        {"DisplayName": None},
        "missing_field:name",
        "DisplayName",
    ),
    case("records", "QuickBooks DisplayName of blanks only", "held: missing_field:name naming DisplayName"): (
        {"DisplayName": "   "},
        "missing_field:name",
        "DisplayName",
    ),
}


@pytest.mark.parametrize("key", list(QBO_RECORDS))
def test_quickbooks_record_maps_verbatim_or_is_held_naming_the_field(key: str, terms: cust.TermLookup) -> None:
    changes, hold, field_name = QBO_RECORDS[key]
    bad = {k: v for k, v in _qbo_customer("1", **changes).items() if v is not None}
    mapped = source_frame(cust.SPEC, [bad, _qbo_customer("2")], terms, "QB-{qbo_id}")
    assert _hold(mapped, "2") is None, "the rest of the batch maps on"
    assert _hold(mapped, "1") == hold
    if hold is None:
        row = mapped.frame.to_dict("records")[0]
        for k, v in changes.items():
            shown = {"DisplayName": "name", "CompanyName": "company_name"}.get(k)
            if shown:
                assert row[shown] == v
    else:
        details = " ".join(f["detail"] for f in mapped.failures if f["record_id"] == "1")
        if field_name:
            assert field_name in details, details
        assert "Traceback" not in details


INTACCT_RECORDS: dict[str, tuple[list[dict[str, Any]], str, str | None, str]] = {
    case("records", "Intacct record without its ID", "held: cannot_map naming CUSTOMERID"): (
        [{"NAME": "No Id Ltd", "RECORDNO": "77"}],
        "77",
        "cannot_map",
        "CUSTOMERID",
    ),
    case("records", "Intacct control character in a name", "held: invalid_characters naming the field"): (
        [{"CUSTOMERID": "C-1", "NAME": "B\x01ad"}],
        "C-1",
        "invalid_characters:name",
        "name",
    ),
    case("records", "Intacct credit limit typed as words", "held: cannot_map naming the field"): (
        [{"CUSTOMERID": "C-1", "NAME": "A", "CREDITLIMIT": "lots"}],
        "C-1",
        "cannot_map",
        "CREDITLIMIT",
    ),
    case("records", "Intacct record without its NAME", "held: missing_field:name naming NAME"): (
        [{"CUSTOMERID": "C-1"}],
        "C-1",
        "missing_field:name",
        "NAME",
    ),
}


@pytest.mark.parametrize("key", list(INTACCT_RECORDS))
def test_intacct_record_is_held_naming_the_field(key: str) -> None:
    records, rid, hold, field_name = INTACCT_RECORDS[key]
    mapped = target_frame(cust.SPEC, [*records, {"CUSTOMERID": "C-2", "NAME": "Fine Ltd"}])
    assert _hold(mapped, "C-2") is None
    assert _hold(mapped, rid) == hold
    details = " ".join(f["detail"] for f in mapped.failures)
    if field_name:
        assert field_name in details, details


VENDOR_NO_ID = case("records", "Intacct vendor without its VENDORID", "held: cannot_map naming VENDORID")


def test_vendor_without_its_id_is_held_naming_the_field_and_the_batch_goes_on() -> None:
    good = {"VENDORID": "V-2", "NAME": "Good Supplies"}
    mapped = target_frame(vend.SPEC, [{"NAME": "Odd Supplies", "RECORDNO": "41"}, good])
    assert _hold(mapped, "V-2") is None
    assert _hold(mapped, "41") == "cannot_map"
    (failure,) = mapped.failures
    assert "VENDORID" in failure["detail"]
    assert "Odd Supplies" in failure["detail"]


EMAIL_CASE = case("records", "emails differing only in case", "matched: emails compare without case")
CURRENCY_TWINS = case(
    "records",
    "one company as two QuickBooks customers in two currencies, one Intacct customer",
    "both held (duplicate_source) naming both; nothing merged, nothing created",
)


def _match(qbo: list[dict[str, Any]], intacct: list[dict[str, Any]], terms: cust.TermLookup) -> dict[str, Any]:
    import pandas as pd

    from qbo_intacct.flows.engine import match

    source = source_frame(cust.SPEC, qbo, terms, "QB-{qbo_id}").frame
    target = target_frame(cust.SPEC, intacct).frame
    links = pd.DataFrame(columns=["source_id", "target_id"])
    return {str(r["source_id"]): r for r in match(cust.SPEC, source, target, links, {}).to_dict("records")}


def test_emails_differing_only_in_case_match(terms: cust.TermLookup) -> None:
    rows = _match([_qbo_customer("1", PrimaryEmailAddr={"Address": "AP@Alder.example"}, DisplayName="Alder")],
                  [{"CUSTOMERID": "C-9", "NAME": "Alder Holdings", "DISPLAYCONTACT.EMAIL1": "ap@alder.EXAMPLE"},
                   {"CUSTOMERID": "C-8", "NAME": "Birch"}], terms)  # fmt: skip
    assert rows["1"]["outcome"] == "match"
    assert rows["1"]["target_id"] == "C-9"
    assert rows["1"]["matched_by"] == "email"


def test_one_company_in_two_currencies_is_held_not_merged(terms: cust.TermLookup) -> None:
    email = {"PrimaryEmailAddr": {"Address": "ap@cedar.example"}}
    rows = _match([_qbo_customer("1", DisplayName="Cedar Ltd", **email),
                   _qbo_customer("2", DisplayName="Cedar Ltd (GBP)", CurrencyRef={"value": "GBP"}, **email)],
                  [{"CUSTOMERID": "C-5", "NAME": "Cedar Ltd", "DISPLAYCONTACT.EMAIL1": "ap@cedar.example"}],
                  terms)  # fmt: skip
    for rid in ("1", "2"):
        assert rows[rid]["outcome"] == "candidates", rows[rid]
        assert rows[rid]["reason"] == "duplicate_source"
        assert rows[rid]["target_id"] is None


STAGED_NO_ID = case("records", "an extract reply with a record missing its Id", "staged, then held naming the field")


def test_a_record_missing_its_id_is_staged_not_a_key_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_intacct.flows.runtime import stage_records, staged_records

    monkeypatch.setenv("AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT", f"file://{tmp_path}")
    records = [{"Id": "1", "DisplayName": "A"}, {"DisplayName": "No Id"}, {"DisplayName": "No Id either"}]
    staged = stage_records(records, id_field="Id", flow="customers", run_id="corpus", name="qbo")
    assert [r["DisplayName"] for r in staged_records(staged)] == ["A", "No Id", "No Id either"]


# ===================================================================================== documents
#
# Documents from QuickBooks (invoices, journal entries) carrying values QuickBooks should never send,
# or that are typos: each is held with a reason that names the document and the field; none raises
# (one bad document used to fail the whole map task); the good ones in the same batch map on.

DOC_LOOKUPS: dict[str, list[dict[str, Any]]] = {
    "Item": [{"Id": "3", "Name": "Implementation", "IncomeAccountRef": {"value": "17"}}],
    "Account": [
        {"Id": "17", "FullyQualifiedName": "Sales:Implementation Services"},
        {"Id": "21", "FullyQualifiedName": "Discounts given"},
        {"Id": "30", "FullyQualifiedName": "Not in the workbook"},
    ],
    "Department": [{"Id": "1", "FullyQualifiedName": "Boston"}],
    "ExchangeRate": [
        {"SourceCurrencyCode": "GBP", "TargetCurrencyCode": "USD", "Rate": "1.25", "AsOfDate": "2026-01-01"}
    ],
}


def _sale(amount: str = "100.00", item: Any = "3") -> dict[str, Any]:
    detail: dict[str, Any] = {"ItemRef": {"value": item}} if item else {}
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def _doc(**changes: Any) -> dict[str, Any]:
    record = {"Id": "1", "DocNumber": "INV-1", "TxnDate": "2026-10-20", "CustomerRef": {"value": "7", "name": "Alder"},
              "CurrencyRef": {"value": "USD"}, "DepartmentRef": {"value": "1"}, "TotalAmt": "100.00",
              "Balance": "100.00", "Line": [_sale()]}  # fmt: skip
    record.update(changes)
    return record


# case -> (invoice, hold reason or None, words the hold's detail must contain)
INVOICES: dict[str, tuple[dict[str, Any], str | None, list[str]]] = {
    case("documents", "invoice in a currency Intacct does not have", "held: currency_not_enabled naming it"): (
        _doc(CurrencyRef={"value": "XYZ"}), "currency_not_enabled", ["INV-1", "XYZ", "Currencies sheet"]),
    case("documents", "invoice with a negative total", "held: negative_total naming the amount"): (
        _doc(TotalAmt="-50.00", Line=[_sale("-50.00")]), "negative_total", ["INV-1", "-50.00"]),
    case("documents", "invoice of zero", "maps; the plan skips it, counted (Intacct refuses zero lines)"): (
        _doc(TotalAmt="0", Balance="0", Line=[_sale("0")]), None, []),
    case("documents", "invoice of an absurd amount (999,999,999,999,999.99)", "maps exactly, to the cent"): (
        _doc(TotalAmt="999999999999999.99", Balance="0", Line=[_sale("999999999999999.99")]), None, []),
    case("documents", "invoice total NaN", "held: cannot_map naming TotalAmt"): (
        _doc(TotalAmt="NaN"), "cannot_map", ["INV-1", "TotalAmt"]),
    case("documents", "invoice line amount Infinity", "held: cannot_map naming the line's Amount"): (
        _doc(Line=[_sale("Infinity")]), "cannot_map", ["INV-1", "line 1", "Amount"]),
    case("documents", "invoice dated 9999-12-31", "held: date_out_of_range naming TxnDate"): (
        _doc(TxnDate="9999-12-31"), "date_out_of_range", ["INV-1", "TxnDate", "9999-12-31"]),
    case("documents", "invoice dated 0026-10-20", "held: date_out_of_range naming TxnDate"): (
        _doc(TxnDate="0026-10-20"), "date_out_of_range", ["INV-1", "TxnDate"]),
    case("documents", "invoice date not a calendar date (2026-13-45)", "held: cannot_map naming TxnDate"): (
        _doc(TxnDate="2026-13-45"), "cannot_map", ["INV-1", "TxnDate", "2026-13-45"]),
    case("documents", "invoice due date not a date", "held: cannot_map naming DueDate"): (
        _doc(DueDate="31/12/2026"), "cannot_map", ["INV-1", "DueDate"]),
    case("documents", "invoice without its customer reference", "held: missing_reference naming CustomerRef"): (
        _doc(CustomerRef=None), "missing_reference", ["INV-1", "CustomerRef"]),
    case("documents", "invoice line naming an item QuickBooks does not list", "held: missing_reference naming line"): (
        _doc(Line=[_sale(item="999")]), "missing_reference", ["INV-1", "line 1", "999"]),
    case("documents", "invoice line without its item reference", "held: missing_reference naming ItemRef"): (
        _doc(Line=[_sale(item=None)]), "missing_reference", ["INV-1", "line 1", "ItemRef"]),
    case("documents", "invoice whose lines do not add up to its total", "held: total_mismatch naming both sums"): (
        _doc(TotalAmt="120.00"), "total_mismatch", ["INV-1", "100.00", "120.00"]),
    case("documents", "foreign invoice with exchange rate 0", "held: bad_exchange_rate naming the rate"): (
        _doc(CurrencyRef={"value": "GBP"}, ExchangeRate="0"), "bad_exchange_rate", ["INV-1", "GBP", "rate 0"]),
    case("documents", "foreign invoice without an exchange rate", "held: no_exchange_rate"): (
        _doc(CurrencyRef={"value": "GBP"}), "no_exchange_rate", ["INV-1", "GBP"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def doc_context() -> Any:
    from qbo_intacct.flows import invoices as inv

    return inv.DocContext.build(DOC_LOOKUPS, load_mappings(DEMO_WORKBOOK), customers={"7": "C-7"})


@pytest.mark.parametrize("key", list(INVOICES))
def test_bad_invoice_is_held_naming_the_document_and_field(key: str, doc_context: Any) -> None:
    from qbo_intacct.flows import invoices as inv

    record, reason, words = INVOICES[key]
    doc = inv.map_document(inv.INVOICE, record, doc_context)
    if reason is None:
        assert doc.hold is None, doc.hold
        assert sum(line["amount"] for line in doc.lines) == doc.total  # exact, no float on the way
        return
    assert doc.hold is not None
    assert doc.hold.reason == reason, doc.hold
    for word in words:
        assert word in doc.hold.detail, (word, doc.hold.detail)


BATCH_GOES_ON = case("documents", "one unreadable invoice among good ones", "held; the others map in the same run")


def test_one_unreadable_invoice_is_held_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, doc_context: Any
) -> None:
    from qbo_intacct.flows.documents import map_documents
    from qbo_intacct.flows.runtime import stage_records

    monkeypatch.setenv("AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT", f"file://{tmp_path}")
    records = [_doc(Id="1", DocNumber="A-1"), _doc(Id="2", DocNumber="A-2", TxnDate="2026-02-30"),
               _doc(Id="3", DocNumber="A-3", TotalAmt="lots"), _doc(Id="4", DocNumber="A-4")]  # fmt: skip
    staged = stage_records(records, id_field="Id", flow="invoices", run_id="corpus", name="qbo")
    docs, _gone, _numbers = map_documents(qbo={"Invoice": [staged]}, deleted=None, ctx=doc_context, links={})
    held = {d.doc_number: d.hold.reason for d in docs if d.hold}
    assert held == {"A-2": "cannot_map", "A-3": "cannot_map"}
    assert sorted(d.doc_number for d in docs) == ["A-1", "A-2", "A-3", "A-4"]


def _entry(*lines: tuple[Any, str, Any], **changes: Any) -> dict[str, Any]:
    """lines: (posting type, account id, amount), all in department Boston."""
    record = {"Id": "9", "DocNumber": "JE-9", "TxnDate": "2026-10-20", "Line": [
        {"Amount": amount, "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account},
                                                      "DepartmentRef": {"value": "1"}}}
        for posting, account, amount in lines or (("Debit", "21", "100.00"), ("Credit", "17", "100.00"))]}  # fmt: skip
    record.update(changes)
    return record


JOURNALS: dict[str, tuple[dict[str, Any], str | None, list[str]]] = {
    case("documents", "journal entry that does not balance", "held whole: unbalanced naming the entity"): (
        _entry(("Debit", "21", "100.00"), ("Credit", "17", "90.00")), "unbalanced", ["100.00", "90.00"]),
    case("documents", "journal entry line on an unmapped account", "held whole: unmapped_account naming line"): (
        _entry(("Debit", "30", "100.00"), ("Credit", "17", "100.00")), "unmapped_account",
        ["line 1", "Not in the workbook"]),
    case("documents", "journal entry line amount typed as words", "held whole: cannot_map naming line and Amount"): (
        _entry(("Debit", "21", "lots"), ("Credit", "17", "100.00")), "cannot_map", ["line 1", "Amount", "lots"]),
    case("documents", "journal entry line neither Debit nor Credit", "held whole: cannot_map naming PostingType"): (
        _entry(("Sideways", "21", "100.00"), ("Credit", "17", "100.00")), "cannot_map", ["line 1", "PostingType"]),
    case("documents", "journal entry dated 9999-12-31", "held whole: bad_date naming the date"): (
        _entry(TxnDate="9999-12-31"), "bad_date", ["9999-12-31"]),
    case("documents", "journal entry date not a date", "held whole: bad_date naming the date"): (
        _entry(TxnDate="not a date"), "bad_date", ["not a date"]),
    case("documents", "journal entry in a currency Intacct does not have", "held whole: currency_not_enabled"): (
        _entry(CurrencyRef={"value": "XYZ"}, ExchangeRate="2"), "currency_not_enabled", ["XYZ"]),
}  # fmt: skip


@pytest.mark.parametrize("key", list(JOURNALS))
def test_bad_journal_entry_is_held_whole_naming_the_line_and_field(key: str) -> None:
    from qbo_intacct.flows.journal_entries import Hold, JournalContext, map_entry

    ctx = JournalContext(
        mappings=load_mappings(DEMO_WORKBOOK),
        accounts={str(a["Id"]): a for a in DOC_LOOKUPS["Account"]},
        classes={},
        departments={"1": "Boston"},
        closed_accounts=frozenset(),
        base_currency={"US": "USD", "UK": "GBP", "CA": "CAD"},
    )
    record, reason, words = JOURNALS[key]
    mapped = map_entry(record, ctx)
    assert isinstance(mapped, Hold), mapped
    assert mapped.reason_code == reason, mapped
    for word in words:
        assert word in f"{mapped.detail} {mapped.date}", (word, mapped)


# ====================================================================================== replies


class _Canned(BaseHTTPRequestHandler):
    """Answers every request with the body and status the test set (a broken API or proxy)."""

    reply: tuple[int, str, bytes] = (200, "text/plain", b"")

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/oauth2"):
            status, ctype, body = 200, "application/json", json.dumps(
                {"access_token": "canned-access", "expires_in": 3600, "refresh_token": "canned-refresh",
                 "token_type": "bearer"}).encode()  # fmt: skip
        else:
            status, ctype, body = type(self).reply
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def canned() -> Iterator[tuple[str, type[_Canned]]]:
    handler = type("Handler", (_Canned,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()


@pytest.fixture
def canned_connections(canned: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[_Canned]:
    base, handler = canned
    monkeypatch.setenv(
        "AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "s.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_QBO_CANNED", json.dumps({
        "conn_type": "quickbooks", "login": "client", "password": "canned-client-secret",
        "extra": {"realm_id": "1", "refresh_token": "canned-refresh-0", "base_url": f"{base}/v3",
                  "token_url": f"{base}/oauth2/v1/tokens/bearer"}}))  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_INTACCT_CANNED", json.dumps({
        "conn_type": "intacct", "login": "user", "password": "canned-user-password",
        "extra": {"sender_id": "s", "sender_password": "canned-sender-password", "company_id": "c",
                  "endpoint_url": f"{base}/ia/xml/xmlgw.phtml"}}))  # fmt: skip
    from qbo_intacct.hooks._transport import reset_limiters

    reset_limiters()
    return handler


SESSION_OK = (
    b'<?xml version="1.0" encoding="UTF-8"?><response><control><status>success</status></control><operation>'
    b"<authentication><status>success</status><userid>user</userid><companyid>c</companyid></authentication>"
    b"<result><status>success</status><function>getAPISession</function><controlid>x</controlid><data><api>"
    b"<sessionid>s1</sessionid><endpoint>http://127.0.0.1/ia/xml/xmlgw.phtml</endpoint><locationid></locationid>"
    b"</api></data></result></operation></response>"
)

REPLIES: dict[str, tuple[str, tuple[int, str, bytes], str]] = {
    case("replies", "QuickBooks truncated JSON", "QuickBooksError saying the body is not JSON"): (
        "qbo",
        (200, "application/json", b'{"QueryResponse": {"Customer": [{"Id": "1", "Disp'),
        "QuickBooks",
    ),
    case("replies", "QuickBooks HTML error page with status 200", "QuickBooksError, not a JSON traceback"): (
        "qbo",
        (200, "text/html", b"<html><body><h1>Service Unavailable</h1></body></html>"),
        "QuickBooks",
    ),
    case("replies", "QuickBooks reply missing the QueryResponse", "QuickBooksError naming what is missing"): (
        "qbo",
        (200, "application/json", b'{"time": "2026-01-01T00:00:00Z"}'),
        "QuickBooks",
    ),
    case("replies", "QuickBooks unexpected element in place of the list", "QuickBooksError"): (
        "qbo",
        (200, "application/json", b'{"QueryResponse": {"Customer": "surprise"}}'),
        "QuickBooks",
    ),
    case("replies", "Intacct truncated XML", "IntacctError: not acceptable XML"): (
        "intacct",
        (200, "text/xml", SESSION_OK[:150]),
        "Intacct",
    ),
    case("replies", "Intacct HTML error page with status 200", "IntacctError, not an expat traceback"): (
        "intacct",
        (200, "text/html", b"<html><body><h1>Maintenance</h1></body></html>"),
        "Intacct",
    ),
    case("replies", "Intacct reply with a DOCTYPE/entity payload", "IntacctError: DOCTYPE refused"): (
        "intacct",
        (200, "text/xml", b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><response>&x;</response>'),
        "DOCTYPE",
    ),
    case("replies", "Intacct reply missing the operation", "IntacctError naming what is missing"): (
        "intacct",
        (200, "text/xml", b'<?xml version="1.0"?><response><control><status>success</status></control></response>'),
        "Intacct",
    ),
}


@pytest.mark.parametrize("key", list(REPLIES))
def test_malformed_reply_raises_the_hooks_own_error_with_a_sentence(key: str, canned_connections: Any) -> None:
    from qbo_intacct.hooks.intacct import IntacctError, IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksError, QuickBooksHook

    system, reply, word = REPLIES[key]
    canned_connections.reply = reply
    if system == "qbo":
        hook = QuickBooksHook(quickbooks_conn_id="qbo_canned", max_retries=0, max_retry_seconds=0.1)
        with pytest.raises(QuickBooksError) as caught:
            list(hook.iter_query("Customer"))
    else:
        from qbo_intacct.hooks._transport import RetryPolicy

        hook = IntacctHook(intacct_conn_id="intacct_canned", retry_policy=RetryPolicy(max_attempts=1, base=0.01,
                           cap=0.01, max_total=0.1))  # fmt: skip
        with pytest.raises(IntacctError) as caught:
            list(hook.iter_query("CUSTOMER", ["CUSTOMERID"], entity_id=""))
    message = str(caught.value)
    assert word in message, message
    assert "canned-" not in message  # no secret echoed


# ====================================================================================== the corpus


def test_the_corpus_holds_at_least_40_cases_each_run_by_a_test_above() -> None:
    """Every declared case is a parameter (or the subject) of one test above; none is only listed."""
    run_by_tests = {
        *WORKBOOK_CASES,
        *QBO_RECORDS,
        *INTACCT_RECORDS,
        *REPLIES,
        LOOSE,
        VENDOR_NO_ID,
        STAGED_NO_ID,
        *INVOICES,
        BATCH_GOES_ON,
        *JOURNALS,
        EMAIL_CASE,
        CURRENCY_TWINS,
    }
    assert len(CORPUS) >= 40, len(CORPUS)
    assert set(CORPUS) == run_by_tests


def corpus_rows() -> list[tuple[str, str]]:
    """(case, expected outcome) for RELIABILITY.md."""
    return sorted(CORPUS.items())
