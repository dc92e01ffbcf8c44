"""benchmarks.json (every flow and scale measured so far) and BENCHMARKS.md rendered from it.

The JSON keeps each flow's result per scale, with the date, machine and settings of the run that
produced it, so a run at one scale refreshes that scale and keeps the others (the growth between
scales needs them). The Markdown is generated from the JSON alone; never edit it by hand.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from bench.limits import INTACCT_MONTHLY_ALLOWANCE, RUNS_PER_MONTH_15_MIN, monthly_transactions

SCENARIO_TITLES = {
    "first": "first sync",
    "unchanged": "unchanged rerun",
    "changed": "rerun after 1% changed",
    "baseline": "naive baseline",
}
#: The scale whose volume the monthly forecast uses (the demo group), when it was measured.
FORECAST_SCALE = "demo"


def merge(path: Path, result: dict[str, Any], notes: list[str] | None = None) -> dict[str, Any]:
    """Add one scale's result to what ``path`` holds (the same flow and scale is replaced); ``notes``
    (sentences about the run, e.g. that the machine was shared) are added to the ones kept."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("flows", {})
    if notes:
        data["notes"] = list(dict.fromkeys([*data.get("notes", []), *notes]))
    for dag_id, flow_result in result["flows"].items():
        entry = {**flow_result, "date": result["date"], "machine": result["machine"], "settings": result["settings"]}
        data["flows"].setdefault(dag_id, {})[flow_result["scale"]] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


