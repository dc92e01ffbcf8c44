"""The review queue as finance meets it in the Airflow UI: one form per held record, in one run.

``qbo_intacct_review`` lists the open items (:func:`review_forms`) and maps a human-in-the-loop
task over them, so every held record gets its own form under **Browse -> Required Actions** and
finance answers as many as they like in one run. A form shows the record's name and key fields
from both systems, the reason in plain words, where to fix it, and the candidates with their names;
its buttons are exactly the choices that make sense for that item:

- ``Link to Intacct customer QB-10 "Acme Ltd"`` (one per candidate in the other system),
- ``Create new in Intacct``, ``Ignore: do not sync this customer``,
- ``Decide later`` (the default when nobody answers; the item stays open).

An answer arrives as ``{"chosen_options": [...], "params_input": {"note": ...}, "responded_by_user":
{...}}`` (the HITL task's XCom). :func:`apply_answers` records it on the ledger item; the flow's next
run carries it out. Decisions are final (the ledger refuses a different second answer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qbo_intacct.flows.review import MATCHING_REASONS, SYSTEM_NAMES, card_fields, card_label, explain, item_line
from qbo_intacct.ledger.models import ReviewItem
from qbo_intacct.ledger.repository import Ledger, LedgerError, ReviewRecord, ReviewStatus

DECIDE_LATER = "Decide later"
#: Forms per review run; more items wait for the next run (Airflow maps at most 1024 tasks anyway).
MAX_FORMS = 100


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


def _context(item: ReviewRecord) -> dict[str, Any]:
    """The item's context, rebuilt from its codes for items stored before the ledger kept one."""
    context = dict(item.context or {})
    context.setdefault("noun", "record")
    context.setdefault("record", {"system": item.record_system, "id": item.record_id, "name": None, "fields": {}})
    context.setdefault("candidates", [])
    if "reason" not in context:
        context["reason"], context["fix"] = explain(
            item.reason_code, flow=item.flow, record_system=item.record_system, detail=item.detail
        )
    return context


def choices_for(item: ReviewRecord) -> dict[str, tuple[str, str | None]]:
    """Button label -> (ledger decision, target id): only the choices that make sense for this item.

    A link is offered only to candidates in the other system, and only for a record of the flow's
    source system (QuickBooks for the QuickBooks-first flows), which is what the next run can apply.
    """
    context = _context(item)
    noun = context["noun"]
    other = "intacct" if item.record_system == "qbo" else "qbo"
    choices: dict[str, tuple[str, str | None]] = {}
    if item.reason_code in MATCHING_REASONS:
        if item.record_system == "qbo" and item.reason_code != "linked_target_missing":
            for card in context["candidates"]:
                if card.get("system") == other:
                    choices[f"Link to {card_label(card, noun)}"] = ("link", str(card["id"]))
        choices[f"Create new in {SYSTEM_NAMES[other]}"] = ("create", None)
    if item.reason_code == "bank_details_changed" and item.candidates:  # the vendors flow (issue 10)
        choices["Approve the new bank details (confirmed with the vendor)"] = ("link", str(item.candidates[0]))
    choices[f"Ignore: do not sync this {noun}"] = ("ignore", None)
    choices[DECIDE_LATER] = ("later", None)
    return choices


def _card_markdown(card: Mapping[str, Any], noun: str) -> list[str]:
    lines = [f"**In {SYSTEM_NAMES.get(card['system'], card['system'])}:** {card_label(card, noun)}"]
    lines += [f"- {label}: {value}" for label, value in card_fields(card)]
    return lines


def item_markdown(item: ReviewRecord) -> str:
    """The form's body (Markdown): the record on both sides, why it is held, where to fix it, candidates."""
    context = _context(item)
    noun = context["noun"]
    lines = [f"**{card_label(context['record'], noun)}** (review item {item.id}, flow {item.flow})", ""]
    lines += _card_markdown(context["record"], noun)
    if context.get("partner"):
        lines += ["", *_card_markdown(context["partner"], noun)]
    lines += ["", f"**Why it is held:** {context['reason']}", "", f"**Where to fix it:** {context['fix']}"]
    if context["candidates"]:
        lines += ["", "**Candidates:**"]
        for card in context["candidates"]:
            fields = "; ".join(f"{k} {v}" for k, v in card_fields(card))
            lines.append(f"- {card_label(card, noun)}" + (f" ({fields})" if fields else ""))
    lines += ["", f"Choose below. *{DECIDE_LATER}* keeps it open; the next {item.flow} run applies your answer."]
    return "\n".join(lines)


