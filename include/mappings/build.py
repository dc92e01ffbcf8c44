"""Build the demo mapping workbook from the seeded books' manifest.

    python -m include.mappings.build --manifest /tmp/books/manifest.json \
        --out include/mappings/qbo_intacct_mappings.xlsx

The demo books (``python -m include.sandbox seed``) describe, in ``manifest.json["mapping_hints"]``,
how the demo group's two charts and lists relate. This turns those hints into the workbook finance
would have filled in, with two deliberate gaps: accounts the hints mark unmapped are listed without a
target (as the refresh would append them), so the demo shows documents held for review instead of
posted to a guessed account; and ambiguous or duplicate party pairs get no record link, so the demo
shows them in the review queue.

Accepted ``mapping_hints`` keys (each optional; names in QuickBooks' own terms, ids in Intacct's):

- ``accounts``: ``[{"qbo_account": "Sales:Software Licenses", "intacct_account": "40000", "entity": null}]``
- ``unmapped_accounts``: ``["Other Income:Grant Income", ...]``
- ``routing``: ``[{"dimension": "Department"|"Class", "qbo_value": "Boston", "entity": "US",
  "location": "US-BOS", "department": null, "class": null}]``
- ``terms``, ``payment_methods``: ``[{"qbo": "Net 30", "intacct": "N30"}]``
- ``tax_codes``: ``[{"qbo": "Texas", "intacct_tax_detail": null, "intacct_account": "22000", "entity": null}]``
- ``bank_accounts``: ``[{"qbo": "Checking", "intacct_financial_entity": "BOA-US-CHK",
  "intacct_account": null, "entity": "US"}]``
- ``currencies``: ``[{"currency": "EUR", "enabled": true, "intacct": "EUR",
  "exchange_rate_type": "Intacct Daily Rate"}]``
- ``record_links``: ``[{"flow", "source_system", "source_id", "decision", "target_id"}]``
- ``qbo_lists`` / ``intacct_lists``: ``{"QboAccounts": [{"value", "name", "active"}], ...}``; when
  absent, the lists are derived from the mappings so the workbook validates on its own.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qbo_intacct.mappings.workbook import ListEntry, as_list_entry, build_workbook

DEMO_WORKBOOK = Path(__file__).resolve().parent / "qbo_intacct_mappings.xlsx"


def _pick(hint: Mapping[str, Any], *keys: str) -> Any:
    """First present, non-empty value among ``keys`` (the hints may name a field either way)."""
    for key in keys:
        value = hint.get(key)
        if value not in (None, ""):
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _yes_no(value: Any) -> str:
    if isinstance(value, str):
        return "No" if value.strip().lower() in {"no", "false", "0"} else "Yes"
    return "Yes" if value is None or bool(value) else "No"


def demo_rows(hints: Mapping[str, Any]) -> dict[str, list[dict[str, str | None]]]:
    """The mapping tables' rows (by header) that the hints describe."""
    rows: dict[str, list[dict[str, str | None]]] = {}
    accounts = [
        {
            "QuickBooks Account": _text(_pick(h, "qbo_account", "qbo", "qbo_name")),
            "Entity": _text(h.get("entity")),
            "Intacct GL Account": _text(_pick(h, "intacct_account", "intacct_gl_account", "intacct")),
        }
        for h in hints.get("accounts", [])
        if _pick(h, "intacct_account", "intacct_gl_account", "intacct")
    ]
    mapped = {r["QuickBooks Account"] for r in accounts}
    accounts += [
        {"QuickBooks Account": str(name), "Entity": None, "Intacct GL Account": None}
        for name in hints.get("unmapped_accounts", [])
        if str(name) not in mapped
    ]
    rows["AccountMap"] = accounts
    rows["EntityRouting"] = [
        {
            "QuickBooks Dimension": _text(_pick(h, "dimension", "qbo_dimension")),
            "QuickBooks Value": _text(_pick(h, "qbo_value", "qbo", "qbo_name")),
            "Intacct Entity": _text(_pick(h, "entity", "intacct_entity")),
            "Intacct Location": _text(_pick(h, "location", "intacct_location")),
            "Intacct Department": _text(_pick(h, "department", "intacct_department")),
            "Intacct Class": _text(_pick(h, "class", "intacct_class")),
        }
        for h in hints.get("routing", [])
    ]
    rows["TermMap"] = [
        {
            "QuickBooks Term": _text(_pick(h, "qbo", "qbo_term")),
            "Intacct Term": _text(_pick(h, "intacct", "intacct_term")),
        }
        for h in hints.get("terms", [])
    ]
    rows["PaymentMethodMap"] = [
        {
            "QuickBooks Payment Method": _text(_pick(h, "qbo", "qbo_payment_method")),
            "Intacct Payment Method": _text(_pick(h, "intacct", "intacct_payment_method")),
        }
        for h in hints.get("payment_methods", [])
    ]
    rows["TaxCodeMap"] = [
        {
            "QuickBooks Tax Code": _text(_pick(h, "qbo", "qbo_tax_code")),
            "Entity": _text(h.get("entity")),
            "Intacct Tax Detail": _text(_pick(h, "intacct_tax_detail", "tax_detail")),
            "Intacct GL Account": _text(_pick(h, "intacct_account", "intacct_gl_account")),
        }
        for h in hints.get("tax_codes", [])
    ]
    rows["BankAccountMap"] = [
        {
            "QuickBooks Account": _text(_pick(h, "qbo", "qbo_account")),
            "Entity": _text(h.get("entity")),
            "Intacct Financial Entity": _text(_pick(h, "intacct_financial_entity", "financial_entity")),
            "Intacct GL Account": _text(_pick(h, "intacct_account", "intacct_gl_account")),
        }
        for h in hints.get("bank_accounts", [])
        if _pick(h, "qbo", "qbo_account")
    ]
    rows["CurrencyMap"] = [
        {
            "Currency": _text(_pick(h, "currency", "qbo")),
            "Enabled": _yes_no(h.get("enabled")),
            "Intacct Currency": _text(_pick(h, "intacct", "intacct_currency", "currency")),
            "Exchange Rate Type": _text(h.get("exchange_rate_type")),
        }
        for h in hints.get("currencies", [])
    ]
    if hints.get("record_links"):
        rows["RecordLinks"] = [
            {
                "Flow": _text(h.get("flow")),
                "Source System": _text(h.get("source_system")),
                "Source Id": _text(h.get("source_id")),
                "Decision": _text(h.get("decision")),
                "Target Id": _text(h.get("target_id")),
                "Decided By": _text(h.get("decided_by")) or "demo",
            }
            for h in hints["record_links"]
        ]
    return rows


