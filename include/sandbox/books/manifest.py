"""The manifest: what was seeded, computed from the neutral model (ground truth, not a re-read).

Tests, the reconciliation and the mapping-workbook generator read ``manifest.json``; its shape is
documented in :mod:`include.sandbox.books.generate`. Money is written as exact decimal strings
("1234.50"), never JSON floats. Totals are computed here with the systems' own rounding rules
(QuickBooks ``HomeTotalAmt = round(TotalAmt x ExchangeRate)``; Intacct ``TOTALENTERED =
round(TRX_TOTALENTERED x EXCHANGE_RATE)``), so they tie to what each sandbox serves to the cent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from include.sandbox.books import reference as ref
from include.sandbox.books.model import ZERO, Group, Party, SalesDoc, cents
from include.sandbox.books.planted import EXPECTED_HANDLING

MANIFEST_FORMAT = "demo-books-manifest/1"


def _money(value: Decimal) -> str:
    return format(cents(value), "f")


class _Totals:
    """Count, total, open balance and home-currency total per (currency) bucket."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, bucket: str, total: Decimal, balance: Decimal | None, home: Decimal) -> None:
        row = self.rows.setdefault(bucket, {"count": 0, "total": ZERO, "balance": ZERO, "home_total": ZERO})
        row["count"] += 1
        row["total"] += total
        row["home_total"] += home
        if balance is not None:
            row["balance"] += balance
        else:
            row.pop("balance", None)

    def render(self) -> dict[str, Any]:
        return {
            bucket: {k: (_money(v) if isinstance(v, Decimal) else v) for k, v in sorted(row.items())}
            for bucket, row in sorted(self.rows.items())
        }


def _qbo_fqn(group: Group) -> dict[str, str]:
    names = {a.key: a for a in group.qbo_accounts}
    out: dict[str, str] = {}
    for acct in group.qbo_accounts:
        out[acct.key] = f"{names[acct.parent_key].name}:{acct.name}" if acct.parent_key else acct.name
    return out


def _qbo_class_fqn(group: Group) -> dict[str, str]:
    names = {c.key: c.name for c in group.qbo_classes}
    return {c.key: f"{names[c.parent_key]}:{c.name}" if c.parent_key else c.name for c in group.qbo_classes}


def _qbo_entity(group: Group, department_key: str | None) -> str:
    for dept in group.qbo_departments:
        if dept.key == department_key:
            return dept.entity_id
    return "US"


