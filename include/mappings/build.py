"""Build the demo mapping workbook from the seeded books' manifest.

    python -m include.sandbox seed --seed 42 --scale demo --out /tmp/books
    python -m include.mappings.build --manifest /tmp/books/manifest.json

The demo books describe, in ``manifest.json["mapping_hints"]`` (format documented in
``include/sandbox/books/generate.py``), how the demo group's two charts and lists relate. This
turns those hints into the workbook finance would have filled in, with deliberate gaps:

- accounts the hints leave unmapped (``intacct_account: null``) are listed without a target, as the
  refresh would append them, so the demo shows documents held for review instead of posted to a
  guessed account;
- matched, ambiguous and duplicate parties get no Record Links row: matching finds the strong
  matches itself, and the ambiguous and duplicate ones are what the review queue is for.

The Lists sheets are filled from the hints too (every account, class, department, term, tax code,
payment method, bank and currency they name), so the workbook validates on its own; the refresh
DAG replaces them with the live lists.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from include.sandbox.books.reference import GL_ACCOUNTS
from qbo_intacct.mappings.workbook import ListEntry, build_workbook

DEMO_WORKBOOK = Path(__file__).resolve().parent / "qbo_intacct_mappings.xlsx"
# Intacct's standard rate type; offered in the dropdown, not preset (the demo documents carry rates).
EXCHANGE_RATE_TYPES = ("Intacct Daily Rate",)
INTACCT_GL_TITLES: dict[str, str] = {account.number: account.title for account in GL_ACCOUNTS}

Rows = dict[str, list[dict[str, str | None]]]


def _routing_rows(hints: Mapping[str, Any]) -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = [
        {
            "QuickBooks Dimension": "Department",
            "QuickBooks Value": d["qbo_department"],
            "Intacct Entity": d["intacct_entity"],
            "Intacct Location": d.get("intacct_location"),
        }
        for d in hints.get("departments", [])
    ]
    for c in hints.get("classes", []):
        for entity, department in sorted((c.get("intacct_department_by_entity") or {}).items()):
            rows.append(
                {
                    "QuickBooks Dimension": "Class",
                    "QuickBooks Value": c["qbo_class"],
                    "Intacct Entity": entity,
                    "Intacct Department": department,
                    "Intacct Class": c.get("intacct_class"),
                }
            )
    if hints.get("default_entity"):
        rows.append(
            {
                "QuickBooks Dimension": "Default",
                "QuickBooks Value": "(none)",
                "Intacct Entity": hints["default_entity"],
                "Notes": "documents with no QuickBooks department",
            }
        )
    return rows


def demo_rows(hints: Mapping[str, Any]) -> Rows:
    """The mapping tables' rows (by header) that the hints describe."""
    accounts = hints.get("accounts", [])
    unmapped = set(hints.get("unmapped_accounts", [])) | {
        a["qbo_account"] for a in accounts if not a["intacct_account"]
    }
    currencies = hints.get("currencies", {})
    intacct_currencies = set(currencies.get("intacct", []))
    return {
        "AccountMap": [
            {"QuickBooks Account": a["qbo_account"], "Intacct GL Account": a["intacct_account"]}
            for a in accounts
            if a["qbo_account"] not in unmapped
        ]
        + [{"QuickBooks Account": name, "Notes": "not decided yet"} for name in sorted(unmapped)],
        "EntityRouting": _routing_rows(hints),
        "TermMap": [
            {"QuickBooks Term": t["qbo_term"], "Intacct Term": t["intacct_term"]} for t in hints.get("terms", [])
        ],
        "TaxCodeMap": [
            {
                "QuickBooks Tax Code": t["qbo_tax_code"],
                "Intacct Tax Detail": t.get("intacct_tax_detail"),
                "Intacct GL Account": t.get("intacct_account"),
            }
            for t in hints.get("tax_codes", [])
        ],
        "PaymentMethodMap": [
            {
                "QuickBooks Payment Method": m["qbo_payment_method"],
                "Intacct Payment Method": m["intacct_payment_method"],
            }
            for m in hints.get("payment_methods", [])
        ],
        "BankAccountMap": [
            {
                "QuickBooks Account": b["qbo_account"],
                "Intacct Financial Entity": b.get("intacct_financial_entity"),
                # Intacct keeps undeposited funds as a GL account, not a checking account.
                "Intacct GL Account": None if b.get("intacct_financial_entity") else b.get("intacct_gl"),
            }
            for b in hints.get("bank_accounts", [])
            if b.get("qbo_account")
        ],
        "Form1099Map": [
            {
                "QuickBooks 1099": "Yes",
                "Intacct Form": "NEC",
                "Intacct Box": "1",
                "Notes": "nonemployee compensation",
            },
        ],
        "CurrencyMap": [
            {
                "Currency": code,
                # A currency Intacct lacks stays a source-only row: shown to finance as unmapped, and any
                # document in it is held for review until they decide.
                "Enabled": "Yes" if code in intacct_currencies else None,
                "Intacct Currency": code if code in intacct_currencies else None,
            }
            for code in currencies.get("qbo", [])
        ],
    }


