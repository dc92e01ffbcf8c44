"""Sandbox counters -> calls by kind, records per write request, Intacct transactions.

The sandboxes count every request as ``"<endpoint> <operation> <status>"`` (QuickBooks: the entity
or ``query``/``batch``/``cdc``/``token``; Intacct: ``xmlgw`` and the first function's name) plus
named counters: QuickBooks ``writes`` (records written, batch items included); Intacct
``api_transactions`` (as Intacct bills them) and ``records_written``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

QBO_READS = frozenset({"query", "read", "cdc", "report"})
QBO_WRITES = frozenset({"create", "update", "delete", "void"})
INTACCT_READS = frozenset({"readByQuery", "readMore", "query", "read", "readByName", "getDimensions"})
AUTH = frozenset({"refresh", "revoke", "getAPISession"})


def _kind(system: str, endpoint: str, operation: str) -> str:
    if operation in AUTH or endpoint in ("token", "discovery"):
        return "auth"
    if system == "qbo":
        if operation == "batch":
            return "batch"
        if operation in QBO_READS:
            return "read"
        return "write" if operation in QBO_WRITES else "other"
    if operation in INTACCT_READS:
        return "read"
    if operation.split("_")[0] in ("create", "update", "delete", "reverse"):
        return "write"
    return "other"


def summarize(system: str, counters: dict[str, Any]) -> dict[str, Any]:
    """Figures for one system from its ``GET /_sandbox/counters`` answer."""
    kinds: Counter[str] = Counter()
    by_operation: Counter[str] = Counter()
    throttled = errors = 0
    for key, n in counters.get("requests", {}).items():
        endpoint, operation, status = key.split(" ", 2)
        if status == "429":
            throttled += n
            continue
        if not status.isdigit() or int(status) >= 400:
            errors += n
        kinds[_kind(system, endpoint, operation)] += n
        by_operation[f"{endpoint} {operation}" if system == "qbo" else operation] += n
    calls = sum(kinds.values())
    write_requests = kinds["write"] + kinds["batch"]
    records_written = int(counters.get("writes" if system == "qbo" else "records_written", 0))
    figures: dict[str, Any] = {
        "calls": calls,
        "reads": kinds["read"],
        "writes": kinds["write"],
        "batch_requests": kinds["batch"],
        "auth": kinds["auth"],
        "other": kinds["other"],
        "throttled": throttled,
        "errors": errors,
        "records_written": records_written,
        "records_per_write_request": round(records_written / write_requests, 2) if write_requests else None,
        "by_operation": dict(sorted(by_operation.items())),
    }
    if system == "intacct":
        transactions = int(counters.get("api_transactions", 0))
        figures["api_transactions"] = transactions
        figures["transactions_per_record_written"] = (
            round(transactions / records_written, 3) if records_written else None
        )
    return figures
