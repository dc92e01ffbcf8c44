"""Vendors, both ways: QuickBooks ``Vendor`` <-> Intacct ``VENDOR``.

The flow's source system is QuickBooks (``source_id`` = QuickBooks ``Id``), its target Intacct
(``target_id`` = ``VENDORID``), in one shared vocabulary:

=============== ========================================= ============================================
field group     QuickBooks                                Intacct
=============== ========================================= ============================================
identity        DisplayName, CompanyName, PrintOnCheckName NAME, DISPLAYCONTACT.COMPANYNAME, .PRINTAS
contact         PrimaryEmailAddr, PrimaryPhone            DISPLAYCONTACT.EMAIL1, DISPLAYCONTACT.PHONE1
address         BillAddr (Line1, Line2, City,             DISPLAYCONTACT.MAILADDRESS (ADDRESS1, ADDRESS2,
                CountrySubDivisionCode, PostalCode,       CITY, STATE, ZIP, COUNTRY): the remit-to
                Country)                                  address payments are sent to
terms           TermRef (via the Terms sheet), AcctNum    TERMNAME, VENDORACCOUNTNO (our account
                                                          number with the vendor)
tax             TaxIdentifier, Vendor1099                 TAXID, FORM1099TYPE / FORM1099BOX
currency        CurrencyRef                               CURRENCY
status          Active                                    STATUS (active / inactive)
banking         VendorPaymentBankDetail (BankBranch-      ACHENABLED, ACHBANKROUTINGNUMBER,
                Identifier, BankAccountNumber)            ACHACCOUNTNUMBER
=============== ========================================= ============================================

Rules a finance reader should know:

- **Banking.** QuickBooks carries a vendor's bank details in ``VendorPaymentBankDetail``, which
  QuickBooks documents for its Australian (ABA) and other non-US regions' bill payments; in US
  companies the API returns it empty and this flow then leaves Intacct's ACH fields as they are.
  A changed bank account redirects the next payment, so a change of bank details on an already
  linked vendor is never copied silently: it is held for review showing only the last four digits
  of the old and new account, and copied once finance approves it (in the ``qbo_intacct_review``
  DAG). The workbook's Field Groups sheet can instead name a system of record for ``banking``.
  Every bank-detail change the sync applies is recorded in the ledger's run record (vendor, run,
  time, who approved, masked old and new). Full account numbers never reach staged files, logs,
  review items or summaries (see :mod:`qbo_intacct.flows.sensitive`).
- **Intacct VENDORID** of a vendor the sync creates from QuickBooks is ``QB-V{qbo_id}`` by default
  (Airflow Variable ``qbo_intacct_vendor_id_pattern``); change it only before the first run, since
  the pattern is how a lost ledger finds its links again.
- **QuickBooks DisplayName** of a vendor created from Intacct is the Intacct NAME with ``:``
  replaced by ``-``; a name already used by a customer, vendor or employee (QuickBooks keeps
  DisplayName unique across all three) gets `` (VENDORID)`` appended, e.g. "Acme Supplies
  (V-10004)". QuickBooks' ``AcctNum`` is the vendor's own account number for us (synced with
  VENDORACCOUNTNO), so the sync does not store the Intacct id on the QuickBooks vendor: after a lost
  ledger, vendors created from Intacct are found again by tax ID or email (or held by name).
- **1099.** QuickBooks only knows whether a vendor is a 1099 vendor (``Vendor1099``); Intacct keeps
  the form and box. A QuickBooks 1099 vendor gets the form and box of the workbook's *1099 Forms*
  sheet (the demo workbook: ``NEC`` box ``1``, nonemployee compensation); without that row it is
  held for review. An Intacct vendor with any form is a 1099 vendor in QuickBooks, and a change of
  box in Intacct is not an edit QuickBooks can hold.
- **Terms** go through the workbook's Terms sheet, as for customers; an unmapped term holds the vendor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qbo_intacct.flows import fields as f
from qbo_intacct.flows.declaration import FlowMappingError, FlowSpec, same_display_name
from qbo_intacct.flows.fields import ADDRESS_FIELDS, INTACCT_ADDRESS_FIELDS, TermLookup
from qbo_intacct.flows.matching import StrongId, normalize_email, normalize_reference, normalize_tax_id
from qbo_intacct.flows.sensitive import mask

if TYPE_CHECKING:
    from qbo_intacct.mappings.loader import MappingWorkbook

FLOW = "vendors"
QBO_ENTITY = "Vendor"
INTACCT_OBJECT = "VENDOR"
VENDOR_ID_PATTERN_VARIABLE = "qbo_intacct_vendor_id_pattern"
DEFAULT_VENDOR_ID_PATTERN = "QB-V{qbo_id}"
INTACCT_VENDOR_ID_MAX = 20

FIELD_GROUPS: dict[str, list[str]] = {
    "identity": ["name", "company_name", "print_as"],
    "contact": ["email", "phone"],
    "address": ADDRESS_FIELDS,
    "terms": ["term", "account_number"],
    "tax": ["tax_id", "is_1099"],
    "currency": ["currency"],
    "status": ["active"],
    "banking": ["bank_routing", "bank_account"],
}
SHARED_FIELDS: list[str] = [name for names in FIELD_GROUPS.values() for name in names]
QBO_BANK_ACCOUNT = "VendorPaymentBankDetail.BankAccountNumber"
INTACCT_BANK_ACCOUNT = "ACHACCOUNTNUMBER"

INTACCT_FIELDS: list[str] = [
    "RECORDNO", "VENDORID", "NAME", "DISPLAYCONTACT.COMPANYNAME", "DISPLAYCONTACT.PRINTAS", "DISPLAYCONTACT.EMAIL1",
    "DISPLAYCONTACT.PHONE1", *INTACCT_ADDRESS_FIELDS, "TERMNAME",
    "VENDORACCOUNTNO", "TAXID", "FORM1099TYPE", "FORM1099BOX", "CURRENCY", "STATUS", "ACHENABLED",
    "ACHBANKROUTINGNUMBER", "ACHACCOUNTNUMBER", "MEGAENTITYID", "WHENMODIFIED",
]  # fmt: skip

KEY_IDS: tuple[StrongId, ...] = (StrongId("derived_vendor_id", "derived_vendor_id", "target_id", normalize_reference),)
DATA_IDS: tuple[StrongId, ...] = (
    StrongId("tax_id", "tax_id", "tax_id", normalize_tax_id),
    StrongId("email", "email", "email", normalize_email),
)
DUPLICATE_IDS: tuple[tuple[str, Any], ...] = (("tax_id", normalize_tax_id), ("email", normalize_email))
SOURCE_COLUMNS = ["source_id", "sync_token", "derived_vendor_id", "hold_reason"]
TARGET_COLUMNS = ["target_id", "record_no", "entity", "source_ref", "target_key", "form_1099", "hold_reason"]


class VendorMappingError(FlowMappingError):
    """A vendor cannot be expressed in the other system; names record and field."""


@dataclass(frozen=True)
class VendorContext:
    """What writing a vendor needs from the workbook: terms both ways and the 1099 form and box."""

    terms: TermLookup
    form_1099: tuple[str, str] | None


def derive_vendor_id(qbo_id: str, pattern: str = DEFAULT_VENDOR_ID_PATTERN) -> str:
    """The Intacct VENDORID for a vendor created from QuickBooks ``qbo_id`` (deterministic)."""
    return f.derive_id(qbo_id, pattern, noun="vendor", id_name="VENDORID", max_length=INTACCT_VENDOR_ID_MAX,
                       error=VendorMappingError)  # fmt: skip


def _digits(value: object, *, record: str, field_name: str) -> str | None:
    given = f.text(value)
    if given is None:
        return None
    cleaned = given.replace(" ", "").replace("-", "")
    if not cleaned.isdigit():
        raise VendorMappingError(f"vendor {record} field {field_name}: {given!r} is not a bank routing number")
    return cleaned


# -------------------------------------------------------------------------------- QuickBooks


def qbo_vendor_row(
    vendor: Mapping[str, Any], terms: TermLookup, *, vendor_id_pattern: str = DEFAULT_VENDOR_ID_PATTERN
) -> dict[str, Any]:
    """One QuickBooks vendor in the shared vocabulary (bank account as a token, never the number)."""
    qbo_id = str(vendor["Id"])
    bank = vendor.get("VendorPaymentBankDetail") if isinstance(vendor.get("VendorPaymentBankDetail"), Mapping) else {}
    term_name, hold = terms.intacct_term(vendor.get("TermRef"))
    return {
        "source_id": qbo_id,
        "sync_token": f.text(vendor.get("SyncToken")),
        "derived_vendor_id": derive_vendor_id(qbo_id, vendor_id_pattern),
        "name": f.text(vendor.get("DisplayName")),
        "company_name": f.text(vendor.get("CompanyName")),
        "print_as": f.text(vendor.get("PrintOnCheckName")),
        "email": f.ref(vendor.get("PrimaryEmailAddr"), "Address"),
        "phone": f.ref(vendor.get("PrimaryPhone"), "FreeFormNumber"),
        "term": term_name,
        "account_number": f.text(vendor.get("AcctNum")),
        "tax_id": f.text(vendor.get("TaxIdentifier")),
        "is_1099": f.flag(vendor.get("Vendor1099"), False),
        "currency": f.ref(vendor.get("CurrencyRef"), "value"),
        "active": f.flag(vendor.get("Active"), True),
        "bank_routing": _digits(bank.get("BankBranchIdentifier"), record=qbo_id, field_name="BankBranchIdentifier"),
        "bank_account": mask(bank.get("BankAccountNumber")),
        "hold_reason": hold,
        **f.qbo_address(vendor),
    }


# -------------------------------------------------------------------------------- Intacct


def intacct_vendor_row(vendor: Mapping[str, Any]) -> dict[str, Any]:
    """One Intacct vendor (flat query record, dotted DISPLAYCONTACT fields) in the shared vocabulary."""
    vendor_id = str(vendor["VENDORID"])
    form = f.text(vendor.get("FORM1099TYPE"))
    ach = f.flag(vendor.get("ACHENABLED"), False)
    routing = vendor.get("ACHBANKROUTINGNUMBER")
    return {
        "target_id": vendor_id,
        "record_no": f.text(vendor.get("RECORDNO")),
        "entity": f.text(vendor.get("MEGAENTITYID")) or "",
        "source_ref": None,
        "target_key": vendor_id,
        "form_1099": f"{form}/{f.text(vendor.get('FORM1099BOX')) or ''}" if form else None,
        "name": f.text(vendor.get("NAME")),
        "company_name": f.text(f.intacct_contact(vendor, "COMPANYNAME")),
        "print_as": f.text(f.intacct_contact(vendor, "PRINTAS")),
        "email": f.text(f.intacct_contact(vendor, "EMAIL1")),
        "phone": f.text(f.intacct_contact(vendor, "PHONE1")),
        "term": f.text(vendor.get("TERMNAME")),
        "account_number": f.text(vendor.get("VENDORACCOUNTNO")),
        "tax_id": f.text(vendor.get("TAXID")),
        "is_1099": form is not None,
        "currency": f.text(vendor.get("CURRENCY")),
        "active": (f.text(vendor.get("STATUS")) or "active").lower() == "active",
        "bank_routing": _digits(routing, record=vendor_id, field_name="ACHBANKROUTINGNUMBER") if ach else None,
        "bank_account": mask(vendor.get("ACHACCOUNTNUMBER")) if ach else None,
        "hold_reason": None,
        **f.intacct_address(vendor),
    }


# -------------------------------------------------------------------------------- write bodies


def intacct_body(
    values: Mapping[str, Any], *, record_id: str, groups: Iterable[str], context: Any = None
) -> dict[str, Any]:
    """An Intacct VENDOR create (all groups) or partial update; DISPLAYCONTACT goes as one block."""
    groups = set(groups)
    body = f.intacct_party_body(values, id_field="VENDORID", record_id=record_id, groups=groups,
                                print_as=values.get("print_as"))  # fmt: skip
    if "terms" in groups:
        body["TERMNAME"] = values.get("term") or ""
        body["VENDORACCOUNTNO"] = values.get("account_number") or ""
    if "tax" in groups:
        body["TAXID"] = values.get("tax_id") or ""
        form, box = ("", "")
        if values.get("is_1099"):
            if context is None or context.form_1099 is None:
                raise VendorMappingError(
                    f"vendor {record_id} field is_1099: the workbook's '1099 Forms' sheet has no 'Yes' row "
                    "saying which Intacct form and box a QuickBooks 1099 vendor gets"
                )
            form, box = context.form_1099
        body["FORM1099TYPE"], body["FORM1099BOX"] = form, box
    if "banking" in groups and values.get("bank_account"):
        body["ACHENABLED"] = "true"
        body["ACHBANKROUTINGNUMBER"] = values.get("bank_routing") or ""
        body["ACHACCOUNTNUMBER"] = values["bank_account"]  # a token: the load step puts the number in
    elif "banking" in groups:
        body["ACHENABLED"] = "false"
    return body


def qbo_body(
    values: Mapping[str, Any],
    *,
    groups: Iterable[str],
    context: VendorContext,
    record: str,
    display_name: str | None = None,
    intacct_id: str | None = None,
    qbo_id: str | None = None,
    sync_token: str | None = None,
) -> dict[str, Any]:
    """A QuickBooks Vendor create (all groups) or sparse update (the groups that changed)."""
    groups = set(groups)
    body = f.qbo_party_body(values, groups=groups, display_name=display_name, qbo_id=qbo_id, sync_token=sync_token)
    if "identity" in groups:
        body["PrintOnCheckName"] = values.get("print_as") or display_name or values.get("name")
    if "terms" in groups:
        intacct_term = values.get("term")
        if intacct_term:
            body["TermRef"] = context.terms.qbo_ref(
                intacct_term, noun="vendor", record=record, error=VendorMappingError
            )
        body["AcctNum"] = values.get("account_number") or ""
    if "tax" in groups:
        body["TaxIdentifier"] = values.get("tax_id") or ""
        body["Vendor1099"] = bool(values.get("is_1099"))
    if "banking" in groups and values.get("bank_account"):
        body["VendorPaymentBankDetail"] = {
            "BankBranchIdentifier": values.get("bank_routing") or "",
            "BankAccountNumber": values["bank_account"],  # a token: the load step puts the number in
            "BankAccountName": values.get("name") or "",
        }
    return body


# -------------------------------------------------------------------------------- the declaration


def _qbo_row(record: Mapping[str, Any], context: VendorContext, pattern: str) -> dict[str, Any]:
    return qbo_vendor_row(record, context.terms, vendor_id_pattern=pattern)


def _build_context(lookups: Mapping[str, list[dict[str, Any]]], mappings: MappingWorkbook) -> VendorContext:
    return VendorContext(TermLookup.build(lookups.get("Term", []), mappings), mappings.form_1099())


same_value = same_display_name


SPEC = FlowSpec(
    name=FLOW,
    noun="vendor",
    qbo_entity=QBO_ENTITY,
    intacct_object=INTACCT_OBJECT,
    intacct_id_field="VENDORID",
    intacct_fields=tuple(INTACCT_FIELDS),
    field_groups=FIELD_GROUPS,
    key_ids=KEY_IDS,
    data_ids=DATA_IDS,
    duplicate_ids=DUPLICATE_IDS,
    id_pattern_variable=VENDOR_ID_PATTERN_VARIABLE,
    default_id_pattern=DEFAULT_VENDOR_ID_PATTERN,
    derive_target_id=lambda qbo_id, pattern: derive_vendor_id(qbo_id, pattern),
    build_context=_build_context,
    qbo_row=_qbo_row,
    intacct_row=intacct_vendor_row,
    intacct_body=intacct_body,
    qbo_body=qbo_body,
    source_columns=tuple(SOURCE_COLUMNS),
    target_columns=tuple(TARGET_COLUMNS),
    qbo_lookups=("Term",),
    qbo_name_entities=("Customer", "Employee"),
    flag_fields=("is_1099", "active"),
    protected_groups=("banking",),
    sensitive={"bank_account": (QBO_BANK_ACCOUNT, INTACCT_BANK_ACCOUNT)},
    same_value=same_value,
)