class ManifestBuilder:
    """Computes everything that depends on documents up front, so the generator can release the
    model's documents while the sandboxes are filled (peak memory at 100,000 invoices), and adds
    the systems' ids once the adapters have assigned them."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self.qbo_ids: dict[str, str] = {}
        self.intacct_ids: dict[str, Any] = {}
        self._counts = self.counts()
        self._totals = self.totals()
        self._planted = self.planted()

    def system_id(self, system: str, key: str) -> Any:
        return (self.qbo_ids if system == "qbo" else self.intacct_ids)[key]

    # -- counts ------------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        g = self.group
        qbo: Counter[str] = Counter()
        ia: Counter[str] = Counter()
        qbo_by_entity: dict[str, Counter[str]] = defaultdict(Counter)
        ia_by_entity: dict[str, Counter[str]] = defaultdict(Counter)
        qbo.update(
            {
                "Account": len(g.qbo_accounts),
                "Class": len(g.qbo_classes),
                "Department": len(g.qbo_departments),
                "Term": len(g.terms),
                "TaxRate": len(g.tax_rates),
                "TaxCode": len(g.tax_codes),
                "Item": len(g.items),
                "PaymentMethod": len(g.payment_methods),
                "ExchangeRate": sum(1 for (_, to, _m) in g.rates if to == "USD"),
            }
        )
        ia.update(
            {
                "LOCATIONENTITY": len(g.entities),
                "LOCATION": sum(len(e.locations) for e in g.entities),
                "DEPARTMENT": sum(len(e.departments) for e in g.entities),
                "CLASS": len(g.intacct_classes),
                "GLACCOUNT": len(g.gl_accounts),
                "ARTERM": len(g.terms),
                "APTERM": len(g.terms),
                "CHECKINGACCOUNT": sum(1 for b in g.banks if b.intacct_financial_entity),
                "EXCHANGERATE": sum(
                    1 for (a, b, _m) in g.rates if a in g.intacct_currencies and b in g.intacct_currencies
                ),
            }
        )
        for party in g.parties:
            if party.system == "qbo":
                qbo["Customer" if party.kind == "customer" else "Vendor"] += 1
            else:
                name = "CUSTOMER" if party.kind == "customer" else "VENDOR"
                ia[name] += 1
                ia_by_entity[name][party.entity_id or "top"] += 1

        def bump(system: str, qbo_name: str, ia_name: str, entity: str | None, dept_key: str | None) -> None:
            if system == "qbo":
                qbo[qbo_name] += 1
                qbo_by_entity[qbo_name][_qbo_entity(g, dept_key)] += 1
            else:
                ia[ia_name] += 1
                ia_by_entity[ia_name][entity or "US"] += 1

        for doc in g.sales_docs:
            bump(
                doc.system,
                "Invoice" if doc.kind == "invoice" else "CreditMemo",
                "ARINVOICE",
                doc.dims.entity_id,
                doc.dims.qbo_department_key,
            )
        for bill in g.purchase_docs:
            bump(bill.system, "Bill", "APBILL", bill.dims.entity_id, bill.dims.qbo_department_key)
            if bill.system == "intacct":
                ia_by_entity[f"APBILL:{bill.state}"][bill.dims.entity_id or "US"] += 1
        for pay in g.receipts:
            bump(pay.system, "Payment", "ARPYMT", pay.entity_id, None)
        for out in g.disbursements:
            bump(out.system, "BillPayment", "APPYMT", out.entity_id, None)
        for je in g.journals:
            bump(
                je.system,
                "JournalEntry",
                "GLBATCH",
                je.entity_id,
                next((ln.dims.qbo_department_key for ln in je.lines), None),
            )
        return {
            "qbo": {
                "by_object": dict(sorted(qbo.items())),
                "by_object_and_entity": {k: dict(sorted(v.items())) for k, v in sorted(qbo_by_entity.items())},
            },
            "intacct": {
                "by_object": dict(sorted(ia.items())),
                "by_object_and_entity": {k: dict(sorted(v.items())) for k, v in sorted(ia_by_entity.items())},
            },
        }

    # -- totals ------------------------------------------------------------------------------

    def totals(self) -> dict[str, Any]:
        g = self.group
        qbo: dict[str, dict[str, _Totals]] = defaultdict(lambda: defaultdict(_Totals))
        ia: dict[str, dict[str, _Totals]] = defaultdict(lambda: defaultdict(_Totals))

        def sales_bucket(doc: SalesDoc) -> None:
            if doc.system == "qbo":
                name = "Invoice" if doc.kind == "invoice" else "CreditMemo"
                home = cents(doc.total * doc.exchange_rate)
                entity = _qbo_entity(g, doc.dims.qbo_department_key)
                qbo[name]["by_currency"].add(doc.currency, doc.total, doc.balance, home)
                qbo[name][f"by_entity:{entity}"].add(doc.currency, doc.total, doc.balance, home)
                if not doc.tags:
                    qbo[name]["by_currency_excluding_planted"].add(doc.currency, doc.total, doc.balance, home)
            else:
                entity = doc.dims.entity_id or "US"
                base = cents(doc.total * doc.exchange_rate)
                ia["ARINVOICE"]["by_currency"].add(doc.currency, doc.total, doc.balance, base)
                ia["ARINVOICE"][f"by_entity:{entity}"].add(doc.currency, doc.total, doc.balance, base)

        for doc in g.sales_docs:
            sales_bucket(doc)
        for bill in g.purchase_docs:
            base = cents(bill.total * bill.exchange_rate)
            if bill.system == "qbo":
                entity = _qbo_entity(g, bill.dims.qbo_department_key)
                qbo["Bill"]["by_currency"].add(bill.currency, bill.total, bill.balance, base)
                qbo["Bill"][f"by_entity:{entity}"].add(bill.currency, bill.total, bill.balance, base)
            else:
                entity = bill.dims.entity_id or "US"
                ia["APBILL"]["by_currency"].add(bill.currency, bill.total, bill.balance, base)
                ia["APBILL"][f"by_entity:{entity}"].add(bill.currency, bill.total, bill.balance, base)
                ia["APBILL"][f"by_state:{bill.state}"].add(bill.currency, bill.total, bill.balance, base)
        for pay in g.receipts:
            home = cents(pay.total * pay.exchange_rate)
            if pay.system == "qbo":
                qbo["Payment"]["by_currency"].add(pay.currency, pay.total, pay.unapplied, home)
            else:
                ia["ARPYMT"]["by_currency"].add(pay.currency, pay.total, None, home)
                ia["ARPYMT"][f"by_entity:{pay.entity_id or 'US'}"].add(pay.currency, pay.total, None, home)
        for out in g.disbursements:
            home = cents(out.total * out.exchange_rate)
            if out.system == "qbo":
                qbo["BillPayment"]["by_currency"].add(out.currency, out.total, None, home)
            else:
                ia["APPYMT"]["by_currency"].add(out.currency, out.total, None, home)
                ia["APPYMT"][f"by_entity:{out.entity_id or 'US'}"].add(out.currency, out.total, None, home)
        for je in g.journals:
            debits = je.debits
            if je.system == "qbo":
                qbo["JournalEntry"]["by_currency"].add(je.currency, debits, None, cents(debits * je.exchange_rate))
            else:
                ia["GLBATCH"]["by_currency"].add(je.currency, debits, None, debits)
                ia["GLBATCH"][f"by_entity:{je.entity_id}"].add(je.currency, debits, None, debits)

        def render(side: dict[str, dict[str, _Totals]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for obj, buckets in sorted(side.items()):
                section: dict[str, Any] = {}
                for name, totals in sorted(buckets.items()):
                    if ":" in name:
                        group_name, member = name.split(":", 1)
                        section.setdefault(group_name, {})[member] = totals.render()
                    else:
                        section[name] = totals.render()
                out[obj] = section
            return out

        return {
            "qbo": render(qbo),
            "intacct": render(ia),
            "notes": {
                "total": "document totals in the document currency (QuickBooks TotalAmt, Intacct TRX_TOTALENTERED)",
                "balance": "open amount in the document currency (QuickBooks Balance, Intacct TRX_TOTALDUE); "
                "for QuickBooks payments, the unapplied amount (UnappliedAmt)",
                "home_total": "QuickBooks: USD (HomeTotalAmt); Intacct: the entity's base currency (TOTALENTERED)",
                "by_entity": "QuickBooks documents are grouped by the Intacct entity their Department routes to",
                "JournalEntry/GLBATCH total": "sum of debits",
                "by_currency_excluding_planted": "QuickBooks invoices without planted trouble",
            },
        }

    # -- planted and mapping -------------------------------------------------------------------

    def planted(self) -> list[dict[str, Any]]:
        g = self.group
        docs = {d.key: d for d in g.sales_docs}
        docs_p = {d.key: d for d in g.purchase_docs}
        rows = []
        for case in g.planted:
            row: dict[str, Any] = {
                "tag": case.tag,
                "system": case.system,
                "object": case.object_name,
                "id": None,  # filled in by build()
                "model_key": case.model_key,
                "description": case.description,
                "where": case.where,
                **EXPECTED_HANDLING[case.tag],
            }
            if case.model_key in docs:
                doc = docs[case.model_key]
                row |= {
                    "doc_number": doc.doc_number,
                    "total": _money(doc.total),
                    "currency": doc.currency,
                    "txn_date": doc.txn_date.isoformat(),
                }
            elif case.object_name in ("Customer", "Vendor"):
                party = g.party(case.model_key)
                row |= {"name": party.display_name}
                related = [d for d in (*docs.values(), *docs_p.values()) if d.party_key == party.key]
                row["related"] = [
                    {
                        "object": "Invoice" if isinstance(d, SalesDoc) else "Bill",
                        "model_key": d.key,
                        "doc_number": d.doc_number,
                    }
                    for d in related
                ]
            elif case.object_name == "GLBATCH":
                je = next(j for j in g.journals if j.key == case.model_key)
                row |= {
                    "reference": je.reference,
                    "state": je.state,
                    "entity": je.entity_id,
                    "debits": _money(je.debits),
                    "credits": _money(je.credits),
                }
            rows.append(row)
        return sorted(rows, key=lambda r: r["tag"])

    def _party_row(self, party: Party) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": str(self.system_id(party.system, party.key)),
            "name": party.display_name,
            "email": party.email,
            "tax_id": party.tax_id,
            "currency": party.currency,
        }
        if party.system == "intacct":
            row["entity"] = party.entity_id or ""
        return row

    def mapping_hints(self) -> dict[str, Any]:
        g = self.group
        fqn = _qbo_fqn(g)
        class_fqn = _qbo_class_fqn(g)
        gl_titles = {a.number: a.title for a in g.gl_accounts}
        folds: dict[str, list[str]] = defaultdict(list)
        for acct in g.qbo_accounts:
            if acct.intacct_account:
                folds[acct.intacct_account].append(fqn[acct.key])
        party_matches: dict[str, list[dict[str, Any]]] = {"customers": [], "vendors": []}
        duplicates = []
        for pair in g.party_pairs:
            if pair["kind"] == "duplicate":
                keys = list(pair["keys"])  # type: ignore[call-overload]
                duplicates.append(
                    {
                        "system": pair["system"],
                        "object": pair["object"],
                        "records": [self._party_row(g.party(k)) for k in keys],
                        "why": "same email and tax id, name spelled differently: one company keyed twice",
                    }
                )
                continue
            target = "customers" if pair["object"] == "customer" else "vendors"
            party_matches[target].append(
                {
                    "kind": pair["kind"],
                    "basis": pair["basis"],
                    "qbo": self._party_row(g.party(str(pair["qbo"]))),
                    "intacct": [self._party_row(g.party(k)) for k in pair["intacct"]],  # type: ignore[attr-defined]
                }
            )
        return {
            "accounts": [
                {
                    "qbo_account": fqn[a.key],
                    "qbo_id": self.qbo_ids[a.key],
                    "qbo_acct_num": a.acct_num,
                    "qbo_account_type": a.account_type,
                    "intacct_account": a.intacct_account,
                    "intacct_title": gl_titles.get(a.intacct_account or ""),
                }
                for a in g.qbo_accounts
            ],
            "account_folds": {number: sorted(names) for number, names in sorted(folds.items()) if len(names) > 1},
            "unmapped_accounts": sorted(fqn[a.key] for a in g.qbo_accounts if a.intacct_account is None),
            "departments": [
                {
                    "qbo_department": d.name,
                    "qbo_id": self.qbo_ids[d.key],
                    "intacct_entity": d.entity_id,
                    "intacct_location": d.location_id,
                }
                for d in g.qbo_departments
            ],
            "classes": [
                {
                    "qbo_class": class_fqn[c.key],
                    "qbo_id": self.qbo_ids[c.key],
                    "intacct_class": c.intacct_class_id,
                    "intacct_department_by_entity": dict(c.department_by_entity),
                }
                for c in g.qbo_classes
            ],
            "default_entity": "US",
            "terms": [
                {
                    "qbo_term": t.qbo_name,
                    "qbo_id": self.qbo_ids[t.key],
                    "intacct_term": t.intacct_name,
                    "due_days": t.due_days,
                }
                for t in g.terms
            ],
            "tax_codes": [
                {
                    "qbo_tax_code": c.name,
                    "qbo_id": self.qbo_ids[c.key],
                    "rate_percent": format(next(r.rate_percent for r in g.tax_rates if r.key == c.rate_key), "f"),
                    "intacct_account": ref.SALES_TAX_GL,
                }
                for c in g.tax_codes
            ],
            "items": [
                {
                    "qbo_item": i.name,
                    "qbo_id": self.qbo_ids[i.key],
                    "income_account": fqn[i.income_account_key],
                    "intacct_account": next(a.intacct_account for a in g.qbo_accounts if a.key == i.income_account_key),
                }
                for i in g.items
            ],
            "discount_account": {"qbo_account": fqn[ref.DISCOUNT_QBO_ACCOUNT], "intacct_account": "40900"},
            "payment_methods": [
                {
                    "qbo_payment_method": m.qbo_name,
                    "qbo_id": self.qbo_ids[m.key],
                    "intacct_payment_method": m.intacct_name,
                }
                for m in g.payment_methods
            ],
            "bank_accounts": [
                {
                    "name": b.name,
                    "qbo_account": fqn[b.qbo_account_key] if b.qbo_account_key else None,
                    "intacct_financial_entity": b.intacct_financial_entity,
                    "intacct_gl": b.intacct_gl,
                    "intacct_entity": b.entity_id,
                    "currency": b.currency,
                    "undeposited": b.is_undeposited,
                }
                for b in g.banks
            ],
            "currencies": {
                "qbo_home": "USD",
                # every currency a QuickBooks customer or vendor uses, the planted CHF one included
                "qbo": sorted({*g.qbo_currencies, *(p.currency for p in g.parties if p.system == "qbo")}),
                "intacct": sorted(g.intacct_currencies),
                "intacct_entities": {e.entity_id: e.currency for e in g.entities},
                "not_in_intacct": [ref.UNUSED_CURRENCY],
            },
            "customers": party_matches["customers"],
            "vendors": party_matches["vendors"],
            "duplicates": duplicates,
        }

    def _planted_with_ids(self) -> list[dict[str, Any]]:
        rows = []
        for case in self._planted:
            row = dict(case, id=str(self.system_id(case["system"], case["model_key"])))
            if "related" in row:
                row["related"] = [
                    {"object": r["object"], "id": self.qbo_ids[r["model_key"]], "doc_number": r["doc_number"]}
                    for r in row["related"]
                ]
            rows.append(row)
        return rows

    def build(self, files: dict[str, Any], qbo_ids: dict[str, str], intacct_ids: dict[str, Any]) -> dict[str, Any]:
        self.qbo_ids = qbo_ids
        self.intacct_ids = intacct_ids
        g = self.group
        p = g.periods
        return {
            "format": MANIFEST_FORMAT,
            "seed": g.seed,
            "scale": g.scale_name,
            "as_of": p.as_of.isoformat(),
            "periods": {
                "as_of": p.as_of.isoformat(),
                "window_start": p.window_start.isoformat(),
                "closed_through": p.closed_through.isoformat(),
                "open_start": p.open_start.isoformat(),
                "qbo_book_close_date": p.closed_through.isoformat(),
                "intacct_books_closed_through": p.closed_through.isoformat(),
            },
            "files": files,
            "systems": {
                "qbo": {
                    "realm_id": files["qbo"]["realm_id"],
                    "company_name": files["qbo"]["company_name"],
                    "home_currency": "USD",
                },
                "intacct": {
                    "company_id": files["intacct"]["company_id"],
                    "entities": [{"id": e.entity_id, "name": e.name, "currency": e.currency} for e in g.entities],
                },
            },
            "counts": self._counts,
            "totals": self._totals,
            "planted": self._planted_with_ids(),
            "mapping_hints": self.mapping_hints(),
        }