# Which target column feeds which Intacct list, to derive lists when the hints carry none.
_DERIVED_INTACCT: dict[str, tuple[tuple[str, str], ...]] = {
    "IntacctGLAccounts": (
        ("AccountMap", "Intacct GL Account"),
        ("TaxCodeMap", "Intacct GL Account"),
        ("BankAccountMap", "Intacct GL Account"),
    ),
    "IntacctEntities": (
        ("EntityRouting", "Intacct Entity"),
        ("AccountMap", "Entity"),
        ("BankAccountMap", "Entity"),
        ("TaxCodeMap", "Entity"),
    ),
    "IntacctLocations": (("EntityRouting", "Intacct Location"),),
    "IntacctDepartments": (("EntityRouting", "Intacct Department"),),
    "IntacctClasses": (("EntityRouting", "Intacct Class"),),
    "IntacctTerms": (("TermMap", "Intacct Term"),),
    "IntacctTaxDetails": (("TaxCodeMap", "Intacct Tax Detail"),),
    "IntacctPaymentMethods": (("PaymentMethodMap", "Intacct Payment Method"),),
    "IntacctFinancialEntities": (("BankAccountMap", "Intacct Financial Entity"),),
    "IntacctCurrencies": (("CurrencyMap", "Intacct Currency"),),
    "IntacctExchangeRateTypes": (("CurrencyMap", "Exchange Rate Type"),),
}
_DERIVED_QBO: dict[str, tuple[tuple[str, str], ...]] = {
    "QboAccounts": (("AccountMap", "QuickBooks Account"),),
    "QboBankAccounts": (("BankAccountMap", "QuickBooks Account"),),
    "QboTerms": (("TermMap", "QuickBooks Term"),),
    "QboTaxCodes": (("TaxCodeMap", "QuickBooks Tax Code"),),
    "QboPaymentMethods": (("PaymentMethodMap", "QuickBooks Payment Method"),),
    "QboCurrencies": (("CurrencyMap", "Currency"),),
}


def _derive(
    rows: Mapping[str, list[dict[str, str | None]]], plan: Mapping[str, tuple[tuple[str, str], ...]]
) -> dict[str, list[ListEntry]]:
    lists: dict[str, list[ListEntry]] = {}
    for list_name, sources in plan.items():
        values = sorted({v for table, header in sources for r in rows.get(table, []) if (v := r.get(header))})
        lists[list_name] = [ListEntry(v) for v in values]
    return lists


def _lists(given: Any, derived: dict[str, list[ListEntry]]) -> dict[str, list[ListEntry]]:
    lists = dict(derived)
    for name, entries in (given or {}).items():
        lists[name] = [as_list_entry(e) for e in entries]
    return lists


def build_demo_workbook(manifest: Mapping[str, Any], out: Path) -> Path:
    """Write the demo group's mapping workbook from ``manifest["mapping_hints"]``."""
    hints = manifest.get("mapping_hints") or {}
    rows = demo_rows(hints)
    qbo_derived = _derive(rows, _DERIVED_QBO)
    routing = rows.get("EntityRouting", [])
    qbo_derived["QboClasses"] = [
        ListEntry(v) for v in sorted({r["QuickBooks Value"] for r in routing if r["QuickBooks Dimension"] == "Class"})
    ]
    qbo_derived["QboDepartments"] = [
        ListEntry(v)
        for v in sorted({r["QuickBooks Value"] for r in routing if r["QuickBooks Dimension"] == "Department"})
    ]
    return build_workbook(
        out,
        qbo_lists=_lists(hints.get("qbo_lists"), qbo_derived),
        intacct_lists=_lists(hints.get("intacct_lists"), _derive(rows, _DERIVED_INTACCT)),
        rows=rows,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.json written by `include.sandbox seed`")
    parser.add_argument("--out", type=Path, default=DEMO_WORKBOOK)
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    path = build_demo_workbook(manifest, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
