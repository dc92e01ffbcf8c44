"""Deterministic demo books for both sandboxes: ``python -m include.sandbox seed --seed 42 --scale demo --out DIR``.

``generate_books(seed, scale, out)`` writes three files into ``out``:

- ``qbo.json``: the QuickBooks sandbox snapshot (the US subsidiary, one realm), loadable by
  ``serve --books DIR`` and ``POST /_sandbox/reset {"snapshot": ".../qbo.json"}``;
- ``intacct.json``: the Intacct sandbox snapshot (the parent: US/UK/CA entities);
- ``manifest.json``: what was seeded, computed from the neutral model; tests, the reconciliation
  and the mapping-workbook generator use it as ground truth.

Same ``seed``, ``scale`` and ``as_of`` give byte-identical files: every random draw comes from
``random.Random`` seeded per section, money is ``Decimal`` quantized to cents, records are inserted
in a fixed order (by date, then model key) so ids are stable, and the manifest is written with
sorted keys. Seeding writes the sandboxes' state in-process (their ``state`` modules), never
through HTTP.

**Dates.** "The last 13 months" ends at ``as_of`` (default :data:`DEFAULT_AS_OF`, 2026-10-31),
never today's date, so the books do not change from one day to the next. The first of the 13
months is closed in both companies (QuickBooks ``BookCloseDate``, Intacct
``books_closed_through``). MetaData/WHENCREATED/WHENMODIFIED times are working-hours times on the
documents' own dates (a function of the record key), also independent of the day of generation.

**Scale.** ``tiny`` (12 QuickBooks invoices, tens of records, well under a second), ``demo`` (240
invoices, a few hundred records), or a number of QuickBooks invoices (``10000``, ``100000``) with
everything else in proportion (see :func:`include.sandbox.books.group.parse_scale`).

**manifest.json shape** (keys sorted; money as exact decimal strings)::

    {"format": "demo-books-manifest/1", "seed": 42, "scale": "demo", "as_of": "2026-10-31",
     "periods": {"as_of", "window_start", "open_start", "closed_through",
                 "qbo_book_close_date", "intacct_books_closed_through"},           # ISO dates
     "files": {"qbo": {"path": "qbo.json", "bytes": n, "sha256": "...", "realm_id": "...", "company_name": "..."},
               "intacct": {"path": "intacct.json", "bytes": n, "sha256": "...", "company_id": "..."}},
     "systems": {"qbo": {"realm_id", "company_name", "home_currency"},
                 "intacct": {"company_id", "entities": [{"id": "US", "name", "currency": "USD"}, ...]}},
     "counts": {"qbo": {"by_object": {"Invoice": n, "Customer": n, ...},               # QuickBooks entity names
                        "by_object_and_entity": {"Invoice": {"US": n, "UK": n, "CA": n}, ...}},  # routed by Department
                "intacct": {"by_object": {"ARINVOICE": n, "CUSTOMER": n, ...},
                            "by_object_and_entity": {"ARINVOICE": {"US": n, ...}, "CUSTOMER": {"top": n, "UK": n},
                                                     "APBILL:Draft": {...}, "APBILL:Submitted": {...}, ...}}},
     "totals": {"qbo": {"Invoice": {"by_currency": {"USD": {"count", "total", "balance", "home_total"}, ...},
                                    "by_currency_excluding_planted": {...},
                                    "by_entity": {"US": {"USD": {...}}, ...}},
                        "CreditMemo": {...}, "Bill": {...},
                        "Payment": {"by_currency": {"USD": {"count", "total", "balance" (= unapplied), "home_total"}}},
                        "BillPayment": {...}, "JournalEntry": {...}},                 # journals: total = debits
                "intacct": {"ARINVOICE": {"by_currency", "by_entity"},
                            "APBILL": {"by_currency", "by_entity", "by_state"},
                            "ARPYMT": {...}, "APPYMT": {...}, "GLBATCH": {...}},
                "notes": {...}},                                                   # what each figure means
     "planted": [{"tag", "system", "object", "id", "model_key", "description", "where",
                  "intacct_accepts_as_is", "hold_for_review", "expected_handling",
                  + per kind: "doc_number", "total", "currency", "txn_date" | "name", "related" | "reference",
                  "state", "entity", "debits", "credits"}, ...],                   # sorted by tag
     "mapping_hints": {
        "accounts": [{"qbo_account": "Sales:Software Licenses", "qbo_id", "qbo_acct_num", "qbo_account_type",
                      "intacct_account": "40000" | null, "intacct_title"}],       # null = deliberately unmapped
        "account_folds": {"40000": ["Sales", "Sales:Software Licenses", "Subscription Revenue"], ...},
        "unmapped_accounts": ["Ask My Accountant", "Other Income", "Other Income:Grant Income", "Shareholder Loan"],
        "departments": [{"qbo_department": "Toronto", "qbo_id", "intacct_entity": "CA", "intacct_location": "CA-TOR"}],
        "classes": [{"qbo_class": "Services:Implementation", "qbo_id", "intacct_class": "IMPL" | null,
                     "intacct_department_by_entity": {"US": "US-SVC", "UK": "UK-SALES", "CA": "CA-SVC"}}],
        "default_entity": "US",                                                    # documents with no Department
        "terms": [{"qbo_term", "qbo_id", "intacct_term", "due_days"}],
        "tax_codes": [{"qbo_tax_code", "qbo_id", "rate_percent", "intacct_account": "22000"}],
        "items": [{"qbo_item", "qbo_id", "income_account", "intacct_account"}],
        "discount_account": {"qbo_account": "Discounts given", "intacct_account": "40900"},
        "payment_methods": [{"qbo_payment_method": "Check", "qbo_id", "intacct_payment_method": "Printed Check"}],
        "bank_accounts": [{"name", "qbo_account", "intacct_financial_entity", "intacct_gl", "intacct_entity",
                           "currency", "undeposited"}],
        "currencies": {"qbo_home", "qbo", "intacct", "intacct_entities", "not_in_intacct": ["CHF"]},
        "customers": [{"kind": "match", "basis": "email" | "tax_id",
                       "qbo": {"id", "name", "email", "tax_id", "currency"},
                       "intacct": [{"id": "C-10021", "name", "email", "tax_id", "currency", "entity"}]}],
        "vendors": [... "kind": "match" | "ambiguous" (two Intacct vendors fit one QuickBooks vendor) ...],
        "duplicates": [{"system": "qbo" | "intacct", "object": "customer" | "vendor",
                        "records": [{...}, {...}], "why"}]}}

Ids are the systems' own: QuickBooks ``Id`` strings, Intacct ``CUSTOMERID``/``VENDORID`` for
parties and ``RECORDNO`` (as a string) for documents.
"""

