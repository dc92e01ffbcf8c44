"""Task bodies of ``qbo_intacct_customers``: read the Airflow context, call the flow, return paths and counts.

Kept apart from :mod:`qbo_intacct.flows.customers_sync` so the flow stays testable without a DAG
run; everything here is the glue a DAG file must not hold (Variables, params, the ledger, staging).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from qbo_intacct.flows import customers as cust
from qbo_intacct.flows import customers_sync as sync
from qbo_intacct.flows.runtime import DEFAULT_OVERLAP, Window, compute_window, last_window_end, staged_records
from qbo_intacct.flows.staging import read_staged

log = logging.getLogger(__name__)

OVERLAP_VARIABLE = "qbo_intacct_window_overlap_minutes"


def _mappings() -> Any:
    from qbo_intacct.mappings.loader import load_mappings, mapping_workbook_path

    return load_mappings(mapping_workbook_path())


def _ledger() -> Any:
    from qbo_intacct.ledger.repository import Ledger

    return Ledger.from_connection()


def _pattern() -> str:
    from airflow.sdk import Variable

    return Variable.get(cust.CUSTOMER_ID_PATTERN_VARIABLE, default=None) or cust.DEFAULT_CUSTOMER_ID_PATTERN


def prepare_run(context: Mapping[str, Any]) -> dict[str, Any]:
    """Check the workbook (a broken one fails here, before any read or write) and fix the run's window."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    from qbo_intacct.mappings.validate import MappingWorkbookError

    try:
        mappings = _mappings()
    except MappingWorkbookError as exc:
        raise AirflowFailException(str(exc)) from None
    from qbo_intacct.mappings.loader import report_gaps

    report_gaps(mappings, log)
    setting = mappings.flow(cust.FLOW)
    params = context.get("params") or {}
    ledger = _ledger()
    configured = Variable.get(OVERLAP_VARIABLE, default=None)
    overlap = dt.timedelta(minutes=int(configured)) if configured else DEFAULT_OVERLAP
    window = compute_window(
        last_window_end(ledger.engine, cust.FLOW),
        # Both APIs keep whole seconds: end on the next whole second so an edit saved in the same
        # second the run starts is read now (and, through the overlap, again next run: harmless).
        now=dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1),
        data_interval_start=context.get("data_interval_start"),
        overlap=overlap,
        full_refresh=bool(params.get("full_refresh")),
    )
    pattern = _pattern()
    cust.derive_customer_id("1", pattern)  # a bad pattern fails now, not after reading both systems
    log.info(
        "customers run: window %s -> %s%s; dry run %s; workbook %s",
        window.start.isoformat() if window.start else "(everything)",
        window.end.isoformat(),
        "" if window.start else " (first run or full refresh)",
        bool(params.get("dry_run")),
        mappings.path,
    )
    return {
        "window": window.as_xcom(),
        "dry_run": bool(params.get("dry_run")),
        "enabled": bool(setting and setting.enabled),
        "customer_id_pattern": pattern,
    }


def scope_step(qbo: Mapping[str, Any], intacct: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, Any]:
    return sync.scope(qbo, intacct, run["window"], _ledger(), _mappings())


def validate_step(
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    qbo: Sequence[Mapping[str, Any] | None],
    intacct: Sequence[Mapping[str, Any] | None],
    terms: Mapping[str, Any],
) -> dict[str, Any]:
    return sync.map_and_validate(
        run_id=context["run_id"],
        mappings=_mappings(),
        customer_id_pattern=run["customer_id_pattern"],
        qbo=qbo,
        intacct=intacct,
        qbo_terms=terms,
    )


def match_step(context: Mapping[str, Any], mapped: Mapping[str, Any]) -> dict[str, Any]:
    from qbo_intacct.flows.runtime import stage

    ledger = _ledger()
    matches = sync.match(
        read_staged(mapped["source"]),
        read_staged(mapped["target"]),
        ledger.links_frame(cust.FLOW),
        sync.decisions(ledger, _mappings(), "qbo"),
    )
    counts = matches["outcome"].astype(str).value_counts().to_dict()
    log.info("match outcomes: %s", counts)
    return {**stage(matches, flow=cust.FLOW, run_id=context["run_id"], name="matches"), "outcomes": counts}


