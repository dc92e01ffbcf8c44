"""The shape of the finance mapping workbook: one Excel table per mapping, and the lists behind them.

This module is the single description that the template builder, the loader, the validator and the
list refresher all read, so a column added here appears in the template, is read by the loader and
is checked by the validator without anyone touching cell positions.

Decisions a finance reader should know:

- Source values are QuickBooks *names* as QuickBooks shows them (``FullyQualifiedName`` for accounts,
  classes and departments, e.g. ``Utilities:Telephone``). QuickBooks keeps those names unique, and a
  name is what finance recognises. A renamed QuickBooks account therefore shows up as a new unmapped
  row on the next refresh; the old row stays (it is never deleted for you) and the validator warns
  that its source no longer exists. Nothing is ever mapped by guess.
- Target values are Intacct IDs (``ACCOUNTNO``, ``LOCATIONID``, ``DEPARTMENTID``, ``CLASSID``, the term
  name, the tax detail ID, the financial entity ID). The dropdowns offer exactly those IDs; the name
  sits next to the ID on the Lists sheet.
- ``Entity`` blank on an account, tax-code or bank row means "every entity"; a row with an entity
  overrides the blank row for that entity only.
- Fixed choices (Yes/No, directions, systems of record, record-link decisions) come from the
  ``Choices`` sheet so that the dropdown and the validator agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ListSide(StrEnum):
    """Which Lists sheet a dropdown list lives on."""

    QBO = "qbo"
    INTACCT = "intacct"
    CHOICES = "choices"


LIST_SHEETS: dict[ListSide, str] = {
    ListSide.QBO: "Lists QuickBooks",
    ListSide.INTACCT: "Lists Intacct",
    ListSide.CHOICES: "Choices",
}


@dataclass(frozen=True)
class ListSpec:
    """A list of allowed values (one column on a Lists sheet, with names and status beside it).

    ``name`` is also the workbook's defined name that the dropdowns point at, so a refresh that
    makes a list longer only has to move the defined name.
    """

    name: str
    side: ListSide
    title: str


# Live lists: the refresh writes them from each system; finance never edits them.
QBO_LISTS: tuple[ListSpec, ...] = (
    ListSpec("QboAccounts", ListSide.QBO, "QuickBooks accounts"),
    ListSpec("QboBankAccounts", ListSide.QBO, "QuickBooks bank and deposit accounts"),
    ListSpec("QboClasses", ListSide.QBO, "QuickBooks classes"),
    ListSpec("QboDepartments", ListSide.QBO, "QuickBooks departments / locations"),
    ListSpec("QboTerms", ListSide.QBO, "QuickBooks terms"),
    ListSpec("QboTaxCodes", ListSide.QBO, "QuickBooks tax codes"),
    ListSpec("QboPaymentMethods", ListSide.QBO, "QuickBooks payment methods"),
    ListSpec("QboCurrencies", ListSide.QBO, "QuickBooks currencies"),
)
INTACCT_LISTS: tuple[ListSpec, ...] = (
    ListSpec("IntacctEntities", ListSide.INTACCT, "Intacct entities"),
    ListSpec("IntacctGLAccounts", ListSide.INTACCT, "Intacct GL accounts"),
    ListSpec("IntacctLocations", ListSide.INTACCT, "Intacct locations"),
    ListSpec("IntacctDepartments", ListSide.INTACCT, "Intacct departments"),
    ListSpec("IntacctClasses", ListSide.INTACCT, "Intacct classes"),
    ListSpec("IntacctTerms", ListSide.INTACCT, "Intacct terms"),
    ListSpec("IntacctTaxDetails", ListSide.INTACCT, "Intacct tax details"),
    ListSpec("IntacctPaymentMethods", ListSide.INTACCT, "Intacct payment methods"),
    ListSpec("IntacctFinancialEntities", ListSide.INTACCT, "Intacct checking / savings accounts"),
    ListSpec("IntacctCurrencies", ListSide.INTACCT, "Intacct currencies"),
    ListSpec("IntacctExchangeRateTypes", ListSide.INTACCT, "Intacct exchange-rate types"),
)

FLOWS: tuple[str, ...] = (
    "customers",
    "vendors",
    "invoices",
    "bills",
    "customer_payments",
    "vendor_payments",
    "credit_memos",
    "journal_entries",
)
FIELD_GROUPS: tuple[str, ...] = (
    "identity", "contact", "address", "terms", "tax", "currency", "status", "amounts",
    "banking",  # vendors: bank details; without a row they are held for review on every change
)  # fmt: skip

# Fixed choices: written by the template, never by a refresh.
CHOICES: dict[str, tuple[str, ...]] = {
    "YesNo": ("Yes", "No"),
    "Dimensions": ("Department", "Class", "Default"),
    "Directions": ("QuickBooks to Intacct", "Intacct to QuickBooks", "Both ways"),
    "SystemsOfRecord": ("QuickBooks", "Intacct", "Review"),
    "ConflictRules": ("Follow system of record", "Always review"),
    "Systems": ("QuickBooks", "Intacct"),
    "Decisions": ("Link", "Create new", "Ignore"),
    "Flows": FLOWS,
    "FieldGroups": FIELD_GROUPS,
    "Forms1099": ("DIV", "INT", "MISC", "NEC"),
    # journal entries (issue 17)
    "JournalModes": ("Detailed", "Summarized"),
    "SummaryPeriods": ("Month", "Day"),
    # bills (issue 16)
    "BillStates": ("Submitted", "Posted"),
    "DepartmentRules": ("Class per line", "Hold"),
}
CHOICE_LISTS: tuple[ListSpec, ...] = tuple(ListSpec(n, ListSide.CHOICES, n) for n in CHOICES)

ALL_LISTS: dict[str, ListSpec] = {s.name: s for s in (*QBO_LISTS, *INTACCT_LISTS, *CHOICE_LISTS)}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a mapping table, found by its header text (never by position).

    ``source``: the column names a value in the system we read from (filled by the refresh).
    ``list_name``: the dropdown and the validator's allowed values; for a ``source`` column the
    validator only warns when the value is missing from the live list (it may be inactive by now).
    """

    header: str
    attr: str
    required: bool = False
    list_name: str | None = None
    source: bool = False
    width: int = 22
    note: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One mapping: its sheet, its Excel table name, its columns and what makes a row unique."""

    table: str
    sheet: str
    title: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    instructions: str
    # The QuickBooks list whose values the refresh appends when they have no row yet, and the
    # column(s) those values go into (the first is the list value; a fixed dimension can follow).
    source_list: str | None = None
    source_columns: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def column(self, header: str) -> ColumnSpec:
        for col in self.columns:
            if col.header == header:
                return col
        raise KeyError(f"{self.table} has no column {header!r}")

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)


NOTES = ColumnSpec("Notes", "notes", width=40)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        table="AccountMap",
        sheet="Accounts",
        title="QuickBooks account -> Intacct GL account",
        columns=(
            ColumnSpec(
                "QuickBooks Account", "qbo_account", required=True, list_name="QboAccounts", source=True, width=40
            ),
            ColumnSpec("Entity", "entity", list_name="IntacctEntities", width=12, note="blank = every entity"),
            ColumnSpec("Intacct GL Account", "intacct_gl_account", required=True, list_name="IntacctGLAccounts"),
            NOTES,
        ),
        key=("QuickBooks Account", "Entity"),
        instructions=(
            "One row per QuickBooks account. Several QuickBooks accounts may point at the same Intacct "
            "account (folding). Leave Entity blank unless one entity posts to a different GL account."
        ),
        source_list="QboAccounts",
        source_columns=("QuickBooks Account",),
    ),
    TableSpec(
        table="EntityRouting",
        sheet="Entity Routing",
        title="QuickBooks class / department -> Intacct entity, location, department, class",
        columns=(
            ColumnSpec("QuickBooks Dimension", "qbo_dimension", required=True, list_name="Dimensions", source=True),
            ColumnSpec("QuickBooks Value", "qbo_value", required=True, source=True, width=32),
            ColumnSpec("Intacct Entity", "intacct_entity", required=True, list_name="IntacctEntities", width=14),
            ColumnSpec("Intacct Location", "intacct_location", list_name="IntacctLocations", width=16),
            ColumnSpec("Intacct Department", "intacct_department", list_name="IntacctDepartments", width=18),
            ColumnSpec("Intacct Class", "intacct_class", list_name="IntacctClasses", width=16),
            NOTES,
        ),
        key=("QuickBooks Dimension", "QuickBooks Value", "Intacct Entity"),
        instructions=(
            "Which Intacct entity, location, department and class a QuickBooks transaction gets. The entity comes "
            "from the department row (one entity per QuickBooks department), or from a class that has a row for "
            "one entity only. A class may have one row per entity (e.g. a different Intacct department in each). "
            "Location comes from the department row; department and class from the class row when it has them. "
            "A 'Default' row (QuickBooks Value '(none)') gives the entity of documents with neither."
        ),
        source_list="QboClasses",
        source_columns=("QuickBooks Value", "QuickBooks Dimension"),
        extra={"dimension_lists": "Class=QboClasses;Department=QboDepartments"},
    ),
    TableSpec(
        table="TermMap",
        sheet="Terms",
        title="QuickBooks term -> Intacct term",
        columns=(
            ColumnSpec("QuickBooks Term", "qbo_term", required=True, list_name="QboTerms", source=True, width=28),
            ColumnSpec("Intacct Term", "intacct_term", required=True, list_name="IntacctTerms"),
            NOTES,
        ),
        key=("QuickBooks Term",),
        instructions="One row per QuickBooks payment term.",
        source_list="QboTerms",
        source_columns=("QuickBooks Term",),
    ),
    TableSpec(
        table="TaxCodeMap",
        sheet="Tax Codes",
        title="QuickBooks tax code -> Intacct tax detail",
        columns=(
            ColumnSpec("QuickBooks Tax Code", "qbo_tax_code", required=True, list_name="QboTaxCodes", source=True),
            ColumnSpec("Entity", "entity", list_name="IntacctEntities", width=12, note="blank = every entity"),
            ColumnSpec("Intacct Tax Detail", "intacct_tax_detail", list_name="IntacctTaxDetails"),
            ColumnSpec("Intacct GL Account", "intacct_gl_account", list_name="IntacctGLAccounts"),
            NOTES,
        ),
        key=("QuickBooks Tax Code", "Entity"),
        instructions=(
            "One row per QuickBooks tax code: the Intacct tax detail, or, where Intacct does not track tax "
            "(e.g. US sales tax), the GL account the tax amount posts to. Add an entity row where it differs."
        ),
        extra={"one_of": "Intacct Tax Detail|Intacct GL Account"},
        source_list="QboTaxCodes",
        source_columns=("QuickBooks Tax Code",),
    ),
    TableSpec(
        table="PaymentMethodMap",
        sheet="Payment Methods",
        title="QuickBooks payment method -> Intacct payment method",
        columns=(
            ColumnSpec(
                "QuickBooks Payment Method",
                "qbo_payment_method",
                required=True,
                list_name="QboPaymentMethods",
                source=True,
            ),
            ColumnSpec(
                "Intacct Payment Method", "intacct_payment_method", required=True, list_name="IntacctPaymentMethods"
            ),
            NOTES,
        ),
        key=("QuickBooks Payment Method",),
        instructions="One row per QuickBooks payment method.",
        source_list="QboPaymentMethods",
        source_columns=("QuickBooks Payment Method",),
    ),
    TableSpec(
        table="BankAccountMap",
        sheet="Bank Accounts",
        title="QuickBooks bank / deposit account -> Intacct financial entity",
        columns=(
            ColumnSpec(
                "QuickBooks Account", "qbo_account", required=True, list_name="QboBankAccounts", source=True, width=36
            ),
            ColumnSpec("Entity", "entity", list_name="IntacctEntities", width=12, note="blank = every entity"),
            ColumnSpec("Intacct Financial Entity", "intacct_financial_entity", list_name="IntacctFinancialEntities"),
            ColumnSpec("Intacct GL Account", "intacct_gl_account", list_name="IntacctGLAccounts"),
            NOTES,
        ),
        key=("QuickBooks Account", "Entity"),
        instructions=(
            "Where payments and deposits land in Intacct: a checking or savings account (financial entity) per "
            "QuickBooks bank account, or a GL account for Undeposited Funds, which Intacct keeps as a GL account."
        ),
        extra={"one_of": "Intacct Financial Entity|Intacct GL Account"},
        source_list="QboBankAccounts",
        source_columns=("QuickBooks Account",),
    ),
    TableSpec(
        table="CurrencyMap",
        sheet="Currencies",
        title="Currencies and the exchange-rate type",
        columns=(
            ColumnSpec("Currency", "currency", required=True, list_name="QboCurrencies", source=True, width=12),
            ColumnSpec("Enabled", "enabled", required=True, list_name="YesNo", width=10),
            ColumnSpec("Intacct Currency", "intacct_currency", required=True, list_name="IntacctCurrencies", width=16),
            ColumnSpec("Exchange Rate Type", "exchange_rate_type", list_name="IntacctExchangeRateTypes", width=24),
            NOTES,
        ),
        key=("Currency",),
        instructions=(
            "Only currencies marked Enabled are synced; a document in any other currency is held for review. "
            "Exchange Rate Type blank means the rate on the QuickBooks document is sent as is."
        ),
        source_list="QboCurrencies",
        source_columns=("Currency",),
    ),
    TableSpec(
        table="FlowSettings",
        sheet="Flow Settings",
        title="Per flow: enabled, direction, conflict rule",
        columns=(
            ColumnSpec("Flow", "flow", required=True, list_name="Flows", width=20),
            ColumnSpec("Enabled", "enabled", required=True, list_name="YesNo", width=10),
            ColumnSpec("Direction", "direction", required=True, list_name="Directions", width=24),
            ColumnSpec("Conflict Rule", "conflict_rule", required=True, list_name="ConflictRules", width=26),
            NOTES,
        ),
        key=("Flow",),
        instructions=(
            "Conflict Rule decides what happens when a record was edited in both systems since the last sync: "
            "'Follow system of record' applies the Field Groups table; 'Always review' holds every such record."
        ),
    ),
    TableSpec(
        table="FieldGroups",
        sheet="Field Groups",
        title="Per flow and field group: which system wins",
        columns=(
            ColumnSpec("Flow", "flow", required=True, list_name="Flows", width=20),
            ColumnSpec("Field Group", "field_group", required=True, list_name="FieldGroups", width=16),
            ColumnSpec("System of Record", "system_of_record", required=True, list_name="SystemsOfRecord", width=18),
            NOTES,
        ),
        key=("Flow", "Field Group"),
        instructions=(
            "When both systems changed the same field group, the system of record wins; 'Review' holds the record "
            "for a person. Field groups without a row are held for review."
        ),
    ),
    TableSpec(
        table="RecordLinks",
        sheet="Record Links",
        title="Manual decisions per record",
        columns=(
            ColumnSpec("Flow", "flow", required=True, list_name="Flows", width=20),
            ColumnSpec("Source System", "source_system", required=True, list_name="Systems", width=14),
            ColumnSpec("Source Id", "source_id", required=True, width=16),
            ColumnSpec("Decision", "decision", required=True, list_name="Decisions", width=14),
            ColumnSpec("Target Id", "target_id", width=16, note="required for Link"),
            ColumnSpec("Review Item", "review_item", width=12),
            ColumnSpec("Decided By", "decided_by", width=18),
            NOTES,
        ),
        key=("Flow", "Source System", "Source Id"),
        instructions=(
            "Resolve a review item: link a record to an existing one in the other system, create a new one, or "
            "ignore it. The next run applies the decision; it is recorded in the sync ledger."
        ),
    ),
)

# Added for the vendors flow (issue 10); appended so the other tables keep their places.
TABLES = (
    *TABLES,
    TableSpec(
        table="Form1099Map",
        sheet="1099 Forms",
        title="QuickBooks 1099 vendor -> Intacct 1099 form and box",
        columns=(
            ColumnSpec("QuickBooks 1099", "qbo_1099", required=True, list_name="YesNo", width=16),
            ColumnSpec("Intacct Form", "intacct_form", required=True, list_name="Forms1099", width=14),
            ColumnSpec("Intacct Box", "intacct_box", required=True, width=12),
            NOTES,
        ),
        key=("QuickBooks 1099",),
        instructions=(
            "QuickBooks keeps only whether a vendor is a 1099 vendor; Intacct keeps the form and box. The 'Yes' "
            "row gives the form and box a QuickBooks 1099 vendor gets in Intacct (e.g. NEC, box 1). An Intacct "
            "vendor with any form is a 1099 vendor in QuickBooks. Without a 'Yes' row, new 1099 vendors are held."
        ),
    ),
)

# Added for the journal entries flow (issue 17); appended so the other tables keep their places.
TABLES = (
    *TABLES,
    TableSpec(
        table="JournalSettings",
        sheet="Journals",
        title="Journal entries: Intacct journal, detailed or summarized, per entity",
        columns=(
            ColumnSpec("Entity", "entity", list_name="IntacctEntities", width=12, note="blank = every entity"),
            ColumnSpec("Journal Symbol", "journal_symbol", required=True, width=16),
            ColumnSpec("Mode", "mode", required=True, list_name="JournalModes", width=14),
            ColumnSpec("Summary Period", "summary_period", list_name="SummaryPeriods", width=16),
            NOTES,
        ),
        key=("Entity",),
        instructions=(
            "Where QuickBooks journal entries land in Intacct. Journal Symbol is the Intacct journal (e.g. GJ). "
            "Detailed posts one Intacct batch per QuickBooks entry, on each run. Summarized posts one batch per "
            "entity and period (Summary Period: Month or Day) once the period has ended, with lines summed by "
            "account and dimensions; a later change to an entry of that period posts an adjusting batch for the "
            "difference. A row with an Entity overrides the blank row for that entity."
        ),
    ),
    TableSpec(
        table="ClearingAccounts",
        sheet="Clearing Accounts",
        title="Intacct control account -> clearing account for journal entries",
        columns=(
            ColumnSpec("Intacct Control Account", "control_account", required=True, list_name="IntacctGLAccounts"),
            ColumnSpec("Entity", "entity", list_name="IntacctEntities", width=12, note="blank = every entity"),
            ColumnSpec("Intacct Clearing Account", "clearing_account", required=True, list_name="IntacctGLAccounts"),
            NOTES,
        ),
        key=("Intacct Control Account", "Entity"),
        instructions=(
            "Intacct closes its A/R and A/P control accounts to direct posting: only invoices, bills and payments "
            "post there. A QuickBooks journal entry line on such an account posts to the clearing account named "
            "here instead; without a row the whole entry is held for review."
        ),
    ),
)

# Added for the bills flow (issue 16); appended so the other tables keep their places.
TABLES = (
    *TABLES,
    TableSpec(
        table="BillSettings",
        sheet="Bills",
        title="Bills: Intacct state of bills from QuickBooks, departments of bills from Intacct, per entity",
        columns=(
            ColumnSpec("Entity", "entity", list_name="IntacctEntities", width=12, note="blank = every entity"),
            ColumnSpec("Create As", "create_as", required=True, list_name="BillStates", width=14),
            ColumnSpec("Line Departments", "line_departments", required=True, list_name="DepartmentRules", width=18),
            NOTES,
        ),
        key=("Entity",),
        instructions=(
            "Create As: the state a QuickBooks bill gets in Intacct (Submitted = it goes through Intacct's approval "
            "before it can be paid; Posted = approved already). Line Departments: QuickBooks keeps one department "
            "per bill, so an Intacct bill whose lines carry different departments either keeps each line's "
            "department as the line's QuickBooks class (Class per line, the default) or is held for review (Hold). "
            "A row with an Entity overrides the blank row for that entity."
        ),
    ),
)

TABLES_BY_NAME: dict[str, TableSpec] = {t.table: t for t in TABLES}


def dimension_source_lists(spec: TableSpec) -> dict[str, str]:
    """``{"Class": "QboClasses", ...}`` for the routing table, whose source list depends on the dimension."""
    raw = spec.extra.get("dimension_lists", "")
    return dict(part.split("=", 1) for part in raw.split(";") if part)