# ----------------------------------------------------------------------------------- helpers


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and digits == 0):
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def _times(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "-"
    return f"{a / b:.2f}x"


def _scales(per_scale: dict[str, Any]) -> list[str]:
    """Scales ordered by the books' size (QuickBooks invoices)."""
    return sorted(per_scale, key=lambda s: (per_scale[s].get("invoices", 0), s))


def _calls(side: dict[str, Any]) -> str:
    parts = [f"{side['calls']:,}", f"({side['reads']:,} r / {side['writes']:,} w"]
    if side.get("batch_requests"):
        parts[-1] += f" / {side['batch_requests']:,} batch"
    return " ".join(parts) + ")"


def _records_read(m: dict[str, Any]) -> Any:
    """Records the run read, as its own summary states them (the baseline: the records it visited)."""
    if "records_visited" in m:
        return m["records_visited"]
    return (m.get("product_summary") or {}).get("summary", {}).get("read")


def _changed_records(m: dict[str, Any]) -> int:
    return int(m["qbo"]["records_written"]) + int(m["intacct"]["records_written"])


# ----------------------------------------------------------------------------------- sections


def _scale_section(dag_id: str, scale: str, r: dict[str, Any]) -> list[str]:
    s = r["scenarios"]
    settings = r["settings"]
    machine = r["machine"]
    records = r["records"]
    lines = [
        f"### {dag_id} at scale {scale}",
        "",
        f"{r['invoices']:,} QuickBooks invoices in the books; the flow's records: {records['qbo']:,} in QuickBooks, "
        f"{records['intacct']:,} in Intacct. Measured {r['date']}, medians of {settings['runs']} runs; latency "
        f"{settings['qbo_latency_ms']} ms per QuickBooks call, {settings['intacct_latency_ms']} ms per Intacct call; "
        f"load average {machine['load_average']} at the start, {machine.get('load_average_after')} at the end"
        + ("" if r.get("ok", True) else "; **some DAG runs failed: figures are not valid**")
        + ".",
        "",
        "| run | wall s | tasks s | bound s | wall / bound | tasks / bound | QuickBooks calls "
        "| QBO records / write req. | Intacct calls | Intacct records / write req. | Intacct transactions "
        "| transactions / record written | records read | records written (QBO + Intacct) | CPU s | peak MB |",
        "|---|" + "---:|" * 15,
    ]
    for key in (k for k in SCENARIO_TITLES if k in s):
        m = s[key]
        title = SCENARIO_TITLES[key]
        visited = m.get("records_visited") or 0
        if key == "baseline" and 0 < visited < records["qbo"] + records["intacct"]:
            title += f" ({visited:,} records sampled)"
        tasks_s = m.get("task_wall_s")
        lines.append(
            f"| {title} | {_n(m['wall_s'])} | {_n(tasks_s)} | {_n(m['bound_s']['run'])} | {_times(m['wall_to_bound'])} "
            f"| {_ratio(tasks_s, m['bound_s']['run']) if tasks_s is not None else '-'} "
            f"| {_calls(m['qbo'])} | {_n(m['qbo']['records_per_write_request'])} | {_calls(m['intacct'])} "
            f"| {_n(m['intacct']['records_per_write_request'])} | {_n(m['intacct']['api_transactions'])} "
            f"| {_n(m['intacct']['transactions_per_record_written'], 3)} | {_n(_records_read(m))} "
            f"| {_changed_records(m):,} "
            f"| {_n(m['cpu_s'])} | {_n(m.get('peak_rss_mb'), 0) if key != 'baseline' else '-'} |"
        )
    lines += _against_baseline(s, records, settings)
    lines += _goals(s)
    dag_keys = [k for k in ("first", "unchanged", "changed") if k in s]
    if not dag_keys:
        return [*lines, ""]
    lines += [
        "",
        "By task (CPU s / peak MB of the process while the task ran; `airflow dags test` runs the tasks one after "
        "another in one process, so *outside tasks* is Airflow's own start-up, parsing and bookkeeping):",
        "",
        "| task | " + " | ".join(SCENARIO_TITLES[k] for k in dag_keys) + " |",
        "|---|" + "---:|" * len(dag_keys),
    ]
    task_ids = list(dict.fromkeys(t for k in dag_keys for t in s[k]["tasks"]))
    for task_id in task_ids:
        cells = []
        for k in dag_keys:
            t = s[k]["tasks"].get(task_id)
            cells.append(f"{_n(t['cpu_s'], 2)} / {_n(t['peak_rss_mb'], 0)}" if t else "-")
        lines.append(f"| {task_id} | " + " | ".join(cells) + " |")
    outside = []
    for k in dag_keys:
        m = s[k]
        outside.append(
            f"{_n(m['cpu_s'] - sum(t['cpu_s'] for t in m['tasks'].values()), 2)} / {_n(m['peak_rss_mb'], 0)}"
        )
    lines += [f"| *outside tasks* / whole process | {' | '.join(outside)} |", ""]
    return lines


def _goals(s: dict[str, Any]) -> list[str]:
    """The issue's goals, each with the figure that decides it."""
    rows: list[tuple[str, str, bool | None]] = []
    first, unchanged = s.get("first"), s.get("unchanged")
    if first:
        tpr = first["intacct"]["transactions_per_record_written"]
        rows.append(
            (
                "Intacct transactions per record written, first sync: 1.0 (within 5%)",
                _n(tpr, 3),
                None if tpr is None else tpr <= 1.05,
            )
        )
        ratio = first["wall_to_bound"]
        rows.append(("first sync within 1.2x of the bound", _times(ratio), None if ratio is None else ratio <= 1.2))
    if unchanged:
        writes = unchanged["qbo"]["records_written"] + unchanged["intacct"]["records_written"]
        rows.append(("unchanged rerun writes nothing", f"{writes:,} records written", writes == 0))
        read = _records_read(unchanged)
        if read is not None and first and _records_read(first):
            share = read / _records_read(first)
            rows.append(
                (
                    "unchanged rerun reads only the changed window",
                    f"{read:,} records read ({share:.0%} of the first sync)",
                    share < 0.05,
                )
            )
    if first:
        own = ((first.get("product_summary") or {}).get("summary") or {}).get("api_calls")
        if own is not None:
            said = (sum(own.get("qbo", {}).values()), own.get("intacct", {}).get("api_transactions", 0))
            seen = (first["qbo"]["calls"] + first["qbo"]["throttled"], first["intacct"]["api_transactions"])
            rows.append(
                (
                    "the run's summary states its QuickBooks calls and Intacct transactions",
                    f"said {said[0]:,} calls / {said[1]:,} transactions; sandboxes saw {seen[0]:,} / {seen[1]:,}",
                    said == seen,
                )
            )
    peaks = [s[k]["peak_rss_mb"] for k in ("first", "unchanged", "changed") if k in s]
    if peaks:
        rows.append(("peak memory of any task under 2 GB", f"{max(peaks):,.0f} MB", max(peaks) < 2048))
    if not rows:
        return []
    mark = {True: "met", False: "**not met**", None: "-"}
    return ["", "| goal | measured | |", "|---|---|---|", *(f"| {g} | {v} | {mark[ok]} |" for g, v, ok in rows)]


def _against_baseline(s: dict[str, Any], records: dict[str, int], settings: dict[str, Any]) -> list[str]:
    if "baseline" not in s or "first" not in s:
        return []
    first, baseline = s["first"], s["baseline"]
    visited = baseline.get("records_visited") or 0
    whole = records["qbo"] + records["intacct"]
    scale_up = whole / visited if 0 < visited < whole else 1.0
    base_wall = baseline["wall_s"] * scale_up
    base_calls = (baseline["qbo"]["calls"] + baseline["intacct"]["calls"]) * scale_up
    base_txn = baseline["intacct"]["api_transactions"] * scale_up
    unchanged = s.get("unchanged")
    unchanged_calls = unchanged["qbo"]["calls"] + unchanged["intacct"]["calls"] if unchanged else None
    return [
        "",
        "Against the naive baseline"
        + (f" (its sample scaled up {scale_up:.1f}x to all {whole:,} records)" if scale_up != 1.0 else "")
        + f": the first sync takes {_ratio(first['wall_s'], base_wall)} its wall time, makes "
        f"{_ratio(first['qbo']['calls'] + first['intacct']['calls'], base_calls)} its calls and spends "
        f"{_ratio(first['intacct']['api_transactions'], base_txn)} its Intacct transactions; an unchanged rerun "
        f"makes {_ratio(unchanged_calls, base_calls)} its calls "
        "(the baseline keeps no state, so each of its reruns repeats the whole work).",
    ]


GROWTH_FIGURES = (
    ("QuickBooks calls", lambda m: m["qbo"]["calls"]),
    ("Intacct calls", lambda m: m["intacct"]["calls"]),
    ("Intacct transactions", lambda m: m["intacct"]["api_transactions"]),
    ("wall s", lambda m: m["wall_s"]),
    ("CPU s", lambda m: m["cpu_s"]),
    ("peak MB", lambda m: m.get("peak_rss_mb")),
)


def _growth_section(dag_id: str, per_scale: dict[str, Any]) -> list[str]:
    scales = _scales(per_scale)
    if len(scales) < 2:
        return []
    lines = [
        f"### {dag_id}: growth between scales",
        "",
        "Each figure's factor from one scale to the next, beside the books' factor (records of the flow). "
        "A factor at or below the books' factor is linear or better; fixed costs make small scales grow slower.",
        "",
        "| run | figure | " + " | ".join(f"{a} → {b}" for a, b in itertools.pairwise(scales)) + " |",
        "|---|---|" + "---:|" * (len(scales) - 1),
    ]
    books = []
    for a, b in itertools.pairwise(scales):
        ra, rb = per_scale[a]["records"], per_scale[b]["records"]
        books.append(_ratio(rb["qbo"] + rb["intacct"], ra["qbo"] + ra["intacct"]))
    lines.append("| books | records | " + " | ".join(books) + " |")
    for key in ("first", "unchanged", "changed"):
        if not all(key in per_scale[sc]["scenarios"] for sc in scales):
            continue
        for label, get in GROWTH_FIGURES:
            cells = [
                _ratio(get(per_scale[b]["scenarios"][key]), get(per_scale[a]["scenarios"][key]))
                for a, b in itertools.pairwise(scales)
            ]
            lines.append(f"| {SCENARIO_TITLES[key]} | {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def forecast(dag_id: str, per_scale: dict[str, Any], change_rate: float) -> dict[str, Any] | None:
    """The monthly Intacct transactions of one flow at the demo group's volume (or the smallest scale measured)."""
    if not per_scale:
        return None
    scale = FORECAST_SCALE if FORECAST_SCALE in per_scale else _scales(per_scale)[0]
    r = per_scale[scale]
    s = r["scenarios"]
    if "unchanged" not in s or "changed" not in s:
        return None
    unchanged = s["unchanged"]["intacct"]["api_transactions"]
    changed = s["changed"]["intacct"]["api_transactions"]
    edited = s["changed"].get("edited") or {}
    edits = sum(edited.values()) or 1
    records = r["records"]["qbo"] + r["records"]["intacct"]
    fc = monthly_transactions(
        per_unchanged_run=unchanged,
        per_changed_record=max(0.0, (changed - unchanged) / edits),
        records=records,
        monthly_change_rate=change_rate,
    )
    return {"scale": scale, "records": records, "change_rate": change_rate, **fc.__dict__}


def _forecast_section(data: dict[str, Any], change_rates: dict[str, float]) -> list[str]:
    rows = []
    total = 0.0
    for dag_id, per_scale in data["flows"].items():
        fc = forecast(dag_id, per_scale, change_rates.get(dag_id, 0.05))
        if fc is None:
            continue
        total += fc["transactions"]
        rows.append(
            f"| {dag_id} | {fc['scale']} | {fc['records']:,} | {fc['change_rate']:.0%} | {_n(fc['per_run'])} "
            f"| {_n(fc['per_change'], 2)} | {_n(fc['transactions'], 0)} | {fc['share_of_allowance']:.1%} |"
        )
    if not rows:
        return []
    return [
        "## Monthly Intacct transactions (the bill before you run it)",
        "",
        f"Every flow polls every 15 minutes by default: {RUNS_PER_MONTH_15_MIN:,} runs in a 30-day month. Each run "
        "spends what the measured unchanged rerun spent (its queries), and each changed record adds what the "
        "measured 1% rerun spent per record edited beyond that. The change rate is the share of the flow's "
        "records (both sides) created or edited in a typical month (bench/flows.py). Intacct's Performance Tier 1 "
        f"includes {INTACCT_MONTHLY_ALLOWANCE:,} transactions a month; overage is billed, not blocked.",
        "",
        "| flow | measured at scale | records | monthly change rate | transactions per run | per changed record "
        "| per month | of the 100,000 allowance |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        f"| **all flows** | | | | | | **{_n(total, 0)}** | **{total / INTACCT_MONTHLY_ALLOWANCE:.1%}** |",
        "",
    ]


HEADER = """# Benchmarks

Generated by `make bench` (`python -m bench`, see bench/__init__.py) from benchmarks.json; do not edit by
hand. `make bench SCALE=2000` refreshes one scale and keeps the others.

**What is measured, and how.** Each flow DAG runs with `airflow dags test` against both sandboxes serving
the demo group's seeded books at the given scale, with the sandboxes' real limits on (QuickBooks 500
requests a minute, 10 at a time, 40 batch requests a minute; Intacct 2 at a time: read from each sandbox's
config) and a fixed latency added to every call (the sandboxes' `latency` fault). Per flow and repetition:
a first sync on an empty ledger, an unchanged rerun at once, and a rerun after 1% of the flow's records
were edited on each side (a new phone number); then the naive baseline on the same books and sandboxes.
Timed figures are medians of the repetitions.

- *calls*: requests the sandboxes served (throttled ones excluded), by kind: r = reads (query pages,
  reads by id, CDC), w = single writes, batch = QuickBooks batch requests; sign-ins are in the total.
- *records / write req.*: records written per write request (QuickBooks batch items count one each;
  Intacct functions many per request).
- *Intacct transactions*: as the Intacct sandbox bills them (each record created, updated or deleted
  and each query call); *transactions / record written* has the goal 1.0.
- *bound*: the least time the API limits allow for the same calls with the configured latency
  (bench/limits.py: calls against each system's concurrency, rate and batch rate; the slower system
  sets the bound); goal: wall within 1.2x.
- *wall*: the whole `airflow dags test` process, Airflow's start-up included. *CPU* and *peak MB*:
  that process (`os.wait4`); by task: a listener only the harness loads (bench/task_metrics.py), with
  the kernel's peak-RSS mark reset at each task's start.
- *naive baseline*: what people write by hand (bench/clients.py): per record, one lookup call, then
  one write call, one record at a time, both directions, no state kept.
"""


READING_NOTES = """## Reading these figures

- `airflow dags test` runs the tasks one after another in one process and starts Airflow's in-process
  execution API first: roughly 25-30 s of CPU per run that is Airflow's, not the flow's (the *outside
  tasks* row). *tasks s* is the flow's own time; *wall / bound* keeps Airflow's start-up in, so at small
  scales it is dominated by it. A deployment pays its own per-task start-up instead, and can run the two
  systems' extracts at the same time, which the bound assumes.
- The naive baseline calls one at a time by definition; its bound is what the same calls would take at
  the APIs' full concurrency.
- Peak MB by task is the whole process's resident memory while the task ran (Airflow's ~350 MB
  included), so the largest row is the process peak.
- Every run's own summary states the API calls it made per system and the Intacct transactions it spent
  (the hooks count every attempt, the operators publish their task's count as the `api_calls` XCom, the
  `report` step adds them up into the summary text and the asset event). The goals table checks the first
  sync's figures against what the sandboxes counted.
"""


def render(data: dict[str, Any], change_rates: dict[str, float] | None = None) -> str:
    lines = [HEADER]
    machines = {
        json.dumps(
            {k: r["machine"][k] for k in ("cores", "memory_gb", "cpu", "os", "python", "airflow")}, sort_keys=True
        )
        for per_scale in data.get("flows", {}).values()
        for r in per_scale.values()
    }
    for m in sorted(machines):
        info = json.loads(m)
        lines.append(
            f"**Machine**: {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB memory, {info['os']}, "
            f"Python {info['python']}, Airflow {info['airflow']}."
        )
    lines.append("")
    lines += _forecast_section(data, change_rates or {})
    for dag_id, per_scale in data.get("flows", {}).items():
        lines += [f"## {dag_id}", ""]
        for scale in _scales(per_scale):
            lines += _scale_section(dag_id, scale, per_scale[scale])
        lines += _growth_section(dag_id, per_scale)
    lines.append(READING_NOTES)
    notes = data.get("notes")
    if notes:
        lines += ["## About this run", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(folder: Path, data: dict[str, Any]) -> None:
    from bench.flows import FLOWS

    rates = {f.dag_id: f.monthly_change_rate for f in FLOWS}
    (folder / "BENCHMARKS.md").write_text(render(data, rates))
