"""What a task spent on each API, for the cost line of every run summary.

Finance pays Intacct per API transaction and QuickBooks caps requests per minute, so every run
says what it spent: QuickBooks requests by kind (reads, single writes, batch requests, token
refreshes) and Intacct requests, sessions opened and API transactions. The hooks count into one
tally per process (a task is one process, and its hooks may run in threads); the operators push
what their task spent as the ``api_calls`` XCom, and the flow's report task adds those up.

Counts are of HTTP attempts, retries included: a retried request is a request the API saw and
counted against the limits. Intacct API transactions are the hook's count from the responses
(every successful read call, every object written), an upper bound on the bill (see
:meth:`qbo_intacct.hooks.intacct.IntacctHook.usage`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping

#: The XCom key under which each task publishes what it spent.
XCOM_KEY = "api_calls"

Usage = dict[str, dict[str, int]]

_lock = threading.Lock()
_tally: Counter[tuple[str, str]] = Counter()

#: QuickBooks endpoint (the first word of the hook's endpoint label) -> kind of call.
_QBO_KINDS = {
    "query": "reads",
    "count": "reads",
    "cdc": "reads",
    "read": "reads",
    "report": "reads",
    "batch": "batch_requests",
    "create": "writes",
    "update": "writes",
    "delete": "writes",
    "void": "writes",
    "oauth": "token_refreshes",
}


def qbo_kind(endpoint: str) -> str:
    """The kind of a QuickBooks call from the hook's endpoint label (``query Customer``, ``batch x30``)."""
    return _QBO_KINDS.get(endpoint.split(" ", 1)[0], "other")


def count(system: str, kind: str, n: int = 1) -> None:
    """Add ``n`` calls of ``kind`` to this process's tally for ``system`` (``qbo`` or ``intacct``)."""
    if n:
        with _lock:
            _tally[(system, kind)] += n


def snapshot() -> Usage:
    """The tally so far, as ``{system: {kind: n}}``."""
    with _lock:
        items = list(_tally.items())
    out: Usage = {}
    for (system, kind), n in items:
        out.setdefault(system, {})[kind] = n
    return out


def since(before: Usage) -> Usage:
    """What was spent after ``before`` (a :func:`snapshot`), without the kinds that stayed at zero."""
    out: Usage = {}
    for system, kinds in snapshot().items():
        spent = {k: n - before.get(system, {}).get(k, 0) for k, n in kinds.items()}
        spent = {k: n for k, n in sorted(spent.items()) if n}
        if spent:
            out[system] = spent
    return out


def add_up(parts: Iterable[Mapping[str, Mapping[str, int]] | None]) -> Usage:
    """The sum of several tasks' usage (``None`` for tasks that made no call)."""
    total: Counter[tuple[str, str]] = Counter()
    for part in parts:
        for system, kinds in (part or {}).items():
            for kind, n in kinds.items():
                total[(system, kind)] += int(n)
    out: Usage = {}
    for (system, kind), n in sorted(total.items()):
        out.setdefault(system, {})[kind] = n
    return out


def calls(usage: Mapping[str, Mapping[str, int]], system: str) -> int:
    """Requests made to ``system`` (Intacct's API transactions and sessions are not requests)."""
    kinds = usage.get(system, {})
    if system == "intacct":
        return int(kinds.get("requests", 0))
    return sum(int(n) for n in kinds.values())


def render(usage: Mapping[str, Mapping[str, int]]) -> str:
    """One line for the run summary: what each system was asked, and what Intacct will bill."""
    qbo = usage.get("qbo", {})
    intacct = usage.get("intacct", {})
    qbo_parts = [
        f"{qbo[k]} {label}"
        for k, label in (
            ("reads", "reads"),
            ("writes", "single writes"),
            ("batch_requests", "batch requests"),
            ("token_refreshes", "token refreshes"),
            ("other", "other"),
        )
        if qbo.get(k)
    ]
    qbo_text = f"QuickBooks {calls(usage, 'qbo')} requests" + (f" ({', '.join(qbo_parts)})" if qbo_parts else "")
    intacct_text = (
        f"Intacct {calls(usage, 'intacct')} requests, {int(intacct.get('api_transactions', 0))} API transactions"
    )
    return f"API calls: {qbo_text}; {intacct_text}"
