"""Compare the two systems' documents record by record and explain every difference.

Matching, in this order (each step only among records the previous steps left unpaired):

1. the sync ledger's links (``Invoice:17`` -> ``ARINVOICE:123``);
2. the Intacct document's ``EXTERNALID = qbo:<Entity>:<Id>`` (the sync's own mark, which survives a
   lost ledger);
3. the natural key: document number and party (the Intacct party the customers/vendors flows
   linked the QuickBooks party to, else the party's name, case and spacing ignored).

A second Intacct document on the same QuickBooks document (same link key, external id or natural
key), or a second QuickBooks document with the same number and party, is a *duplicate*. What stays
unpaired is *missing* on the other side, except Intacct documents that never came from QuickBooks
(no external id, no link, no natural key match): those are Intacct's own business and are counted,
not compared.

A pair is compared field by field and each difference is one row of its own type: currency or
exchange rate (beyond the tolerance), amount, status (paid vs open: same total, different open
balance), date (and whether it moved into another period). Every step is a dictionary look-up per
record: linear in the number of records.

Amounts are ``Decimal`` throughout; nothing here is float.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from qbo_intacct.reconciliation.checks import Check
from qbo_intacct.reconciliation.read import ZERO, Period

MISSING_IN_INTACCT = "Missing in Intacct"
MISSING_IN_QBO = "Missing in QuickBooks"
AMOUNT = "Amount differs"
STATUS = "Status differs"
DATE = "Date or period differs"
DUPLICATE = "Duplicate"
CURRENCY = "Currency or rate differs"
BALANCE = "Open balance differs"
TRIAL_BALANCE = "Trial balance differs"
TYPES: tuple[str, ...] = (
    MISSING_IN_INTACCT,
    MISSING_IN_QBO,
    AMOUNT,
    STATUS,
    DATE,
    DUPLICATE,
    CURRENCY,
    BALANCE,
    TRIAL_BALANCE,
)

DISCREPANCY_COLUMNS: tuple[str, ...] = (
    "type",
    "check",
    "entity",
    "currency",
    "qbo_number",
    "qbo_party",
    "qbo_date",
    "qbo_amount",
    "intacct_number",
    "intacct_party",
    "intacct_date",
    "intacct_amount",
    "difference",
    "explanation",
    "where_to_fix",
    "qbo_record",
    "intacct_record",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "check",
    "measure",
    "entity",
    "currency",
    "qbo_count",
    "intacct_count",
    "qbo",
    "intacct",
    "difference",
    "discrepancies",
    "status",
)
DEFAULT_RATE_TOLERANCE = Decimal("0.0001")
_SPACE = re.compile(r"\s+")
_NOUNS = {
    "Invoice": "invoice",
    "CreditMemo": "credit memo",
    "Payment": "payment",
    "Bill": "bill",
    "BillPayment": "bill payment",
}


@dataclass
class CheckResult:
    """One check's outcome: the discrepancies and the per entity/currency summary rows."""

    check: Check
    discrepancies: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    compared: int = 0
    intacct_own: int = 0
    balances: list[dict[str, Any]] = field(default_factory=list)  # per party: entity, currency, party, qbo, intacct


def norm(text: str) -> str:
    return _SPACE.sub(" ", str(text or "")).strip().casefold()


def _fmt(amount: Decimal | None, currency: str = "") -> str:
    if amount is None:
        return ""
    return f"{currency} {amount:,.2f}".strip()


def _label(record_id: str) -> str:
    kind, _, rid = record_id.partition(":")
    return f"{kind} {rid}" if rid else record_id


@dataclass
class _Ctx:
    check: Check
    period: Period
    tolerance: Decimal
    home_currency: str
    held: Mapping[str, str]
    result: CheckResult

    @property
    def noun(self) -> str:
        return _NOUNS.get(self.check.qbo_entity, self.check.qbo_entity.lower())

    def qname(self, q: Mapping[str, Any]) -> str:
        return f"QuickBooks {self.noun} {q['number'] or '(no number)'} ({q['party']})"

    def iname(self, i: Mapping[str, Any]) -> str:
        return f"Intacct {self.check.intacct_object} {i['number'] or '(no number)'} ({i['party']})"

    def add(
        self,
        kind: str,
        q: Mapping[str, Any] | None,
        i: Mapping[str, Any] | None,
        difference: Decimal | None,
        explanation: str,
        fix: str,
        *,
        amounts: tuple[Decimal | None, Decimal | None] | None = None,
    ) -> None:
        qa, ia = amounts if amounts is not None else (q["total"] if q else None, i["total"] if i else None)
        self.result.discrepancies.append(
            {
                "type": kind,
                "check": self.check.title,
                "entity": (i or {}).get("entity") or (q or {}).get("entity") or "",
                "currency": (q or i or {}).get("currency", ""),
                "qbo_number": q["number"] if q else "",
                "qbo_party": q["party"] if q else "",
                "qbo_date": q["date"] if q else "",
                "qbo_amount": qa,
                "intacct_number": i["number"] if i else "",
                "intacct_party": i["party"] if i else "",
                "intacct_date": i["date"] if i else "",
                "intacct_amount": ia,
                "difference": difference,
                "explanation": explanation,
                "where_to_fix": fix,
                "qbo_record": _label(q["record_id"]) if q else "",
                "intacct_record": _label(i["record_id"]) if i else "",
            }
        )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records") if len(frame) else []


