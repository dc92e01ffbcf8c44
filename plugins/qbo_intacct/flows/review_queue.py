"""The review queue as finance sees it in the Airflow UI: the open items, and applying one answer.

An answer comes from the ``review_decision`` human-in-the-loop task as
``{"chosen_options": ["Link"], "params_input": {"review_item": 7, "target_id": "C-10021", ...},
"responded_by_user": {...}}``. It is recorded on the ledger item; the flow's next run applies it.
Decisions are final (the ledger refuses a different second answer for the same item).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbo_intacct.ledger.models import ReviewItem
from qbo_intacct.ledger.repository import Ledger, LedgerError, ReviewRecord, ReviewStatus

DECISIONS = {"Link": "link", "Create new": "create", "Ignore": "ignore"}
SYSTEM_NAMES = {"qbo": "QuickBooks", "intacct": "Intacct"}


class ReviewAnswerError(ValueError):
    """The answer cannot be recorded; the message says what to correct."""


def open_items(ledger: Ledger) -> list[ReviewRecord]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(ledger.engine) as session:
        rows = session.scalars(
            select(ReviewItem).where(ReviewItem.status == ReviewStatus.OPEN.value).order_by(ReviewItem.id)
        ).all()
        return [ReviewRecord.from_row(r) for r in rows]


def open_items_markdown(ledger: Ledger, limit: int = 200) -> str:
    """A Markdown table of open items (ids, reasons and candidate ids only; no amounts)."""
    items = open_items(ledger)
    if not items:
        return "No records are held for review."
    lines = [
        f"**{len(items)} record(s) held for review.** Enter the item number and choose a decision.",
        "",
        "| Item | Flow | Record | Reason | Candidates |",
        "|---:|---|---|---|---|",
    ]
    for item in items[:limit]:
        candidates = ", ".join(item.candidates) or "-"
        record = f"{SYSTEM_NAMES.get(item.record_system, item.record_system)} {item.record_id}"
        lines.append(f"| {item.id} | {item.flow} | {record} | {item.reason_code} | {candidates} |")
    if len(items) > limit:
        lines.append(f"| ... | {len(items) - limit} more | | | |")
    return "\n".join(lines)


def apply_answer(ledger: Ledger, answer: Mapping[str, Any] | None) -> str:
    """Record one answer; returns the line for the log and the run summary."""
    if not answer or not answer.get("chosen_options"):
        return "No answer was given; nothing changed."
    choice = str(answer["chosen_options"][0])
    decision = DECISIONS.get(choice)
    if decision is None:
        raise ReviewAnswerError(f"unknown decision {choice!r}; choose one of {', '.join(DECISIONS)}")
    params = answer.get("params_input") or {}
    try:
        item_id = int(params.get("review_item"))
    except (TypeError, ValueError):
        raise ReviewAnswerError("enter the review item number from the list") from None
    target = str(params.get("target_id") or "").strip() or None
    if decision == "link" and not target:
        raise ReviewAnswerError(f"item {item_id}: Link needs the id of the record in the other system")
    if decision != "link":
        target = None
    responder = answer.get("responded_by_user") or {}
    by = str(responder.get("name") or responder.get("id") or "airflow-ui")
    try:
        item = ledger.resolve_review_item(
            item_id, decision=decision, by=by, target_id=target, note=str(params.get("note") or "") or None
        )
    except LedgerError as exc:
        raise ReviewAnswerError(str(exc)) from None
    shown = f" -> {target}" if target else ""
    return (
        f"Review item {item.id} ({item.flow}, {SYSTEM_NAMES.get(item.record_system, item.record_system)} "
        f"{item.record_id}): {choice}{shown}, decided by {by}. The next {item.flow} run applies it."
    )