def item_subject(item: ReviewRecord) -> str:
    context = _context(item)
    subject = f"{card_label(context['record'], context['noun'])}: {context['reason']}"
    return subject if len(subject) <= 200 else subject[:197] + "..."


def review_forms(ledger: Ledger, limit: int = MAX_FORMS) -> dict[str, list[dict[str, Any]]]:
    """The HITL forms (``subject``, ``body``, ``options``, ``defaults``) and, in the same order, each
    form's item id and label -> decision table (what :func:`apply_answers` needs)."""
    forms: list[dict[str, Any]] = []
    choices: list[dict[str, Any]] = []
    for item in open_items(ledger)[:limit]:
        table = choices_for(item)
        forms.append(
            {
                "subject": item_subject(item),
                "body": item_markdown(item),
                "options": list(table),
                "defaults": [DECIDE_LATER],
            }
        )
        choices.append({"item_id": item.id, "decisions": {label: list(value) for label, value in table.items()}})
    return {"forms": forms, "choices": choices}


def review_rows(ledger: Ledger) -> list[dict[str, Any]]:
    """The open items as rows of the workbook's *Held for Review* sheet (same words as the forms)."""
    rows = []
    for item in open_items(ledger):
        context = _context(item)
        noun = context["noun"]
        rows.append(
            {
                "Item": item.id,
                "Flow": item.flow,
                "System": SYSTEM_NAMES.get(item.record_system, item.record_system),
                "Record Id": item.record_id,
                "Record": card_label(context["record"], noun),
                "Why it is held": context["reason"],
                "Where to fix it": context["fix"],
                "Candidates": "; ".join(card_label(c, noun) for c in context["candidates"]) or None,
                "Held since": item.opened_at.date().isoformat() if item.opened_at else None,
            }
        )
    return rows


def open_items_text(ledger: Ledger, limit: int = MAX_FORMS) -> str:
    """The open items, one line each (for the task log)."""
    items = open_items(ledger)
    if not items:
        return "No records are held for review."
    lines = [f"{len(items)} record(s) held for review; each has its own form under Browse -> Required Actions:"]
    lines += [f"- {item_line(item)}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"- ... {len(items) - limit} more: they get forms in the next review run")
    return "\n".join(lines)


def apply_answers(
    ledger: Ledger, choices: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any] | None]
) -> list[str]:
    """Record each form's answer (``answers[i]`` belongs to ``choices[i]``); returns a line per form.

    A form nobody answered, or answered *Decide later*, leaves its item open. An answer that cannot
    be recorded (an item decided differently in the meantime) is reported, and the others still count.
    """
    lines: list[str] = []
    problems: list[str] = []
    for choice, answer in zip(choices, answers, strict=True):
        item_id = int(choice["item_id"])
        if not answer or not answer.get("chosen_options"):
            lines.append(f"Review item {item_id}: no answer; it stays open.")
            continue
        label = str(answer["chosen_options"][0])
        decision, target = (choice["decisions"].get(label) or (None, None))[:2]
        if decision is None:
            problems.append(f"review item {item_id}: unknown choice {label!r}")
            continue
        if decision == "later":
            lines.append(f"Review item {item_id}: decide later; it stays open.")
            continue
        responder = answer.get("responded_by_user") or {}
        by = str(responder.get("name") or responder.get("id") or "airflow-ui")
        note = str((answer.get("params_input") or {}).get("note") or "").strip() or None
        try:
            item = ledger.resolve_review_item(item_id, decision=decision, by=by, target_id=target, note=note)
        except LedgerError as exc:
            problems.append(str(exc))
            continue
        lines.append(f"Review item {item_id} ({item_line(item)}) -> {label}, decided by {by}. "
                     f"The next {item.flow} run applies it.")  # fmt: skip
    if problems:
        raise ReviewAnswerError("; ".join(problems) + (" (recorded: " + " | ".join(lines) + ")" if lines else ""))
    return lines


#: The single-form answers of earlier versions (one item number per run), still accepted by :func:`apply_answer`.
DECISIONS = {"Link": "link", "Create new": "create", "Ignore": "ignore"}


def apply_answer(ledger: Ledger, answer: Mapping[str, Any] | None) -> str:
    """Record one answer naming its item (``params_input.review_item``) and, for Link, ``target_id``.

    Kept for callers (tests, scripts) that decide one item by number; the review DAG uses
    :func:`apply_answers` with one form per item.
    """
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
    choices = [{"item_id": item_id, "decisions": {choice: [decision, target if decision == "link" else None]}}]
    (line,) = apply_answers(ledger, choices, [answer])
    return line
