"""Which properties each QuickBooks entity lets a query filter (WHERE) and sort (ORDERBY) on.

The Intuit API reference marks each property of an entity ``filterable`` and/or ``sortable``;
only those may appear in a query. Anything else, including a misspelt name, is refused with
code 4001 ``Invalid query`` / ``QueryValidationError: property 'X' is not queryable``, exactly the
answer Intuit gives for ``SELECT * FROM Vendor WHERE PrimaryEmailAddr = '...'``
(ruckus/quickbooks-ruby#403, a captured response) and for ``AcctNum`` on Customer, Vendor and
Account (intuit/QuickBooks-V3-DotNET-SDK#163: "The property which are mentioned as filterable are
only queryable").

Sources per entity: the Intuit entity reference pages (filterable/sortable flags); the Vendor
list of *non*-filterable properties quoted in quickbooks-ruby#403 (SyncToken, Title, PrimaryPhone,
AlternatePhone, Mobile, Fax, PrimaryEmailAddr, WebAddr, BillAddr, OtherContactInfo, TaxIdentifier,
TermRef, Balance, AcctNum, Vendor1099, CurrencyRef, TaxReportingBasis, APAccountRef); Item ``Sku``
(python-quickbooks asks for it explicitly); public clients' documented filters (``TxnDate``,
``DocNumber``, ``CustomerRef``, ``VendorRef``, ``Balance``, ``TotalAmt``, ``DueDate``,
``MetaData.LastUpdatedTime``; ``DepartmentRef``/``AccountRef`` and ``Line`` are never filterable).

Sandbox choices where the reference is silent: property names match case-insensitively (Airbyte
sends ``Metadata.LastUpdatedTime`` and the API accepts it); an ORDERBY on a property that is not
sortable is refused with ``QueryValidationError: property 'X' is not sortable``.

To add a property (e.g. when a flow needs one), add it to the entity's set below *only* if the
Intuit reference marks it filterable/sortable; otherwise the sandbox would hide a query that
production refuses.
"""

from __future__ import annotations

META = frozenset({"MetaData.CreateTime", "MetaData.LastUpdatedTime"})
_BASE = frozenset({"Id"}) | META


def _fields(*names: str) -> frozenset[str]:
    return _BASE | frozenset(names)


_PERSON = ("DisplayName", "GivenName", "MiddleName", "FamilyName", "Suffix", "CompanyName", "PrintOnCheckName")

#: Properties a WHERE clause may use, per entity.
FILTERABLE: dict[str, frozenset[str]] = {
    "Customer": _fields(
        *_PERSON,
        "FullyQualifiedName",
        "PrimaryEmailAddr",
        "Active",
        "Balance",
        "BalanceWithJobs",
        "Job",
        "ParentRef",
    ),
    "Vendor": _fields(*_PERSON, "Active"),
    "Employee": _fields(*_PERSON, "Active", "EmployeeNumber"),
    "Account": _fields(
        "Name",
        "FullyQualifiedName",
        "SubAccount",
        "ParentRef",
        "Active",
        "Classification",
        "AccountType",
        "AccountSubType",
        "CurrentBalance",
        "CurrentBalanceWithSubAccounts",
    ),
    "Class": _fields("Name", "FullyQualifiedName", "SubClass", "ParentRef", "Active"),
    "Department": _fields("Name", "FullyQualifiedName", "SubDepartment", "ParentRef", "Active"),
    "Term": _fields("Name", "Active", "Type"),
    "TaxCode": _fields("Name", "Active", "Taxable", "TaxGroup"),
    "TaxRate": _fields("Name", "Active", "RateValue"),
    "PaymentMethod": _fields("Name", "Active", "Type"),
    "Item": _fields("Name", "FullyQualifiedName", "Sku", "Type", "Active", "ParentRef", "SubItem", "QtyOnHand"),
    "Invoice": _fields(
        "DocNumber", "TxnDate", "DueDate", "CustomerRef", "TotalAmt", "Balance", "EmailStatus", "PrintStatus"
    ),
    "CreditMemo": _fields("DocNumber", "TxnDate", "CustomerRef", "TotalAmt", "Balance", "RemainingCredit"),
    "Payment": _fields("TxnDate", "CustomerRef", "TotalAmt", "PaymentRefNum", "UnappliedAmt"),
    "Bill": _fields("DocNumber", "TxnDate", "DueDate", "VendorRef", "TotalAmt", "Balance"),
    "BillPayment": _fields("DocNumber", "TxnDate", "VendorRef", "TotalAmt", "PayType"),
    "VendorCredit": _fields("DocNumber", "TxnDate", "VendorRef", "TotalAmt", "Balance"),
    "JournalEntry": _fields("DocNumber", "TxnDate", "Adjustment"),
    "Deposit": _fields("DocNumber", "TxnDate", "TotalAmt"),
    "ExchangeRate": frozenset({"SourceCurrencyCode", "TargetCurrencyCode", "AsOfDate"}) | META,
    "CompanyInfo": _fields("CompanyName"),
    "Preferences": _BASE,
}

_NOT_SORTABLE = frozenset(
    {"Active", "Job", "SubAccount", "SubClass", "SubDepartment", "SubItem", "Taxable", "TaxGroup", "Adjustment"}
)

#: Properties an ORDERBY may use, per entity: the filterable ones except flags (true/false).
SORTABLE: dict[str, frozenset[str]] = {entity: names - _NOT_SORTABLE for entity, names in FILTERABLE.items()}

_LOWER_FILTERABLE = {entity: {n.lower(): n for n in names} for entity, names in FILTERABLE.items()}
_LOWER_SORTABLE = {entity: {n.lower(): n for n in names} for entity, names in SORTABLE.items()}


def filterable(entity: str, path: list[str]) -> bool:
    """Whether ``path`` (``["MetaData", "LastUpdatedTime"]``) may be used in a WHERE on ``entity``."""
    return ".".join(path).lower() in _LOWER_FILTERABLE.get(entity, {})


def sortable(entity: str, path: list[str]) -> bool:
    """Whether ``path`` may be used in an ORDERBY on ``entity``."""
    return ".".join(path).lower() in _LOWER_SORTABLE.get(entity, {})
