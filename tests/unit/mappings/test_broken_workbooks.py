"""A workbook the sync cannot read stops the run before any read or write, with a report that says
which file or cell and what to do: never a bare ``zipfile.BadZipFile``, never a formula read as blank."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qbo_intacct.mappings.loader import inspect_workbook, load_mappings
from qbo_intacct.mappings.validate import MappingWorkbookError
from qbo_intacct.mappings.workbook import build_workbook

INTACCT_LISTS = {"IntacctGLAccounts": [{"value": "40000", "name": "Software Revenue"}], "IntacctCurrencies": ["USD"]}
QBO_LISTS = {"QboAccounts": ["Sales", "Travel"], "QboCurrencies": ["USD"]}


def _good(path: Path) -> Path:
    rows = {"AccountMap": [{"QuickBooks Account": "Sales", "Intacct GL Account": "40000"}]}
    return build_workbook(path, qbo_lists=QBO_LISTS, intacct_lists=INTACCT_LISTS, rows=rows)


def _refused(path: Path) -> str:
    with pytest.raises(MappingWorkbookError) as caught:
        load_mappings(path)
    return str(caught.value)


def test_an_empty_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "mappings.xlsx"
    path.write_bytes(b"")
    message = _refused(path)
    assert str(path) in message
    assert "empty (0 bytes)" in message
    assert "Restore the last good copy" in message


def test_a_csv_saved_as_xlsx_is_refused_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "mappings.xlsx"
    path.write_text("QuickBooks Account,Entity,Intacct GL Account\nSales,,40000\n")
    message = _refused(path)
    assert "CSV text, not an Excel workbook" in message
    assert "save it as Excel Workbook (.xlsx)" in message


def _compound_file(stream_names: list[str]) -> bytes:
    """A minimal OLE compound file (the container Excel encrypts .xlsx files into) naming the given streams."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[24:26] = struct.pack("<H", 0x3E)  # minor version
    header[26:28] = struct.pack("<H", 3)  # major version 3: 512-byte sectors
    header[28:30] = b"\xfe\xff"  # little endian
    header[30:32] = struct.pack("<H", 9)
    entries = bytearray()
    for name in ["Root Entry", *stream_names]:
        entry = bytearray(128)
        encoded = (name + "\x00").encode("utf-16-le")
        entry[: len(encoded)] = encoded
        entry[64:66] = struct.pack("<H", len(encoded))
        entry[66] = 5 if name == "Root Entry" else 2
        entries += entry
    return bytes(header) + bytes(entries).ljust(512, b"\x00")


def test_an_encrypted_workbook_is_refused_with_how_to_remove_the_password(tmp_path: Path) -> None:
    path = tmp_path / "mappings.xlsx"
    path.write_bytes(_compound_file(["EncryptionInfo", "EncryptedPackage"]))
    message = _refused(path)
    assert "password to open (encrypted)" in message
    assert "Encrypt with Password" in message
    assert "BadZipFile" not in message


def test_an_old_xls_is_refused_with_save_as_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "mappings.xlsx"
    path.write_bytes(_compound_file(["Workbook"]))
    assert "old Excel 97-2003 format (.xls)" in _refused(path)


def test_a_damaged_zip_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    path = _good(tmp_path / "mappings.xlsx")
    path.write_bytes(path.read_bytes()[:2000])  # a copy that stopped half-way
    message = _refused(path)
    assert "cannot be opened as an Excel workbook" in message
    assert "restore the last good copy" in message


def test_a_formula_without_a_calculated_value_is_refused_naming_the_cell(tmp_path: Path) -> None:
    path = _good(tmp_path / "mappings.xlsx")
    wb = load_workbook(path)
    ws = wb["Accounts"]
    target = next(c.column for c in ws[1] if c.value == "Intacct GL Account")
    ws.cell(row=2, column=target, value='=TEXT(40000,"0")')  # openpyxl saves no calculated value
    wb.save(path)
    mappings, problems = inspect_workbook(path)
    assert mappings is None
    (problem,) = problems
    assert (problem.sheet, problem.row, problem.column) == ("Accounts", 2, "Intacct GL Account")
    assert "has no calculated value" in str(problem)
    assert "Open the workbook in Excel and save it" in str(problem)


def test_a_good_workbook_still_loads(tmp_path: Path) -> None:
    mappings = load_mappings(_good(tmp_path / "mappings.xlsx"))
    assert mappings.gl_account("Sales") == "40000"