from __future__ import annotations

import gc
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

from include.sandbox.books.group import DEFAULT_AS_OF, build_group
from include.sandbox.books.manifest import ManifestBuilder

__all__ = ["DEFAULT_AS_OF", "generate_books"]


def _file_facts(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def generate_books(seed: int, scale: str, out: Path, *, as_of: date = DEFAULT_AS_OF) -> dict[str, Any]:
    """Write ``qbo.json``, ``intacct.json`` and ``manifest.json`` into ``out``; return the manifest."""
    from include.sandbox.books.intacct_adapter import COMPANY_ID, build_intacct_state
    from include.sandbox.books.qbo_adapter import COMPANY_NAME, REALM_ID, build_qbo_state

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gc_was_enabled = gc.isenabled()
    # Millions of new dicts and no reference cycles: the cyclic collector would only re-scan them.
    gc.disable()
    try:
        group = build_group(seed, scale, as_of)
        manifest_builder = ManifestBuilder(group)  # counts, totals, planted: before documents are released
        # The bigger company first, releasing the model's documents as they go in; then the other.
        qbo_state, qbo_ids = build_qbo_state(group, release=True)
        qbo_state.save_snapshot(out / "qbo.json")
        del qbo_state
        gc.collect()
        intacct_state, intacct_ids = build_intacct_state(group)
        intacct_state.save(out / "intacct.json")
        del intacct_state
        gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    files = {
        "qbo": {**_file_facts(out / "qbo.json"), "realm_id": REALM_ID, "company_name": COMPANY_NAME},
        "intacct": {**_file_facts(out / "intacct.json"), "company_id": COMPANY_ID},
    }
    manifest = manifest_builder.build(files, qbo_ids, {k: str(v) for k, v in intacct_ids.items()})
    text = json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    tmp = out / "manifest.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out / "manifest.json")
    return manifest
