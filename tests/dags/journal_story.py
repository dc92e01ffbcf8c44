"""Helpers the journal entries DAG stories share: Intacct's GL as the documented reads give it, the
workbook edits finance makes, and QuickBooks edits through the hook (all over real HTTP)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

REFERENCE_PREFIX = "QBO-JE-"


def intacct() -> Any:
    from qbo_intacct.hooks.intacct import IntacctHook

    return IntacctHook()


def qbo() -> Any:
    from qbo_intacct.hooks.quickbooks import QuickBooksHook

    return QuickBooksHook()


def ledger() -> Any:
    from qbo_intacct.ledger.repository import Ledger

    return Ledger.from_connection()


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
    from qbo_intacct.hooks.intacct import IntacctFunction

    payload = {"startdate": start, "enddate": end, "showzerobalances": "false", "locationid": entity}
    (result,) = intacct().run_functions(
        [IntacctFunction("get_trialbalance", payload, f"test-tb:{uuid.uuid4()}")], entity_id=""
    )
    assert result.ok, result.errors
    out: dict[str, Decimal] = {}
    for row in result.records:
        out[str(row["glaccountno"])] = Decimal(str(row["debits"])) - Decimal(str(row["credits"]))
    return out


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
