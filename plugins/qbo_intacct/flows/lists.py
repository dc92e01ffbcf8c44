"""The live lists behind the workbook's dropdowns, read from both systems through the hooks.

Each list is a set of ``{"value", "name", "active"}`` entries keyed by the list names of
:mod:`qbo_intacct.mappings.schema`. What a finance reader should know:

- QuickBooks values are names as QuickBooks shows them (``FullyQualifiedName`` for accounts,
  classes and departments); Intacct values are IDs (account number, location id, ...).
- Bank accounts are QuickBooks accounts of type Bank plus Undeposited Funds (payments land there).
- QuickBooks currencies are the home currency and every currency QuickBooks holds a rate for.
- Lists the sandbox-verified APIs do not expose here (Intacct tax details, payment methods,
  currencies and exchange-rate types) are not refreshed: the workbook keeps their last values
  rather than emptying them, since an empty list would reject every mapping that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

LIST_COLUMNS = ["list_name", "value", "name", "active"]

# Intacct list -> (object, id field, name field); STATUS gives active.
INTACCT_LISTS: dict[str, tuple[str, str, str]] = {
    "IntacctEntities": ("LOCATIONENTITY", "LOCATIONID", "NAME"),
    "IntacctGLAccounts": ("GLACCOUNT", "ACCOUNTNO", "TITLE"),
    "IntacctLocations": ("LOCATION", "LOCATIONID", "NAME"),
    "IntacctDepartments": ("DEPARTMENT", "DEPARTMENTID", "TITLE"),
    "IntacctClasses": ("CLASS", "CLASSID", "NAME"),
    "IntacctTerms": ("ARTERM", "NAME", "NAME"),
    "IntacctFinancialEntities": ("CHECKINGACCOUNT", "BANKACCOUNTID", "BANKNAME"),
}


def _entry(list_name: str, value: object, name: object, active: object) -> dict[str, Any]:
    return {"list_name": list_name, "value": str(value), "name": str(name or ""), "active": bool(active)}


def qbo_lists(hook: Any) -> pd.DataFrame:
    """Every QuickBooks list the workbook uses, as one frame (list_name, value, name, active)."""
    rows: list[dict[str, Any]] = []
    for account in hook.iter_query("Account"):
        fqn = account.get("FullyQualifiedName") or account.get("Name")
        rows.append(_entry("QboAccounts", fqn, account.get("AccountType"), account.get("Active", True)))
        undeposited = account.get("AccountSubType") == "UndepositedFunds" or account.get("Name") == "Undeposited Funds"
        if account.get("AccountType") == "Bank" or undeposited:
            rows.append(_entry("QboBankAccounts", fqn, account.get("AccountType"), account.get("Active", True)))
    for entity, list_name, field in (
        ("Class", "QboClasses", "FullyQualifiedName"),
        ("Department", "QboDepartments", "FullyQualifiedName"),
        ("Term", "QboTerms", "Name"),
        ("TaxCode", "QboTaxCodes", "Name"),
        ("PaymentMethod", "QboPaymentMethods", "Name"),
    ):
        for record in hook.iter_query(entity):
            value = record.get(field) or record.get("Name")
            rows.append(_entry(list_name, value, record.get("Name"), record.get("Active", True)))
    home = ((hook.preferences().get("CurrencyPrefs") or {}).get("HomeCurrency") or {}).get("value")
    currencies = {home} if home else set()
    currencies |= {r.get("SourceCurrencyCode") for r in hook.iter_query("ExchangeRate") if r.get("SourceCurrencyCode")}
    rows += [_entry("QboCurrencies", c, c, True) for c in sorted(c for c in currencies if c)]
    return pd.DataFrame(rows, columns=LIST_COLUMNS)


def intacct_lists(hook: Any) -> pd.DataFrame:
    """Every Intacct list read here (see the module docstring), as one frame."""
    rows: list[dict[str, Any]] = []
    for list_name, (object_name, id_field, name_field) in INTACCT_LISTS.items():
        fields = list(
            dict.fromkeys(
                [id_field, name_field, "STATUS"] if object_name != "LOCATIONENTITY" else [id_field, name_field]
            )
        )
        for record in hook.iter_query(object_name, fields, entity_id="", show_private=True):
            status = str(record.get("STATUS") or "active").lower()
            rows.append(_entry(list_name, record.get(id_field), record.get(name_field), status == "active"))
    # In Intacct every entity is also a LOCATION record; the Locations dropdown offers locations only.
    entities = {r["value"] for r in rows if r["list_name"] == "IntacctEntities"}
    rows = [r for r in rows if not (r["list_name"] == "IntacctLocations" and r["value"] in entities)]
    return pd.DataFrame(rows, columns=LIST_COLUMNS)


def as_lists(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The staged frame back as the ``ListsInput`` mapping that ``refresh_workbook`` takes."""
    lists: dict[str, list[dict[str, Any]]] = {}
    for row in frame.to_dict("records"):
        lists.setdefault(str(row["list_name"]), []).append(
            {"value": row["value"], "name": row["name"], "active": bool(row["active"])}
        )
    return lists


def list_sizes(lists: Mapping[str, Iterable[Any]]) -> dict[str, int]:
    return {name: len(list(entries)) for name, entries in sorted(lists.items())}
