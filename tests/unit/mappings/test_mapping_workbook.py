"""The finance mapping workbook: template, loader, validator, refresh and the demo builder.

Every test writes a real .xlsx under tmp_path and reads it back with openpyxl, as finance's Excel
would see it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from include.mappings.build import build_demo_workbook
from qbo_intacct.mappings.loader import (
    DEFAULT_WORKBOOK,
    Decision,
    Direction,
    MappingWorkbook,
    Route,
    inspect_workbook,
    load_mappings,
    mapping_workbook_path,
)
from qbo_intacct.mappings.refresh import WorkbookRefreshError, append_unmapped, refresh_lists, refresh_workbook
from qbo_intacct.mappings.schema import TABLES
from qbo_intacct.mappings.validate import MappingWorkbookError, Severity
from qbo_intacct.mappings.workbook import UNMAPPED_FILL, ListEntry, build_template, build_workbook

QBO_LISTS: dict[str, Any] = {
    "QboAccounts": ["Sales", "Travel", "Meals and Entertainment", "Utilities:Telephone", "Ask My Accountant"],
    "QboClasses": ["Sales", "Services:Implementation"],
    "QboDepartments": ["Boston", "London"],
    "QboTerms": ["Net 30"],
    "QboCurrencies": ["USD", "GBP"],
}
INTACCT_LISTS: dict[str, Any] = {
    "IntacctEntities": ["US", "UK"],
    "IntacctGLAccounts": [
        {"value": "40000", "name": "Subscription Revenue"},
        {"value": "63000", "name": "Travel and Entertainment"},
        {"value": "66000", "name": "Utilities and Telecom"},
        {"value": "69999", "name": "Old suspense", "active": False},
    ],
    "IntacctLocations": ["US-BOS", "UK-LDN"],
    "IntacctDepartments": ["US-SALES", "UK-SALES", "US-SVC"],
    "IntacctClasses": ["SUB", "IMPL"],
    "IntacctTerms": ["N30"],
    "IntacctCurrencies": ["USD", "GBP"],
}
ROWS: dict[str, list[dict[str, Any]]] = {
    "AccountMap": [
        {"QuickBooks Account": "Sales", "Intacct GL Account": "40000"},
        {"QuickBooks Account": "Travel", "Intacct GL Account": "63000"},
        {"QuickBooks Account": "Meals and Entertainment", "Intacct GL Account": "63000"},
        {"QuickBooks Account": "Utilities:Telephone", "Intacct GL Account": "66000"},
        {"QuickBooks Account": "Utilities:Telephone", "Entity": "UK", "Intacct GL Account": "63000"},
    ],
    "EntityRouting": [
        {"qbo_dimension": "Department", "qbo_value": "Boston", "intacct_entity": "US", "intacct_location": "US-BOS"},
        {"qbo_dimension": "Department", "qbo_value": "London", "intacct_entity": "UK", "intacct_location": "UK-LDN"},
        {
            "qbo_dimension": "Class",
            "qbo_value": "Sales",
            "intacct_entity": "US",
            "intacct_department": "US-SALES",
            "intacct_class": "SUB",
        },
        {
            "qbo_dimension": "Class",
            "qbo_value": "Sales",
            "intacct_entity": "UK",
            "intacct_department": "UK-SALES",
            "intacct_class": "SUB",
        },
    ],
    "TermMap": [{"QuickBooks Term": "Net 30", "Intacct Term": "N30"}],
    "CurrencyMap": [
        {"Currency": "USD", "Enabled": "Yes", "Intacct Currency": "USD"},
        {"Currency": "GBP", "Enabled": "No", "Intacct Currency": "GBP"},
    ],
}


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return build_workbook(tmp_path / "mappings.xlsx", qbo_lists=QBO_LISTS, intacct_lists=INTACCT_LISTS, rows=ROWS)


def _set(path: Path, sheet: str, cell: str, value: object) -> None:
    wb = load_workbook(path)
    wb[sheet][cell] = value
    wb.save(path)


def _errors(path: Path, **kw: Any) -> list[str]:
    _, problems = inspect_workbook(path, **kw)
    return [str(p) for p in problems if p.severity is Severity.ERROR]


# --- template -------------------------------------------------------------------------------


def test_template_has_instructions_first_and_one_excel_table_per_mapping(tmp_path: Path) -> None:
    wb = load_workbook(build_template(tmp_path / "t.xlsx"))
    assert wb.sheetnames[0] == "Instructions"
    tables = {name for ws in wb.worksheets for name in ws.tables}
    assert tables == {spec.table for spec in TABLES}


def test_template_has_both_systems_lists_sheets_and_frozen_headers(tmp_path: Path) -> None:
    wb = load_workbook(build_template(tmp_path / "t.xlsx"))
    assert {"Lists QuickBooks", "Lists Intacct", "Choices"} <= set(wb.sheetnames)
    assert wb["Accounts"].freeze_panes == "B2"


def test_target_dropdown_points_at_a_named_lists_range_not_a_literal(workbook: Path) -> None:
    wb = load_workbook(workbook)
    formulas = {dv.formula1 for dv in wb["Accounts"].data_validations.dataValidation}
    assert "IntacctGLAccounts" in formulas  # the workbook name, stored without "=" as Excel writes it
    # Only the three active accounts are offered; the inactive one stays on the sheet below them.
    assert wb.defined_names["IntacctGLAccounts"].attr_text == "'Lists Intacct'!$I$2:$I$4"  # the 'code - name' column


def test_formula_like_api_string_is_stored_as_literal_text(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example","click")'
    path = build_workbook(tmp_path / "m.xlsx", qbo_lists={"QboAccounts": [evil]})
    cell = load_workbook(path)["Lists QuickBooks"]["A2"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (evil, "s", True)


def test_control_characters_from_an_api_are_stripped_not_fatal(tmp_path: Path) -> None:
    path = build_workbook(tmp_path / "m.xlsx", qbo_lists={"QboAccounts": ["Office\x0bSupplies"]})
    assert load_workbook(path)["Lists QuickBooks"]["A2"].value == "OfficeSupplies"


# --- loader ---------------------------------------------------------------------------------


def test_demo_shaped_workbook_loads_with_typed_mappings(workbook: Path) -> None:
    mappings = load_mappings(workbook)
    assert mappings.gl_account("Meals and Entertainment") == "63000"
    assert mappings.flow("customers").direction is Direction.BOTH
    assert mappings.enabled_currencies == frozenset({"USD"})


def test_entity_row_overrides_the_every_entity_row(workbook: Path) -> None:
    mappings = load_mappings(workbook)
    assert (mappings.gl_account("Utilities:Telephone", "US"), mappings.gl_account("Utilities:Telephone", "UK")) == (
        "66000",
        "63000",
    )


def test_department_decides_entity_and_class_row_gives_department_and_class(workbook: Path) -> None:
    route = load_mappings(workbook).route(qbo_class="Sales", qbo_department="London")
    assert route is not None
    assert (route.entity, route.location, route.department, route.intacct_class) == ("UK", "UK-LDN", "UK-SALES", "SUB")


def test_class_routed_to_several_entities_cannot_decide_the_entity_alone(workbook: Path) -> None:
    assert load_mappings(workbook).route(qbo_class="Sales") is None


def test_tables_are_found_by_name_after_finance_renames_the_sheet(workbook: Path) -> None:
    wb = load_workbook(workbook)
    wb["Accounts"].title = "GL mapping (finance)"
    wb.save(workbook)
    assert load_mappings(workbook).gl_account("Travel") == "63000"


def test_columns_are_found_by_header_after_finance_reorders_them(workbook: Path) -> None:
    wb = load_workbook(workbook)
    ws = wb["Terms"]
    ws["A1"], ws["B1"] = "Intacct Term", "QuickBooks Term"
    ws["A2"], ws["B2"] = "N30", "Net 30"
    wb.save(workbook)
    assert load_mappings(workbook).term("Net 30") == "N30"


def test_account_number_typed_as_a_number_is_read_as_text(workbook: Path) -> None:
    _set(workbook, "Accounts", "C2", 40000)
    assert load_mappings(workbook).gl_account("Sales") == "40000"


# --- validator ------------------------------------------------------------------------------


def test_missing_table_is_reported_naming_its_sheet(workbook: Path) -> None:
    wb = load_workbook(workbook)
    del wb["Terms"].tables["TermMap"]
    wb.save(workbook)
    assert _errors(workbook) == ["sheet 'Terms': the Excel table 'TermMap' is missing (expected on sheet 'Terms')"]


def test_duplicate_key_is_reported_with_sheet_row_and_column(workbook: Path) -> None:
    _set(workbook, "Accounts", "A3", "sales")  # same account as row 2, different case
    assert _errors(workbook) == [
        "sheet 'Accounts', row 3, column 'QuickBooks Account', cell A3: duplicate mapping "
        "(QuickBooks Account='sales', Entity='') already on row 2; keep one row per QuickBooks Account and Entity"
    ]


def test_unknown_target_account_is_reported_with_sheet_row_and_column(workbook: Path) -> None:
    _set(workbook, "Accounts", "C4", "99999")
    assert _errors(workbook) == [
        "sheet 'Accounts', row 4, column 'Intacct GL Account', cell C4: '99999' does not exist in Intacct "
        "(Intacct GL accounts)"
    ]


def test_inactive_target_account_is_rejected(workbook: Path) -> None:
    _set(workbook, "Accounts", "C4", "69999")
    assert _errors(workbook) == [
        "sheet 'Accounts', row 4, column 'Intacct GL Account', cell C4: "
        "'69999' is inactive in Intacct; pick an active one"
    ]


def test_live_lists_passed_by_the_flow_take_precedence_over_the_lists_sheet(workbook: Path) -> None:
    live = {"IntacctGLAccounts": [ListEntry("40000"), ListEntry("66000"), ListEntry("63000", active=False)]}
    assert len(_errors(workbook, intacct_lists=live)) == 3  # Travel, Meals, Telephone/UK now inactive


def test_broken_workbook_raises_one_error_listing_every_problem(workbook: Path) -> None:
    wb = load_workbook(workbook)
    wb["Accounts"]["C4"] = "99999"
    wb["Terms"]["B2"] = "N99"
    wb["Flow Settings"]["C2"] = "Sideways"
    wb.save(workbook)
    with pytest.raises(MappingWorkbookError) as raised:
        load_mappings(workbook)
    assert [(p.sheet, p.row, p.column) for p in raised.value.problems] == [
        ("Accounts", 4, "Intacct GL Account"),
        ("Terms", 2, "Intacct Term"),
        ("Flow Settings", 2, "Direction"),
    ]


def test_required_target_missing_while_other_targets_filled_is_an_error(workbook: Path) -> None:
    _set(workbook, "Entity Routing", "C2", None)  # location kept, entity cleared
    assert _errors(workbook) == ["sheet 'Entity Routing', row 2, column 'Intacct Entity', cell C2: required"]


def test_row_with_only_its_source_filled_is_unmapped_not_an_error(workbook: Path) -> None:
    _set(workbook, "Accounts", "A7", "Ask My Accountant")
    wb = load_workbook(workbook)
    table = wb["Accounts"].tables["AccountMap"]
    table.ref = "A1:D7"
    wb.save(workbook)
    mappings = load_mappings(workbook)
    assert (mappings.gl_account("Ask My Accountant"), mappings.unmapped["AccountMap"]) == (None, ("Ask My Accountant",))


def test_record_link_decision_link_needs_a_target_id(workbook: Path) -> None:
    wb = load_workbook(workbook)
    ws = wb["Record Links"]
    for col, value in zip("ABCD", ("customers", "QuickBooks", "58", "Link"), strict=True):
        ws[f"{col}2"] = value
    wb.save(workbook)
    assert _errors(workbook) == ["sheet 'Record Links', row 2, column 'Target Id', cell E2: Link needs a Target Id"]


def test_record_link_decision_is_typed(workbook: Path) -> None:
    wb = load_workbook(workbook)
    ws = wb["Record Links"]
    for col, value in zip("ABCDE", ("customers", "QuickBooks", "58", "Link", "C-00058"), strict=True):
        ws[f"{col}2"] = value
    wb.save(workbook)
    (link,) = load_mappings(workbook).links_for("customers")
    assert (link.source_id, link.decision, link.target_id) == ("58", Decision.LINK, "C-00058")


def test_missing_workbook_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MappingWorkbookError, match="does not exist"):
        load_mappings(tmp_path / "nope.xlsx")


def test_workbook_path_comes_from_the_airflow_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK", str(tmp_path / "finance.xlsx"))
    assert mapping_workbook_path() == tmp_path / "finance.xlsx"


def test_workbook_path_defaults_to_the_demo_workbook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK", raising=False)
    assert mapping_workbook_path() == DEFAULT_WORKBOOK


# --- refresh --------------------------------------------------------------------------------


def _mapping_sheet_values(path: Path) -> dict[tuple[str, str], object]:
    wb = load_workbook(path)
    return {
        (ws.title, cell.coordinate): cell.value
        for ws in wb.worksheets
        if not ws.title.startswith("Lists") and ws.title != "Choices"
        for row in ws.iter_rows()
        for cell in row
        if cell.value is not None
    }


def test_refresh_appends_unmapped_source_values_highlighted(workbook: Path) -> None:
    appended = append_unmapped(workbook, "AccountMap", ["Sales", "Ask My Accountant"])
    ws = load_workbook(workbook)["Accounts"]
    assert (appended, ws["A7"].value, ws.tables["AccountMap"].ref) == (
        ["Ask My Accountant"],
        "Ask My Accountant",
        "A1:D7",
    )
    # Highlighted by conditional formatting (gone once the target is filled in), never a fixed fill.
    assert ws["A7"].fill.fgColor.rgb != UNMAPPED_FILL.fgColor.rgb
    (rule,) = [r for cf in ws.conditional_formatting for r in cf.rules]
    assert rule.dxf.fill.bgColor.rgb == UNMAPPED_FILL.bgColor.rgb


def test_an_appended_formula_like_source_value_stays_literal_text(workbook: Path) -> None:
    append_unmapped(workbook, "AccountMap", ["=1+1"])
    cell = load_workbook(workbook)["Accounts"]["A7"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")


def test_refresh_never_changes_what_finance_typed(workbook: Path) -> None:
    _set(workbook, "Accounts", "D3", "=folded per CFO 2026-10")  # a note that even looks like a formula
    before = _mapping_sheet_values(workbook)
    refresh_workbook(workbook, {**QBO_LISTS, "QboAccounts": [*QBO_LISTS["QboAccounts"], "Grant Income"]}, INTACCT_LISTS)
    after = _mapping_sheet_values(workbook)
    assert {k: v for k, v in after.items() if k in before} == before


def test_refresh_twice_appends_nothing_the_second_time(workbook: Path) -> None:
    first = refresh_workbook(workbook, QBO_LISTS, INTACCT_LISTS)
    second = refresh_workbook(workbook, QBO_LISTS, INTACCT_LISTS)
    assert (first.appended_count > 0, second.appended_count) == (True, 0)


def test_refresh_appends_class_and_department_values_with_their_dimension(workbook: Path) -> None:
    report = refresh_workbook(workbook, QBO_LISTS, INTACCT_LISTS)
    assert report.appended["EntityRouting"] == ["Services:Implementation"]


def test_refresh_stops_rather_than_overwrite_a_value_typed_below_a_table(workbook: Path) -> None:
    _set(workbook, "Accounts", "A7", "finance's own note")
    with pytest.raises(WorkbookRefreshError, match="row 7 below table AccountMap is not empty"):
        append_unmapped(workbook, "AccountMap", ["Ask My Accountant"])


def test_refreshed_list_moves_the_dropdown_range_with_it(workbook: Path) -> None:
    refresh_lists(workbook, None, {"IntacctTerms": ["N15", "N30", "N60"]})
    wb = load_workbook(workbook)
    assert wb.defined_names["IntacctTerms"].attr_text == "'Lists Intacct'!$AC$2:$AC$4"


def test_refresh_keeps_lists_it_was_not_given(workbook: Path) -> None:
    refresh_lists(workbook, None, {"IntacctTerms": ["N15", "N30"]})
    assert load_mappings(workbook).gl_account("Travel") == "63000"  # GL list still there, still valid


# --- demo workbook --------------------------------------------------------------------------

# A trimmed copy of the generator's ``mapping_hints`` (include/sandbox/books/generate.py documents the format).
DEMO_MANIFEST: dict[str, Any] = {
    "mapping_hints": {
        "accounts": [
            {"qbo_account": "Travel", "qbo_id": "30", "intacct_account": "63000", "intacct_title": "T&E"},
            {"qbo_account": "Meals and Entertainment", "intacct_account": "63000", "intacct_title": "T&E"},
            {"qbo_account": "Other Income:Grant Income", "intacct_account": None, "intacct_title": None},
            {"qbo_account": "Ask My Accountant", "qbo_id": "40", "intacct_account": None, "intacct_title": None},
        ],
        "unmapped_accounts": ["Ask My Accountant", "Other Income:Grant Income"],
        "departments": [
            {"qbo_department": "Boston", "qbo_id": "1", "intacct_entity": "US", "intacct_location": "US-BOS"},
            {"qbo_department": "London", "qbo_id": "3", "intacct_entity": "UK", "intacct_location": "UK-LDN"},
        ],
        "classes": [
            {
                "qbo_class": "Sales",
                "qbo_id": "1",
                "intacct_class": "SUB",
                "intacct_department_by_entity": {"US": "US-SALES", "UK": "UK-SALES"},
            }
        ],
        "default_entity": "US",
        "terms": [{"qbo_term": "Net 30", "qbo_id": "3", "intacct_term": "N30", "due_days": 30}],
        "tax_codes": [{"qbo_tax_code": "Texas", "qbo_id": "2", "rate_percent": "8.25", "intacct_account": "22000"}],
        "payment_methods": [{"qbo_payment_method": "Check", "qbo_id": "2", "intacct_payment_method": "Printed Check"}],
        "bank_accounts": [
            {"name": "Checking", "qbo_account": "Checking", "intacct_financial_entity": "BOA-US-CHK",
             "intacct_gl": "10100", "intacct_entity": "US", "currency": "USD", "undeposited": False},
            {"name": "Undeposited Funds", "qbo_account": "Undeposited Funds", "intacct_financial_entity": None,
             "intacct_gl": "10500", "intacct_entity": "US", "currency": "USD", "undeposited": True},
            {"name": "Barclays GBP Operating", "qbo_account": None, "intacct_financial_entity": "BARC-UK-GBP",
             "intacct_gl": "10200", "intacct_entity": "UK", "currency": "GBP", "undeposited": False},
        ],
        "currencies": {"qbo_home": "USD", "qbo": ["GBP", "USD"], "intacct": ["GBP", "USD"],
                       "intacct_entities": {"US": "USD", "UK": "GBP"}, "not_in_intacct": ["CHF"]},
    }
}  # fmt: skip


@pytest.fixture
def demo(tmp_path: Path) -> MappingWorkbook:
    return load_mappings(build_demo_workbook(DEMO_MANIFEST, tmp_path / "demo.xlsx"))


def test_demo_workbook_folds_accounts_and_maps_undeposited_funds_to_a_gl_account(demo: MappingWorkbook) -> None:
    assert (demo.gl_account("Meals and Entertainment"), demo.bank_account("Undeposited Funds").intacct_gl_account) == (
        "63000",
        "10500",
    )


def test_demo_workbook_leaves_the_deliberately_unmapped_accounts_unmapped(demo: MappingWorkbook) -> None:
    assert demo.unmapped["AccountMap"] == ("Ask My Accountant", "Other Income:Grant Income")


def test_demo_routing_takes_entity_from_department_and_department_from_class(demo: MappingWorkbook) -> None:
    assert demo.route(qbo_class="Sales", qbo_department="London") == Route("UK", "UK-LDN", "UK-SALES", "SUB")


def test_document_without_department_goes_to_the_default_entity(demo: MappingWorkbook) -> None:
    assert demo.route(qbo_class="Sales") == Route("US", None, "US-SALES", "SUB")


def test_unknown_department_never_falls_back_to_the_default_entity(demo: MappingWorkbook) -> None:
    assert demo.route(qbo_class="Sales", qbo_department="Paris") is None


def test_demo_workbook_from_the_generated_demo_books_validates(tmp_path: Path) -> None:
    from include.sandbox.books.generate import generate_books

    manifest = generate_books(seed=42, scale="tiny", out=tmp_path / "books")
    mappings = load_mappings(build_demo_workbook(manifest, tmp_path / "demo.xlsx"))
    assert set(mappings.unmapped["AccountMap"]) == set(manifest["mapping_hints"]["unmapped_accounts"])
