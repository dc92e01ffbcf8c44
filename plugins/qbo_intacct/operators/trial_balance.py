"""Reads for the trial-balance tie-out (:mod:`qbo_intacct.flows.trial_balance`): the systems' reports
as frames, money as ``Decimal`` (debit positive). Each helper takes a hook, so a caller (a task of
the journal entries DAG, the period-end reconciliation) reuses its hooks, sessions and tokens.

- :func:`read_qbo_trial_balance`: QuickBooks ``TrialBalance`` for ``start_date``..``end_date``
  (one request): ``qbo_account_id, qbo_account, amount`` (debit minus credit, home currency).
  The period's activity, as the sandbox serves it (transactions dated in the range); QuickBooks
  documents the two dates, not whether balance-sheet accounts carry their opening balance, so a
  caller comparing with Intacct's period activity asks for the same range on both sides.
- :func:`read_qbo_postings_by_type`: QuickBooks ``GeneralLedger`` for the same range (one request),
  the period's postings summed per account and transaction type: ``qbo_account_id, qbo_account,
  txn_type, amount``. It tells what of an account's balance a flow is responsible for (journal
  entries) and what other transactions posted (invoices, bills, payments).
- :func:`read_intacct_trial_balance`: Intacct ``get_trialbalance`` for one entity and range (one
  function): ``entity, account, amount`` (debits minus credits, adjustments included).
- :func:`read_intacct_batches`: this flow's GLBATCHes (``REFERENCENO`` prefix) in one entity and
  range, with their lines: ``entity, account, amount, reference, date`` (one query, reads of 100).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from qbo_intacct.flows.trial_balance import INTACCT_COLUMNS, frame

QBO_TB_COLUMNS = ("qbo_account_id", "qbo_account", "amount")
QBO_POSTING_COLUMNS = ("qbo_account_id", "qbo_account", "txn_type", "amount")
BATCH_COLUMNS = ("entity", "account", "amount", "reference", "date")


def _money(cell: Mapping[str, Any] | None) -> Decimal:
    text = str((cell or {}).get("value") or "").replace(",", "").strip()
    return Decimal(text) if text else Decimal(0)


def _rows(rows: Any) -> Iterator[Mapping[str, Any]]:
    """Rows of a Reports API ``Rows`` block, sections included (``type`` may be absent: F7)."""
    yield from (rows or {}).get("Row") or []


def _data_rows(rows: Any, account: tuple[str, str] | None = None) -> Iterator[tuple[tuple[str, str] | None, Any]]:
    """Leaf rows with the account of the nearest section header that names one (GeneralLedger)."""
    for row in _rows(rows):
        if "ColData" in row:
            yield account, row["ColData"]
        header = ((row.get("Header") or {}).get("ColData") or [{}])[0]
        here = (str(header.get("id")), str(header.get("value"))) if header.get("id") else account
        if "Rows" in row:
            yield from _data_rows(row["Rows"], here)


def read_qbo_trial_balance(hook: Any, start: dt.date, end: dt.date) -> pd.DataFrame:
    """QuickBooks' TrialBalance report for the range: one row per account with a balance."""
    report = hook.report("TrialBalance", start_date=start, end_date=end, accounting_method="Accrual")
    out = []
    for _, cells in _data_rows(report.get("Rows")):
        account = cells[0] if cells else {}
        if not account.get("id"):  # the TOTAL line and section summaries
            continue
        amount = _money(cells[1] if len(cells) > 1 else None) - _money(cells[2] if len(cells) > 2 else None)
        out.append({"qbo_account_id": str(account["id"]), "qbo_account": str(account.get("value")), "amount": amount})
    return frame(out, QBO_TB_COLUMNS)


def read_qbo_postings_by_type(hook: Any, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The GeneralLedger report's postings in the range, summed per account and transaction type."""
    report = hook.report("GeneralLedger", start_date=start, end_date=end, accounting_method="Accrual")
    keys = [
        next((m.get("Value") for m in column.get("MetaData") or [] if m.get("Name") == "ColKey"), None)
        for column in (report.get("Columns") or {}).get("Column") or []
    ]
    kind, amount_at = keys.index("txn_type"), keys.index("subt_nat_amount")
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for account, cells in _data_rows(report.get("Rows")):
        txn_type = str(cells[kind].get("value") or "") if len(cells) > kind else ""
        if account is None or not txn_type:  # "Beginning Balance" rows carry no transaction type
            continue
        sums[(account[0], account[1], txn_type)] += _money(cells[amount_at] if len(cells) > amount_at else None)
    out = [{"qbo_account_id": i, "qbo_account": n, "txn_type": t, "amount": v} for (i, n, t), v in sorted(sums.items())]
    return frame(out, QBO_POSTING_COLUMNS)


def read_intacct_trial_balance(hook: Any, entity: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Intacct's get_trialbalance for one entity: the period's debits minus credits per account."""
    out = []
    for row in hook.trial_balance(start, end, entity_id=entity):
        amount = row["debits"] - row["credits"] + row["adjdebits"] - row["adjcredits"]
        if amount:
            out.append({"entity": entity, "account": row["glaccountno"], "amount": amount})
    return frame(out, INTACCT_COLUMNS)


def _glentries(batch: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = batch.get("ENTRIES") or {}
    lines = entries.get("glentry") or entries.get("GLENTRY") or [] if isinstance(entries, Mapping) else entries
    return [lines] if isinstance(lines, Mapping) else list(lines)


def read_intacct_batches(hook: Any, entity: str, start: dt.date, end: dt.date, reference_prefix: str) -> pd.DataFrame:
    """GLBATCHes dated in the range whose REFERENCENO starts with ``reference_prefix``, line by line
    (base-currency ``AMOUNT``, signed by ``TR_TYPE``)."""
    from qbo_intacct.hooks.intacct import Filter

    flt = Filter.all_of(
        Filter.like("REFERENCENO", f"{reference_prefix}%"),
        Filter.at_least("BATCH_DATE", start),
        Filter.at_most("BATCH_DATE", end),
    )
    recnos = [str(r["RECORDNO"]) for r in hook.iter_query("GLBATCH", ["RECORDNO"], flt, entity_id=entity)]
    out = []
    for at in range(0, len(recnos), 100):
        for batch in hook.read("GLBATCH", recnos[at : at + 100], entity_id=entity):
            if batch.get("STATE") == "Draft":
                continue  # a draft posts nothing
            for line in _glentries(batch):
                sign = 1 if str(line.get("TR_TYPE")) == "1" else -1
                amount = Decimal(str(line.get("AMOUNT") or line.get("TRX_AMOUNT") or 0))
                out.append({"entity": entity, "account": str(line.get("ACCOUNTNO")), "amount": sign * amount,
                            "reference": str(batch.get("REFERENCENO")),
                            "date": str(batch.get("BATCH_DATE"))[:10]})  # fmt: skip
    return frame(out, BATCH_COLUMNS)
