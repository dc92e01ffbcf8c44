"""The trial-balance tie-out by mapped account: QuickBooks journal entries of the period, mapped as the
journal entries flow maps them, against what Intacct's GL holds from that flow's batches.

This is the journal entries issue's comparison (``flows.journal_entries.gl_movement`` and
``tie_out``), run for the whole period: per entity and Intacct account, the base-currency movement
QuickBooks' entries should produce against the movement of the Intacct batches whose reference is
``QBO-JE-<Id>``. Entries the flow holds (unmapped account, unbalanced after mapping, a control
account) move nothing on either side; they are on the Open review items sheet once the flow has run.
Intacct's own journals are not compared (they are Intacct's business).

``plugins/qbo_intacct/flows/trial_balance.py`` (issue 17's module) had not landed on main when this
was written; if it lands, this module should call it instead.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from qbo_intacct.reconciliation.read import Period

log = logging.getLogger(__name__)

TB_TYPE = "Trial balance differs"
TITLE = "Trial balance (journal entries)"
_READ_CHUNK = 100


def _context(qbo: Any, intacct: Any, mappings: Any, home_currency: str) -> Any:
    from qbo_intacct.flows.journal_entries import JournalContext

    def names(entity: str) -> dict[str, str]:
        return {str(r["Id"]): str(r.get("FullyQualifiedName") or r.get("Name")) for r in qbo.iter_query(entity)}

    return JournalContext(
        mappings=mappings,
        accounts={str(r["Id"]): r for r in qbo.iter_query("Account")},
        classes=names("Class"),
        departments=names("Department"),
        closed_accounts=frozenset(
            str(r["ACCOUNTNO"])
            for r in intacct.iter_query("GLACCOUNT", ["ACCOUNTNO", "SUBLEDGERCONTROLON"], entity_id="")
            if str(r.get("SUBLEDGERCONTROLON", "")).lower() in ("true", "t", "1")
        ),
        base_currency={
            str(r["LOCATIONID"]): str(r.get("CURRENCY") or home_currency)
            for r in intacct.iter_query("LOCATIONENTITY", ["LOCATIONID", "CURRENCY"], entity_id="")
        },
        home_currency=home_currency,
    )


def expected_movement(qbo: Any, intacct: Any, period: Period, home_currency: str) -> tuple[dict, list[str]]:
    """(entity, account) -> movement QuickBooks' entries of the period should make; and the held ones."""
    from qbo_intacct.flows.engine import load_workbook_mappings
    from qbo_intacct.flows.journal_entries import Entry, gl_movement, map_entry

    ctx = _context(qbo, intacct, load_workbook_mappings(), home_currency)
    where = f"TxnDate >= '{period.start.isoformat()}' AND TxnDate <= '{period.end.isoformat()}'"
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    held: list[str] = []
    for record in qbo.iter_query("JournalEntry", where):
        mapped = map_entry(record, ctx)
        if isinstance(mapped, Entry):
            for key, amount in gl_movement(mapped.lines).items():
                expected[key] += amount
        else:
            held.append(str(record.get("DocNumber") or record.get("Id")))
    return dict(expected), held


def actual_movement(intacct: Any, period: Period, entities: Sequence[str]) -> dict[tuple[str, str], Decimal]:
    """(entity, account) -> movement of the journal entries flow's batches dated in the period."""
    from qbo_intacct.flows.journal_entries import REFERENCE_PREFIX
    from qbo_intacct.hooks.intacct import Filter

    flt = Filter.all_of(
        Filter.like("REFERENCENO", f"{REFERENCE_PREFIX}%"),
        Filter.at_least("BATCH_DATE", period.start),
        Filter.at_most("BATCH_DATE", period.end),
    )
    actual: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    found = list(intacct.iter_query("GLBATCH", ["RECORDNO", "MEGAENTITYID"], flt, entity_id="", show_private=True))
    by_entity: dict[str, list[str]] = defaultdict(list)
    for row in found:
        by_entity[str(row.get("MEGAENTITYID") or "")].append(str(row["RECORDNO"]))
    for entity, recnos in by_entity.items():
        if entities and entity not in entities:
            continue
        for start in range(0, len(recnos), _READ_CHUNK):
            for batch in intacct.read("GLBATCH", recnos[start : start + _READ_CHUNK], entity_id=entity or None):
                entries = batch.get("ENTRIES") or {}
                lines = (
                    entries.get("glentry") or entries.get("GLENTRY") or [] if isinstance(entries, Mapping) else entries
                )
                for line in [lines] if isinstance(lines, Mapping) else list(lines):
                    sign = 1 if str(line.get("TR_TYPE")) == "1" else -1
                    amount = Decimal(str(line.get("AMOUNT") or line.get("TRX_AMOUNT") or 0))
                    actual[(entity or str(batch.get("MEGAENTITYID") or ""), str(line.get("ACCOUNTNO")))] += (
                        sign * amount
                    )
    return dict(actual)


def tie_out_rows(
    expected: Mapping[tuple[str, str], Decimal],
    actual: Mapping[tuple[str, str], Decimal],
    held: Sequence[str],
    base_currency: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(discrepancy rows, summary rows per entity) from the two movements."""
    from qbo_intacct.flows.journal_entries import tie_out

    base_currency = base_currency or {}
    rows = []
    for diff in tie_out(expected, actual):
        q, i = Decimal(diff["quickbooks"]), Decimal(diff["intacct"])
        why = (
            f"Intacct account {diff['account']} in entity {diff['entity']} moved {i:,.2f} from the journal entries "
            f"flow's batches; QuickBooks' journal entries of the period, mapped, move it {q:,.2f}."
        )
        if held:
            why += f" Held entries (not in either figure): {', '.join(held[:10])}."
        rows.append(
            {
                "type": TB_TYPE,
                "check": TITLE,
                "entity": diff["entity"],
                "currency": base_currency.get(diff["entity"], ""),
                "qbo_number": diff["account"],
                "qbo_party": "",
                "qbo_date": "",
                "qbo_amount": q,
                "intacct_number": diff["account"],
                "intacct_party": "",
                "intacct_date": "",
                "intacct_amount": i,
                "difference": q - i,
                "explanation": why,
                "where_to_fix": "Run the journal entries flow; its run summary lists the entries it could not post.",
                "qbo_record": "",
                "intacct_record": f"GL account {diff['account']}",
            }
        )
    summary = []
    for entity in sorted({e for e, _ in set(expected) | set(actual)}):
        n = sum(1 for r in rows if r["entity"] == entity)
        summary.append(
            {
                "check": TITLE,
                "measure": "debits by mapped account",
                "entity": entity,
                "currency": base_currency.get(entity, ""),
                "qbo_count": sum(1 for e, _ in expected if e == entity),
                "intacct_count": sum(1 for e, _ in actual if e == entity),
                "qbo": sum((abs(v) for (e, _), v in expected.items() if e == entity), Decimal("0")) / 2,
                "intacct": sum((abs(v) for (e, _), v in actual.items() if e == entity), Decimal("0")) / 2,
                "difference": sum((abs(r["difference"]) for r in rows if r["entity"] == entity), Decimal("0")),
                "discrepancies": n,
                "status": "Pass" if n == 0 else "Fail",
            }
        )
    return rows, summary