def plan_step(
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    mapped: Mapping[str, Any],
    matches: Mapping[str, Any],
    terms: Mapping[str, Any],
    name_lists: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    ledger = _ledger()
    mappings = _mappings()
    source = read_staged(mapped["source"])
    names = [str(n) for n in source["name"] if isinstance(n, str)]
    for staged in name_lists:
        names += [str(r.get("DisplayName")) for r in staged_records(staged) if r.get("DisplayName")]
    return sync.plan(
        run_id=context["run_id"],
        mappings=mappings,
        source=source,
        target=read_staged(mapped["target"]),
        matches=read_staged(matches),
        links=ledger.links_frame(cust.FLOW),
        target_decisions=sync.decisions(ledger, mappings, "intacct"),
        qbo_terms=staged_records(terms),
        names_in_use=names,
        customer_id_pattern=run["customer_id_pattern"],
        dry_run=bool(run["dry_run"]),
    )


def held_lines(ledger: Any, flow: str) -> list[str]:
    """Every customer still held for review, by name, with the reason and where to fix it."""
    from qbo_intacct.flows.review import item_line
    from qbo_intacct.ledger.repository import ReviewStatus

    return [item_line(item) for item in ledger.review_items(flow, ReviewStatus.OPEN)]


def record_step(
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    mapped: Mapping[str, Any],
    planned: Mapping[str, Any],
    intacct_results: Mapping[str, Any] | None,
    qbo_results: Mapping[str, Any] | None,
    terms: Mapping[str, Any],
) -> dict[str, Any]:
    ledger = _ledger()
    mappings = _mappings()
    if not run["dry_run"]:
        sync.resolve_workbook_decisions(ledger, mappings)
    summary = sync.record(
        run_id=context["run_id"],
        ledger=ledger,
        plan_staged=planned["plan"],
        intacct_results=intacct_results,
        qbo_results=qbo_results,
        failures_staged=mapped["failures"],
        source_rows=int(mapped["source"]["rows"]),
        target_rows=int(mapped["target"]["rows"]),
        window_end=Window.from_xcom(run["window"]).end.isoformat(),
        dry_run=bool(run["dry_run"]),
        customer_id_pattern=run["customer_id_pattern"],
        terms=cust.TermLookup.build(staged_records(terms), mappings),
        source_staged=mapped["source"],
        target_staged=mapped["target"],
        mappings=mappings,
    )
    data = summary.as_dict()
    data["held"] = held_lines(ledger, cust.FLOW)
    data["read_qbo"] = int(mapped["source"]["rows"])
    data["read_intacct"] = int(mapped["target"]["rows"])
    data["window"] = run["window"]
    data["plan_path"] = planned["plan"]["path"]
    return data


def report_step(context: Mapping[str, Any], data: Mapping[str, Any], asset: Any) -> str:
    """Print the summary, write it for the demo and UI, and attach it to the asset event."""
    from qbo_intacct.flows.summary import RunSummary
    from qbo_intacct.summaries import write_summary

    fields = {k: data[k] for k in ("flow", "run_id", "dry_run", "read", "created", "updated", "skipped",
                                   "held_for_review", "failed", "reasons")}  # fmt: skip
    summary = RunSummary.from_dict(fields)
    window = data.get("window") or {}
    text = "\n".join(
        [
            summary.render(),
            f"  read from QuickBooks {data.get('read_qbo', 0)}, from Intacct {data.get('read_intacct', 0)}; "
            f"window {'everything' if not window.get('start') else window['start'] + ' -> ' + window['end']}",
        ]
    )
    held = list(data.get("held") or [])
    if held:
        text += (
            f"\n  open review items ({len(held)}; answer them in the qbo_intacct_review DAG "
            "or on the workbook's Record Links sheet):"
        )
        text += "".join(f"\n  - {line}" for line in held)
    print(text)
    counts = {k: v for k, v in data.items() if k != "held"}
    path = write_summary(context["dag"].dag_id, context["run_id"], text, {"summary": counts})
    outlet_events = context.get("outlet_events")
    if outlet_events is not None:
        outlet_events[asset].extra = {k: counts[k] for k in ("read", "created", "updated", "skipped",
                                                            "held_for_review", "failed", "dry_run")}  # fmt: skip
    return path
