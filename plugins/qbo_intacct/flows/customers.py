"""Customers, both ways: QuickBooks ``Customer`` <-> Intacct ``CUSTOMER``.

The flow's source system is QuickBooks (``source_id`` = QuickBooks ``Id``), its target Intacct
(``target_id`` = ``CUSTOMERID``). Both sides are mapped into one shared vocabulary, so the planner
compares like with like:

=============== ======================================= ==============================================
field group     QuickBooks                              Intacct
=============== ======================================= ==============================================
identity        DisplayName, CompanyName                NAME, DISPLAYCONTACT.COMPANYNAME
contact         PrimaryEmailAddr, PrimaryPhone          DISPLAYCONTACT.EMAIL1, DISPLAYCONTACT.PHONE1
address         BillAddr (Line1, Line2, City,           DISPLAYCONTACT.MAILADDRESS (ADDRESS1, ADDRESS2,
                CountrySubDivisionCode, PostalCode,     CITY, STATE, ZIP, COUNTRY)
                Country)
terms           SalesTermRef (via the Terms sheet),     TERMNAME, CREDITLIMIT
                CreditLimit
tax             Taxable, PrimaryTaxIdentifier,          TAXABLE, TAXID, RESALENO
                ResaleNum (exemption certificate)
currency        CurrencyRef                             CURRENCY
status          Active                                  STATUS (active / inactive)
=============== ======================================= ==============================================

Which side wins a two-sided edit is the workbook's Field Groups sheet (system of record per group).

Rules a finance reader should know:

- **Intacct CUSTOMERID** of a customer the sync creates from QuickBooks is derived from the
  QuickBooks id by a pattern (default ``QB-{qbo_id}``; Airflow Variable
  ``qbo_intacct_customer_id_pattern``). Change it only before the first run: the pattern is how a
  lost ledger finds its links again.
- **QuickBooks DisplayName** of a customer the sync creates from Intacct is the Intacct NAME with
  ``:`` replaced by ``-`` (QuickBooks forbids colons) and, if the name is already used by another
  customer, vendor or employee (QuickBooks keeps DisplayName unique across all three), followed by
  `` (CUSTOMERID)``. The Intacct CUSTOMERID is stored in the QuickBooks customer's account number
  (``AcctNum``), a field the sync owns: it is how a rerun without a ledger recognises the customer.
- **Terms** go through the workbook's Terms sheet (QuickBooks term name -> Intacct term). A term
  with no row, or an Intacct term that several QuickBooks terms map to, holds the customer for
  review; nothing is guessed.
- **Currency** cannot be changed on a QuickBooks customer once it has transactions; QuickBooks
  refuses it and the customer is held for review with QuickBooks' message.
- Sub-customers (QuickBooks jobs) are not synced: Intacct has no customer hierarchy by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from qbo_intacct.flows import fields as f
from qbo_intacct.flows.declaration import FlowMappingError, FlowSpec, TakenNames, same_display_name
from qbo_intacct.flows.declaration import qbo_display_name as _qbo_display_name
from qbo_intacct.flows.fields import ADDRESS_FIELDS, INTACCT_ADDRESS_FIELDS, TermLookup
from qbo_intacct.flows.matching import StrongId, normalize_email, normalize_reference, normalize_tax_id

if TYPE_CHECKING:
    import pandas as pd

    from qbo_intacct.mappings.loader import MappingWorkbook

FLOW = "customers"
QBO_ENTITY = "Customer"
INTACCT_OBJECT = "CUSTOMER"
CUSTOMER_ID_PATTERN_VARIABLE = "qbo_intacct_customer_id_pattern"
DEFAULT_CUSTOMER_ID_PATTERN = "QB-{qbo_id}"
INTACCT_CUSTOMER_ID_MAX = 20

FIELD_GROUPS: dict[str, list[str]] = {
    "identity": ["name", "company_name"],
    "contact": ["email", "phone"],
    "address": ADDRESS_FIELDS,
    "terms": ["term", "credit_limit"],
    "tax": ["taxable", "tax_id", "resale_number"],
    "currency": ["currency"],
    "status": ["active"],
}
SHARED_FIELDS: list[str] = [name for names in FIELD_GROUPS.values() for name in names]

#: Intacct fields the extract selects (query has no ``*``).
INTACCT_FIELDS: list[str] = [
    "RECORDNO",
    "CUSTOMERID",
    "NAME",
    "DISPLAYCONTACT.COMPANYNAME",
    "DISPLAYCONTACT.EMAIL1",
    "DISPLAYCONTACT.PHONE1",
    *INTACCT_ADDRESS_FIELDS,
    "TERMNAME",
    "CREDITLIMIT",
    "TAXABLE",
    "TAXID",
    "RESALENO",
    "CURRENCY",
    "STATUS",
    "MEGAENTITYID",
    "WHENMODIFIED",
]

#: Identifiers strong enough to link two customers: stored references first, then tax ID and email.
STRONG_IDS: tuple[StrongId, ...] = (
    StrongId("stored_reference", "intacct_ref", "target_id", normalize_reference),
    StrongId("derived_customer_id", "derived_customer_id", "target_id", normalize_reference),
    StrongId("tax_id", "tax_id", "tax_id", normalize_tax_id),
    StrongId("email", "email", "email", normalize_email),
)
#: The identifiers that make two records of the *same* system look like one company keyed twice.
DUPLICATE_IDS: tuple[tuple[str, Any], ...] = (("tax_id", normalize_tax_id), ("email", normalize_email))

SOURCE_COLUMNS = ["source_id", "sync_token", "intacct_ref", "derived_customer_id", "is_job", "hold_reason"]
TARGET_COLUMNS = ["target_id", "record_no", "entity", "source_ref", "target_key", "hold_reason"]


class CustomerMappingError(FlowMappingError):
    """A customer cannot be expressed in the other system; names record and field."""


def derive_customer_id(qbo_id: str, pattern: str = DEFAULT_CUSTOMER_ID_PATTERN) -> str:
    """The Intacct CUSTOMERID for a customer created from QuickBooks ``qbo_id`` (deterministic)."""
    return f.derive_id(qbo_id, pattern, noun="customer", id_name="CUSTOMERID", max_length=INTACCT_CUSTOMER_ID_MAX,
                       error=CustomerMappingError)  # fmt: skip


def qbo_display_name(name: str, customer_id: str, names_in_use: TakenNames | Iterable[str]) -> str:
    """A DisplayName QuickBooks accepts: no ``:``, unique across customers, vendors and employees."""
    return _qbo_display_name(name, customer_id, names_in_use)


def _money(value: object, *, record: str, field_name: str) -> Decimal | None:
    return f.money(value, noun="customer", record=record, field_name=field_name, error=CustomerMappingError)


# -------------------------------------------------------------------------------- QuickBooks


def qbo_customer_row(
    customer: Mapping[str, Any], terms: TermLookup, *, customer_id_pattern: str = DEFAULT_CUSTOMER_ID_PATTERN
) -> dict[str, Any]:
    """One QuickBooks customer in the shared vocabulary, plus the keys the load step needs."""
    qbo_id = str(customer["Id"])
    term_name, hold = terms.intacct_term(customer.get("SalesTermRef"))
    return {
        "source_id": qbo_id,
        "sync_token": f.text(customer.get("SyncToken")),
        "intacct_ref": f.text(customer.get("AcctNum")),
        "derived_customer_id": derive_customer_id(qbo_id, customer_id_pattern),
        "is_job": bool(customer.get("Job")) or bool(customer.get("ParentRef")),
        "name": f.text(customer.get("DisplayName")),
        "company_name": f.text(customer.get("CompanyName")),
        "email": f.ref(customer.get("PrimaryEmailAddr"), "Address"),
        "phone": f.ref(customer.get("PrimaryPhone"), "FreeFormNumber"),
        "term": term_name,
        "credit_limit": _money(customer.get("CreditLimit"), record=qbo_id, field_name="CreditLimit"),
        "taxable": f.flag(customer.get("Taxable"), False),
        "tax_id": f.text(customer.get("PrimaryTaxIdentifier")),
        "resale_number": f.text(customer.get("ResaleNum")),
        "currency": f.ref(customer.get("CurrencyRef"), "value"),
        "active": f.flag(customer.get("Active"), True),
        "hold_reason": hold,
        **f.qbo_address(customer),
    }


def qbo_frame(
    customers: Iterable[Mapping[str, Any]],
    terms: TermLookup,
    *,
    customer_id_pattern: str = DEFAULT_CUSTOMER_ID_PATTERN,
) -> pd.DataFrame:
    """QuickBooks customers (not jobs) in the shared vocabulary, one row each."""
    from qbo_intacct.flows.engine import source_frame

    return source_frame(SPEC, customers, terms, customer_id_pattern).frame


# -------------------------------------------------------------------------------- Intacct


def intacct_customer_row(customer: Mapping[str, Any]) -> dict[str, Any]:
    """One Intacct customer (flat query record, dotted DISPLAYCONTACT fields) in the shared vocabulary."""
    customer_id = str(customer["CUSTOMERID"])
    return {
        "target_id": customer_id,
        "record_no": f.text(customer.get("RECORDNO")),
        "entity": f.text(customer.get("MEGAENTITYID")) or "",
        "source_ref": None,
        "target_key": customer_id,
        "name": f.text(customer.get("NAME")),
        "company_name": f.text(f.intacct_contact(customer, "COMPANYNAME")),
        "email": f.text(f.intacct_contact(customer, "EMAIL1")),
        "phone": f.text(f.intacct_contact(customer, "PHONE1")),
        "term": f.text(customer.get("TERMNAME")),
        "credit_limit": _money(customer.get("CREDITLIMIT"), record=customer_id, field_name="CREDITLIMIT"),
        "taxable": f.flag(customer.get("TAXABLE"), False),
        "tax_id": f.text(customer.get("TAXID")),
        "resale_number": f.text(customer.get("RESALENO")),
        "currency": f.text(customer.get("CURRENCY")),
        "active": (f.text(customer.get("STATUS")) or "active").lower() == "active",
        "hold_reason": None,
        **f.intacct_address(customer),
    }


def intacct_frame(customers: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    from qbo_intacct.flows.engine import target_frame

    return target_frame(SPEC, customers).frame


# -------------------------------------------------------------------------------- write bodies


def intacct_body(
    values: Mapping[str, Any], *, customer_id: str, groups: Iterable[str], record_no: str | None = None
) -> dict[str, Any]:
    """An Intacct CUSTOMER create (all groups) or partial update (the groups that changed)."""
    groups = set(groups)
    body = f.intacct_party_body(values, id_field="CUSTOMERID", record_id=customer_id, groups=groups)
    if record_no:
        body["RECORDNO"] = record_no
    if "terms" in groups:
        body["TERMNAME"] = values.get("term") or ""
        if values.get("credit_limit") is not None:
            body["CREDITLIMIT"] = values["credit_limit"]
    if "tax" in groups:
        body["TAXABLE"] = "true" if values.get("taxable") else "false"
        body["TAXID"] = values.get("tax_id") or ""
        body["RESALENO"] = values.get("resale_number") or ""
    return body


def qbo_body(
    values: Mapping[str, Any],
    *,
    groups: Iterable[str],
    terms: TermLookup,
    record: str,
    display_name: str | None = None,
    intacct_customer_id: str | None = None,
    qbo_id: str | None = None,
    sync_token: str | None = None,
) -> dict[str, Any]:
    """A QuickBooks Customer create (all groups) or sparse update (the groups that changed)."""
    groups = set(groups)
    body = f.qbo_party_body(values, groups=groups, display_name=display_name, qbo_id=qbo_id, sync_token=sync_token)
    if intacct_customer_id:
        body["AcctNum"] = intacct_customer_id
    if "terms" in groups:
        intacct_term = values.get("term")
        if intacct_term:
            body["SalesTermRef"] = terms.qbo_ref(
                intacct_term, noun="customer", record=record, error=CustomerMappingError
            )
        credit = values.get("credit_limit")
        if credit is not None:  # no limit on the Intacct side: leave QuickBooks' field unset, never 0
            body["CreditLimit"] = credit
    if "tax" in groups:
        body["Taxable"] = bool(values.get("taxable"))
        body["PrimaryTaxIdentifier"] = values.get("tax_id") or ""
        body["ResaleNum"] = values.get("resale_number") or ""
    return body


# -------------------------------------------------------------------------------- the declaration


def _qbo_row(record: Mapping[str, Any], terms: TermLookup, pattern: str) -> dict[str, Any] | None:
    row = qbo_customer_row(record, terms, customer_id_pattern=pattern)
    return None if row["is_job"] else row


def _intacct_body(values: Mapping[str, Any], *, record_id: str, groups: Iterable[str], context: Any) -> dict[str, Any]:
    return intacct_body(values, customer_id=record_id, groups=groups)


def _qbo_body(
    values: Mapping[str, Any],
    *,
    groups: Iterable[str],
    context: TermLookup,
    record: str,
    intacct_id: str | None = None,
    **keys: Any,
) -> dict[str, Any]:
    return qbo_body(values, groups=groups, terms=context, record=record, intacct_customer_id=intacct_id, **keys)


def _build_context(lookups: Mapping[str, list[dict[str, Any]]], mappings: MappingWorkbook) -> TermLookup:
    return TermLookup.build(lookups.get("Term", []), mappings)


same_value = same_display_name


SPEC = FlowSpec(
    name=FLOW,
    noun="customer",
    qbo_entity=QBO_ENTITY,
    intacct_object=INTACCT_OBJECT,
    intacct_id_field="CUSTOMERID",
    intacct_fields=tuple(INTACCT_FIELDS),
    field_groups=FIELD_GROUPS,
    key_ids=STRONG_IDS[:2],
    data_ids=STRONG_IDS[2:],
    duplicate_ids=DUPLICATE_IDS,
    id_pattern_variable=CUSTOMER_ID_PATTERN_VARIABLE,
    default_id_pattern=DEFAULT_CUSTOMER_ID_PATTERN,
    derive_target_id=lambda qbo_id, pattern: derive_customer_id(qbo_id, pattern),
    build_context=_build_context,
    qbo_row=_qbo_row,
    intacct_row=intacct_customer_row,
    intacct_body=_intacct_body,
    qbo_body=_qbo_body,
    source_columns=tuple(c for c in SOURCE_COLUMNS if c != "is_job"),
    target_columns=tuple(TARGET_COLUMNS),
    qbo_lookups=("Term",),
    qbo_name_entities=("Vendor", "Employee"),
    money_fields=("credit_limit",),
    flag_fields=("taxable", "active"),
    same_value=same_value,
)
