"""Helpers the journal entries DAG stories share: Intacct's GL as the documented reads give it, the
workbook edits finance makes, and QuickBooks edits through the hook (all over real HTTP)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

# the shared story helpers, under the names the journal entries stories use
from flow_story import intacct_hook as intacct
from flow_story import ledger as ledger
from flow_story import qbo_hook as qbo

REFERENCE_PREFIX = "QBO-JE-"


def flow_batches(entity: str = "US") -> list[dict[str, Any]]:
    """Every GLBATCH this flow posted in ``entity`` (REFERENCENO ``QBO-JE-*``), read with its lines."""
    from qbo_intacct.hooks.intacct import Filter

    hook = intacct()
    found = hook.iter_query(
        "GLBATCH", ["RECORDNO"], Filter.like("REFERENCENO", f"{REFERENCE_PREFIX}%"), entity_id=entity
    )
    recnos = [str(r["RECORDNO"]) for r in found]
    return hook.read("GLBATCH", recnos, entity_id=entity) if recnos else []


def lines_of(batch: dict[str, Any]) -> list[dict[str, Any]]:
    entries = batch.get("ENTRIES") or {}
    lines = entries.get("glentry") or entries.get("GLENTRY") or [] if isinstance(entries, dict) else entries
    return [lines] if isinstance(lines, dict) else list(lines)


def trial_balance(entity: str, start: dt.date, end: dt.date) -> dict[str, Decimal]:
    """Intacct's ``get_trialbalance`` for one entity and period: account -> debits minus credits."""
    rows = intacct().trial_balance(start, end, entity_id=entity)
    return {row["glaccountno"]: row["debits"] - row["credits"] for row in rows}


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    start = dt.date.fromisoformat(f"{month}-01")
    return start, (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def movement(before: dict[str, Decimal], after: dict[str, Decimal]) -> dict[str, Decimal]:
    out = {k: after.get(k, Decimal(0)) - before.get(k, Decimal(0)) for k in set(before) | set(after)}
    return {k: v for k, v in out.items() if v}


def set_workbook_cell(path: Path, sheet: str, key_header: str, key: str | None, header: str, value: str) -> None:
    """Finance types ``value`` into column ``header`` of the row whose ``key_header`` is ``key``."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    headers = [c.value for c in ws[1]]
    col, key_col = headers.index(header) + 1, headers.index(key_header) + 1
    for row in range(2, ws.max_row + 1):
        if ws.cell(row, key_col).value == key:
            ws.cell(row, col).value = value
            break
    else:
        raise AssertionError(f"no row {key!r} on sheet {sheet!r}")
    wb.save(path)


def edit_amount(entry_id: str, delta: Decimal) -> dict[str, Any]:
    """Raise every line of a two-sided entry by ``delta`` in QuickBooks (it stays balanced)."""
    hook = qbo()
    entry = hook.get("JournalEntry", entry_id)
    for line in entry["Line"]:
        line["Amount"] = Decimal(str(line["Amount"])) + delta
    return hook.update("JournalEntry", entry, request_id=str(uuid.uuid4()), sparse=False)


def delete_entry(entry_id: str) -> None:
    hook = qbo()
    entry = hook.get("JournalEntry", entry_id)
    hook.delete("JournalEntry", entry_id, entry["SyncToken"], request_id=str(uuid.uuid4()))


def by_reference(batches: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in batches:
        out[str(b["REFERENCENO"])].append(b)
    return dict(out)


def signed_lines(batch: dict[str, Any]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines_of(batch):
        sign = 1 if str(line["TR_TYPE"]) == "1" else -1
        out[str(line["ACCOUNTNO"])] += sign * Decimal(str(line["AMOUNT"]))
    return dict(out)


def mapped_journal_movement(month: str, entity: str, skip: set[str]) -> dict[str, Decimal]:
    """What the flow should have moved in Intacct's GL: the month's QuickBooks journal entries (but
    ``skip``, the held ones) through the workbook's account mapping, home currency, to the cent.
    Computed here from QuickBooks and the workbook, not from anything the flow reports."""
    from decimal import ROUND_HALF_UP

    from qbo_intacct.flows.engine import load_workbook_mappings

    mappings = load_workbook_mappings()
    hook = qbo()
    names = {a["Id"]: a.get("FullyQualifiedName") or a["Name"] for a in hook.iter_query("Account")}
    out: dict[str, Decimal] = defaultdict(Decimal)
    for entry in hook.iter_query("JournalEntry"):
        if not str(entry["TxnDate"]).startswith(month) or entry["Id"] in skip:
            continue
        rate = Decimal(str(entry.get("ExchangeRate") or 1))
        for line in entry["Line"]:
            detail = line["JournalEntryLineDetail"]
            account = mappings.gl_account(names[detail["AccountRef"]["value"]], entity)
            home = (Decimal(str(line["Amount"])) * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            out[str(account)] += home if detail["PostingType"] == "Debit" else -home
    return {k: v for k, v in out.items() if v}


def comparison(run_summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's staged trial-balance comparison (every entity, month and account row)."""
    from qbo_intacct.flows.staging import read_staged

    return read_staged(run_summary["tie_out"]["comparison"]).to_dict("records")