def _in_period(row: Mapping[str, Any], period: Period) -> bool:
    return period.start.isoformat() <= str(row["date"]) <= period.end.isoformat()


def match(
    qbo: list[dict[str, Any]],
    intacct: list[dict[str, Any]],
    links: Iterable[tuple[str, str]],
    party_map: Mapping[str, str],
) -> tuple[list[tuple[dict, dict]], list[tuple[dict, dict, str]], list[tuple[dict, dict, str]]]:
    """Pair records; return (pairs, Intacct duplicates (dup, its QuickBooks record, how), QuickBooks duplicates)."""
    q_by_id = {q["record_id"]: q for q in qbo}
    i_by_id = {i["record_id"]: i for i in intacct}
    paired_q: dict[str, dict] = {}  # qbo record id -> intacct row
    paired_i: set[str] = set()
    dup_i: list[tuple[dict, dict, str]] = []
    dup_q: list[tuple[dict, dict, str]] = []

    def pair(q: dict, i: dict) -> None:
        paired_q[q["record_id"]] = i
        paired_i.add(i["record_id"])

    for qid, iid in links:
        if qid in q_by_id and iid in i_by_id and qid not in paired_q and iid not in paired_i:
            pair(q_by_id[qid], i_by_id[iid])
    for i in intacct:
        ref = i["ref"]
        if not ref or i["record_id"] in paired_i or ref not in q_by_id:
            continue
        q = q_by_id[ref]
        if q["record_id"] in paired_q:
            dup_i.append((i, q, f"it carries the same QuickBooks reference ({ref}) as {paired_q[ref]['number']}"))
            paired_i.add(i["record_id"])
        else:
            pair(q, i)

    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for i in intacct:
        if i["number"]:
            by_key[(norm(i["number"]), "id:" + i["party_id"])].append(i)
            by_key[(norm(i["number"]), "name:" + norm(i["party"]))].append(i)
    seen_q: dict[tuple[str, str], dict] = {}
    for q in qbo:
        if not q["number"]:
            continue
        linked_party = party_map.get(q["party_id"])
        keys = ([(norm(q["number"]), "id:" + linked_party)] if linked_party else []) + [
            (norm(q["number"]), "name:" + norm(q["party"]))
        ]
        own_key = keys[-1]
        if q["in_window"] and own_key in seen_q and q["record_id"] not in paired_q:
            dup_q.append((q, seen_q[own_key], "same number and customer/vendor as another QuickBooks document"))
            continue
        seen_q.setdefault(own_key, q)
        candidates = [i for key in keys for i in by_key.get(key, ()) if i["record_id"] not in paired_i]
        candidates = list({i["record_id"]: i for i in candidates}.values())
        if not candidates:
            continue
        if q["record_id"] not in paired_q:
            pair(q, candidates.pop(0))
        for extra in candidates:
            if not extra["ref"] or extra["ref"] == q["record_id"]:
                dup_i.append((extra, q, "same number and customer/vendor"))
                paired_i.add(extra["record_id"])
    pairs = [(q_by_id[qid], i) for qid, i in paired_q.items()]
    return pairs, dup_i, dup_q


