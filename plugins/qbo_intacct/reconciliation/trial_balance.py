"""The trial-balance tie-out by mapped account for the period, through issue 17's comparison.

``qbo_intacct.flows.trial_balance.compare_trial_balances`` via the journal entries flow's
``tie_out_period`` (``operators/journal_dag.py``): QuickBooks' TrialBalance report for the month,
split by entity with the routed journal-entry lines and mapped through the *Accounts* sheet, against
Intacct's ``get_trialbalance`` per entity. What neither side's journal entries explain is named from
the systems' own reports (QuickBooks postings of other transaction types, Intacct postings other
than the journal entries flow's batches, entries held for review); a row whose difference is not
fully explained is a discrepancy finance must look at. This module only turns that result into the
workbook's rows; it knows no API.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

TB_TYPE = "Trial balance differs"
TITLE = "Trial balance (mapped accounts)"
ZERO = Decimal("0.00")


def read_tie_out(qbo: Any, intacct: Any, month: str, entities: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Issue 17's tie-out for one month in ``entities``; returns the comparison and the held entries."""
    from qbo_intacct.flows.engine import load_workbook_mappings
    from qbo_intacct.operators.journal_dag import read_journal_context, tie_out_period

    ctx = read_journal_context(qbo, intacct, load_workbook_mappings())
    result, holds = tie_out_period(qbo, intacct, ctx, month, list(entities))
    return result, [f"{h.number or h.entry_id} ({h.reason_code})" for h in holds]


def tie_out_rows(
    result: pd.DataFrame, held: Sequence[str], base_currency: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(discrepancy rows: accounts whose difference is not fully explained, summary rows per entity)."""
    base_currency = base_currency or {}
    records = result.to_dict("records") if len(result) else []
    rows = []
    for r in records:
        if r["status"] != "differs":
            continue
        why = (
            f"Intacct account {r['account']} in entity {r['entity']}: QuickBooks (mapped from "
            f"{r.get('qbo_accounts') or 'no QuickBooks account'}) {Decimal(r['qbo']):,.2f}, Intacct "
            f"{Decimal(r['intacct']):,.2f}; {r['reason']}."
        )
        if held:
            why += f" Journal entries held for review: {', '.join(held[:10])}."
        rows.append(
            {
                "type": TB_TYPE,
                "check": TITLE,
                "entity": r["entity"],
                "currency": base_currency.get(r["entity"], ""),
                "qbo_number": str(r["account"]),
                "qbo_party": str(r.get("qbo_accounts") or ""),
                "qbo_date": "",
                "qbo_amount": Decimal(r["qbo"]),
                "intacct_number": str(r["account"]),
                "intacct_party": "",
                "intacct_date": "",
                "intacct_amount": Decimal(r["intacct"]),
                "difference": -Decimal(r["unexplained"]),  # QuickBooks minus Intacct, the unexplained part
                "explanation": why,
                "where_to_fix": "Journal entries not posted or posted differently: run the journal entries flow and "
                "read its run summary; an unmapped account goes on the Accounts sheet.",
                "qbo_record": "",
                "intacct_record": f"GL account {r['account']}",
            }
        )
    summary = []
    for entity in sorted({str(r["entity"]) for r in records}):
        mine = [r for r in records if str(r["entity"]) == entity]
        differs = sum(1 for r in mine if r["status"] == "differs")
        summary.append(
            {
                "check": TITLE,
                "measure": "accounts tied, explained or differing",
                "entity": entity,
                "currency": base_currency.get(entity, ""),
                "qbo_count": len(mine),
                "intacct_count": len(mine),
                "qbo": sum((Decimal(r["qbo"]) for r in mine), ZERO),
                "intacct": sum((Decimal(r["intacct"]) for r in mine), ZERO),
                "difference": sum((-Decimal(r["unexplained"]) for r in mine), ZERO),
                "discrepancies": differs,
                "status": "Pass" if differs == 0 else "Fail",
            }
        )
    return rows, summary