def journal_rows(hints: Mapping[str, Any]) -> Rows:
    """The journal entries flow's sheets (issue 17): every entity posts QuickBooks journal entries to
    GJ one for one; A/P lines clear through Accrued Liabilities, A/R has no clearing account (such an
    entry is held, which the demo shows)."""
    known = {a["intacct_account"] for a in hints.get("accounts", []) if a.get("intacct_account")}
    clearing = [
        {
            "Intacct Control Account": "20000",
            "Intacct Clearing Account": "21000",
            "Notes": "A/P lines of QuickBooks journal entries",
        }
    ]
    return {
        "JournalSettings": [
            {"Journal Symbol": "GJ", "Mode": "Detailed", "Summary Period": "Month", "Notes": "every entity"}
        ],
        "ClearingAccounts": clearing if {"20000", "21000"} <= known else [],
    }


def bill_rows() -> Rows:
    """The bills flow's sheet (issue 16): QuickBooks bills post in Intacct everywhere except the UK,
    where they go through Intacct's approval; Intacct bills with several departments keep them as
    the line's class (the default, written out)."""
    return {
        "BillSettings": [
            {"Create As": "Posted", "Line Departments": "Class per line", "Notes": "every entity"},
            {"Entity": "UK", "Create As": "Submitted", "Line Departments": "Class per line",
             "Notes": "UK bills are approved in Intacct"},
        ]
    }  # fmt: skip


def _entries(values: Mapping[str, str | None] | list[str]) -> list[ListEntry]:
    if isinstance(values, Mapping):
        return [ListEntry(v, values[v] or "") for v in sorted(v for v in values if v)]
    return [ListEntry(v) for v in sorted({v for v in values if v})]


def demo_lists(hints: Mapping[str, Any]) -> tuple[dict[str, list[ListEntry]], dict[str, list[ListEntry]]]:
    """Both systems' lists as far as the hints name them (QuickBooks lists, Intacct lists)."""
    classes = hints.get("classes", [])
    departments = hints.get("departments", [])
    banks = hints.get("bank_accounts", [])
    currencies = hints.get("currencies", {})
    entities = currencies.get("intacct_entities", {})
    qbo = {
        "QboAccounts": _entries([a["qbo_account"] for a in hints.get("accounts", [])]),
        "QboBankAccounts": _entries([b["qbo_account"] for b in banks if b.get("qbo_account")]),
        "QboClasses": _entries([c["qbo_class"] for c in classes]),
        "QboDepartments": _entries([d["qbo_department"] for d in departments]),
        "QboTerms": _entries([t["qbo_term"] for t in hints.get("terms", [])]),
        "QboTaxCodes": _entries([t["qbo_tax_code"] for t in hints.get("tax_codes", [])]),
        "QboPaymentMethods": _entries([m["qbo_payment_method"] for m in hints.get("payment_methods", [])]),
        "QboCurrencies": _entries(list(currencies.get("qbo", []))),
    }
    gl = {a["intacct_account"]: a.get("intacct_title") for a in hints.get("accounts", []) if a["intacct_account"]}
    gl.update(
        {
            t["intacct_account"]: gl.get(t["intacct_account"])
            for t in hints.get("tax_codes", [])
            if t.get("intacct_account")
        }
    )
    gl.update({b["intacct_gl"]: gl.get(b["intacct_gl"]) for b in banks if b.get("intacct_gl")})
    # Names as Intacct has them (what a refresh writes), never a bank's name for its GL account.
    gl = {number: INTACCT_GL_TITLES.get(number) or title for number, title in gl.items()}
    intacct = {
        "IntacctEntities": _entries(sorted({*entities, *(d["intacct_entity"] for d in departments)})),
        "IntacctGLAccounts": _entries(gl),
        "IntacctLocations": _entries([d.get("intacct_location") for d in departments]),
        "IntacctDepartments": _entries(
            [dep for c in classes for dep in (c.get("intacct_department_by_entity") or {}).values()]
        ),
        "IntacctClasses": _entries([c.get("intacct_class") for c in classes]),
        "IntacctTerms": _entries([t["intacct_term"] for t in hints.get("terms", [])]),
        "IntacctPaymentMethods": _entries([m["intacct_payment_method"] for m in hints.get("payment_methods", [])]),
        "IntacctFinancialEntities": _entries({b["intacct_financial_entity"]: b.get("name") for b in banks}),
        "IntacctCurrencies": _entries(list(currencies.get("intacct", []))),
        "IntacctExchangeRateTypes": _entries(list(EXCHANGE_RATE_TYPES)),
    }
    return qbo, intacct


def build_demo_workbook(manifest: Mapping[str, Any], out: Path) -> Path:
    """Write the demo group's mapping workbook from ``manifest["mapping_hints"]``."""
    hints = manifest.get("mapping_hints") or {}
    qbo_lists, intacct_lists = demo_lists(hints)
    rows = {**demo_rows(hints), **journal_rows(hints), **bill_rows()}
    return build_workbook(out, qbo_lists=qbo_lists, intacct_lists=intacct_lists, rows=rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the demo mapping workbook from a seeded manifest.json")
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.json written by `include.sandbox seed`")
    parser.add_argument("--out", type=Path, default=DEMO_WORKBOOK)
    args = parser.parse_args(argv)
    path = build_demo_workbook(json.loads(args.manifest.read_text()), args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