def compare_check(
    check: Check,
    qbo: pd.DataFrame,
    intacct: pd.DataFrame,
    *,
    period: Period,
    links: Iterable[tuple[str, str]] = (),
    party_map: Mapping[str, str] | None = None,
    held: Mapping[str, str] | None = None,
    rate_tolerance: Decimal = DEFAULT_RATE_TOLERANCE,
    home_currency: str = "USD",
) -> CheckResult:
    """Compare one check's documents; ``held`` maps a QuickBooks record id to its open review item's reason."""
    result = CheckResult(check)
    ctx = _Ctx(check, period, rate_tolerance, home_currency, held or {}, result)
    q_rows, i_rows = _records(qbo), _records(intacct)
    pairs, dup_i, dup_q = match(q_rows, i_rows, links, party_map or {})
    paired_q = {q["record_id"] for q, _ in pairs}
    paired_i = {i["record_id"] for _, i in pairs} | {d["record_id"] for d, _, _ in dup_i}
    dup_q_ids = {q["record_id"] for q, _, _ in dup_q}

    for q, i in pairs:
        if _in_period(q, period) or _in_period(i, period):
            result.compared += 1
            _compare_pair(ctx, q, i)
    for i, q, how in dup_i:
        if _in_period(i, period) or _in_period(q, period):
            ctx.add(
                DUPLICATE,
                q,
                i,
                i["total"],
                f"{ctx.iname(i)} duplicates {ctx.qname(q)}: {how}. QuickBooks has it once; Intacct counts it twice.",
                f"Intacct: reverse or delete {check.intacct_object} {i['number']} (record {i['record_id']}) "
                "after checking which one is paid.",
            )
    for q, first, how in dup_q:
        ctx.add(
            DUPLICATE,
            q,
            None,
            q["total"],
            f"{ctx.qname(q)} has the {how} ({first['record_id']}, dated {first['date']}).",
            f"QuickBooks: void or renumber one of the two {ctx.noun}s numbered {q['number']}.",
        )
    for q in q_rows:
        if q["record_id"] in paired_q or q["record_id"] in dup_q_ids or not q["in_window"]:
            continue
        reason = ctx.held.get(q["record_id"])
        why = (
            f"it is held for review: {reason}"
            if reason
            else "the sync has not written it (its flow has not run for it yet, or it was skipped)"
        )
        ctx.add(
            MISSING_IN_INTACCT,
            q,
            None,
            q["total"],
            f"{ctx.qname(q)} dated {q['date']} for {_fmt(q['total'], q['currency'])} has no Intacct "
            f"{check.intacct_object}: {why}.",
            "See the Open review items sheet"
            if reason
            else f"Run the {check.flow} sync, or post it in Intacct with number {q['number']}.",
        )
    for i in i_rows:
        if i["record_id"] in paired_i or not i["in_window"]:
            continue
        if not i["ref"]:
            result.intacct_own += 1
            continue
        ctx.add(
            MISSING_IN_QBO,
            None,
            i,
            -i["total"],
            f"{ctx.iname(i)} dated {i['date']} for {_fmt(i['total'], i['currency'])} came from QuickBooks "
            f"({i['ref']}), which no longer has that {ctx.noun}: deleted or voided there after the sync.",
            f"Intacct: reverse {check.intacct_object} {i['number']} if QuickBooks is right, or re-enter it in "
            "QuickBooks.",
        )
    _summarise(ctx, pairs, q_rows, i_rows, paired_i)
    return result


def _compare_pair(ctx: _Ctx, q: dict, i: dict) -> None:
    qn, inn = ctx.qname(q), ctx.iname(i)
    if q["currency"] != i["currency"]:
        ctx.add(
            CURRENCY,
            q,
            i,
            None,
            f"{qn} is in {q['currency']}, {inn} in {i['currency']}.",
            f"Intacct: correct the currency of {ctx.check.intacct_object} {i['number']}.",
        )
    elif i["base"] == ctx.home_currency and abs(q["rate"] - i["rate"]) > ctx.tolerance:
        ctx.add(
            CURRENCY,
            q,
            i,
            q["rate"] - i["rate"],
            f"{qn} uses exchange rate {q['rate']}, Intacct {i['rate']}: more than the tolerance {ctx.tolerance} apart.",
            "Check the rate on both documents; the one that differs from the rate of the day is wrong.",
            amounts=(q["rate"], i["rate"]),
        )
    if q["total"] != i["total"]:
        ctx.add(
            AMOUNT,
            q,
            i,
            q["total"] - i["total"],
            f"{qn} totals {_fmt(q['total'], q['currency'])}, Intacct {_fmt(i['total'], i['currency'])}.",
            f"Find the line that differs on QuickBooks {ctx.noun} {q['number']} and Intacct "
            f"{ctx.check.intacct_object} {i['number']}; the sync applies QuickBooks edits on its next run.",
        )
    elif q["open"] != i["open"]:
        ctx.add(
            STATUS,
            q,
            i,
            q["open"] - i["open"],
            f"{qn} is {_status(q)} (open {_fmt(q['open'], q['currency'])}), Intacct is {_status(i)} "
            f"(open {_fmt(i['open'], i['currency'])}).",
            "A payment or application is in one system only: see the payments checks.",
            amounts=(q["open"], i["open"]),
        )
    if q["date"] != i["date"]:
        moved = q["date"][:7] != i["date"][:7]
        ctx.add(
            DATE,
            q,
            i,
            None,
            f"{qn} is dated {q['date']}, Intacct {i['date']}"
            + (": they fall in different periods." if moved else " (same period)."),
            "Correct the date in the system that is wrong; a closed period needs finance's decision.",
        )


def _status(row: Mapping[str, Any]) -> str:
    if row["open"] == ZERO:
        return "paid" if row["total"] != ZERO else "settled"
    if row["open"] == row["total"]:
        return "open"
    return "partly paid"


def _summarise(
    ctx: _Ctx, pairs: list[tuple[dict, dict]], q_rows: list[dict], i_rows: list[dict], paired_i: set[str]
) -> None:
    """Per entity and currency: counts and totals on each side, in the period, and open balances at its end."""
    entity_of = {q["record_id"]: i["entity"] for q, i in pairs}
    period, end = ctx.period, ctx.period.end.isoformat()
    measures: list[tuple[str, str]] = [("count and total", "total")]
    if ctx.check.kind == "payment":
        measures += [("applied", "paid"), ("unapplied", "open")]
    else:
        measures.append(("open balance at period end", "open"))
    buckets: dict[tuple[str, str, str], dict[str, Any]] = {}

    def bucket(measure: str, entity: str, currency: str) -> dict[str, Any]:
        return buckets.setdefault(
            (measure, entity or "(no entity)", currency),
            {"qbo_count": 0, "intacct_count": 0, "qbo": ZERO, "intacct": ZERO},
        )

    in_scope_i = [i for i in i_rows if i["record_id"] in paired_i or i["ref"]]
    for side, rows in (("qbo", q_rows), ("intacct", in_scope_i)):
        for row in rows:
            entity = row["entity"] if side == "intacct" else entity_of.get(row["record_id"], row["entity"])
            for measure, column in measures:
                at_end = measure.startswith("open balance")
                if (at_end and row["date"] <= end) or (not at_end and _in_period(row, period)):
                    b = bucket(measure, entity, row["currency"])
                    b[f"{side}_count"] += 1
                    b[side] += row[column]
    by_bucket: dict[tuple[str, str], int] = defaultdict(int)
    for d in ctx.result.discrepancies:
        by_bucket[(d["entity"] or "(no entity)", d["currency"])] += 1
    for (measure, entity, currency), b in sorted(buckets.items()):
        n = by_bucket.get((entity, currency), 0)
        diff = b["qbo"] - b["intacct"]
        ok = diff == ZERO and (measure != "count and total" or b["qbo_count"] == b["intacct_count"]) and n == 0
        ctx.result.summary.append(
            {
                "check": ctx.check.title,
                "measure": measure,
                "entity": entity,
                "currency": currency,
                **b,
                "difference": diff,
                "discrepancies": n,
                "status": "Pass" if ok else "Fail",
            }
        )
    if ctx.check.kind == "document":
        party_totals: dict[tuple[str, str, str], list[Decimal]] = {}
        label = {q["record_id"]: q["party"] for q in q_rows}
        for q, i in pairs:
            label[i["record_id"]] = q["party"]
        for side, rows in ((0, q_rows), (1, in_scope_i)):
            for row in rows:
                if row["date"] > end:
                    continue
                entity = row["entity"] if side else entity_of.get(row["record_id"], row["entity"])
                key = (entity or "(no entity)", row["currency"], label.get(row["record_id"], row["party"]))
                party_totals.setdefault(key, [ZERO, ZERO])[side] += row["open"]
        ctx.result.balances = [
            {"entity": e, "currency": c, "party": p, "qbo": v[0], "intacct": v[1]}
            for (e, c, p), v in sorted(party_totals.items())
        ]


def balance_discrepancies(title: str, party_kind: str, results: Iterable[CheckResult]) -> list[dict[str, Any]]:
    """AR or AP open balances at period end by customer or vendor, over the given checks' documents."""
    totals: dict[tuple[str, str, str], list[Decimal]] = {}
    for result in results:
        sign = -1 if result.check.qbo_entity == "CreditMemo" else 1
        for row in result.balances:
            key = (row["entity"], row["currency"], row["party"])
            acc = totals.setdefault(key, [ZERO, ZERO])
            acc[0] += sign * row["qbo"]
            acc[1] += sign * row["intacct"]
    out = []
    for (entity, currency, party), (qbo, intacct) in sorted(totals.items()):
        if qbo == intacct:
            continue
        out.append(
            {
                "type": BALANCE,
                "check": title,
                "entity": entity,
                "currency": currency,
                "qbo_number": "",
                "qbo_party": party,
                "qbo_date": "",
                "qbo_amount": qbo,
                "intacct_number": "",
                "intacct_party": party,
                "intacct_date": "",
                "intacct_amount": intacct,
                "difference": qbo - intacct,
                "explanation": f"{party_kind} {party} owes {_fmt(qbo, currency)} in QuickBooks and "
                f"{_fmt(intacct, currency)} in Intacct at period end (documents dated through the period end).",
                "where_to_fix": "The document rows for this party on the other sheets explain the difference.",
                "qbo_record": "",
                "intacct_record": "",
            }
        )
    return out


def discrepancy_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(DISCREPANCY_COLUMNS))


def summary_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
