"""RELIABILITY.md and reliability.json from one ``make chaos`` run: each scenario, its scale and its result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COUNTS = ("duplicates", "lost", "differing", "extra", "links_missing", "links_extra", "unexplained")


def totals(trials: list[dict[str, Any]]) -> dict[str, int]:
    out = {"runs": 0, "faults_injected": 0, "kills": 0, **{k: 0 for k in COUNTS}, "not_converged": 0}
    for t in trials:
        if t["scenario"] == "baseline":
            out["unexplained_in_baseline"] = t["comparison"].get("unexplained", 0)
            continue
        out["runs"] += len(t["runs"])
        out["faults_injected"] += t["faults_injected"]
        out["kills"] += t["kills"]
        for k in COUNTS:
            out[k] += int(t["comparison"].get(k, 0) or 0)
        out["not_converged"] += 0 if t["comparison"].get("converged") else 1
    return out


def by_kind(trials: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        for kind, n in t.get("faults_by_kind", {}).items():
            out[kind] = out.get(kind, 0) + n
    return dict(sorted(out.items()))


def write(out_dir: Path, data: dict[str, Any]) -> None:
    (out_dir / "reliability.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    lines = [
        "# Reliability",
        "",
        "Written by `make chaos` (`python -m bench.chaos`) from the run below: every number is measured.",
        "Goal: every count in the tables below is zero except runs, faults injected and kills.",
        "",
        f"- date: {data['date']}; machine: {data['machine']['cores']} cores, {data['machine']['cpu']}, "
        f"load average {data['machine']['load_average']}",
        f"- scale: books `{data['settings']['scale']}` (seed 42, the demo group's books); fault rates "
        f"{', '.join(f'{r:.0%}' for r in data['settings']['rates'])} of calls on both systems; "
        f"{data['settings'].get('repetitions', 1)} runs per rate; "
        f"{data['settings']['kills']} random kills in the load and {data['settings']['record_kills']} "
        "between the load and the ledger write, per flow",
    ]
    lines += [f"- note: {n}" for n in data.get("notes", [])]
    lines += ["", "## Totals", ""]
    t = data["totals"]
    lines += ["| " + " | ".join(t) + " |", "|" + "---|" * len(t), "| " + " | ".join(str(v) for v in t.values()) + " |"]
    kinds = by_kind(data["trials"])
    if kinds:
        lines += ["", "Faults injected, by system and kind: " + ", ".join(f"{k} {n}" for k, n in kinds.items()) + "."]
    lines += ["", "## Faults and crashes, per flow and scenario", ""]
    head = ["flow", "scenario", "runs (ok)", "faults injected", "kills", *COUNTS, "converged", "note"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for tr in data["trials"]:
        c = tr["comparison"]
        ok = sum(1 for r in tr["runs"] if r["ok"])
        row = [tr["flow"].removeprefix("qbo_intacct_"), tr["scenario"], f"{len(tr['runs'])} ({ok})"]
        row += [str(tr["faults_injected"]), str(tr["kills"]), *[str(c.get(k, "-")) for k in COUNTS]]
        row += ["yes" if c.get("converged") else "**no**", tr.get("note", "")]
        lines.append("| " + " | ".join(row) + " |")
    tests = data.get("suites") or {}
    if tests:
        lines += ["", "## Suites (pytest, run by `make chaos`)", ""]
        lines += ["| suite | tests | failures | errors | skipped | wall s |", "|---|---|---|---|---|---|"]
        for name, r in tests.items():
            row = [name, r.get("tests", "-"), r.get("failures", "-"), r.get("errors", "-"), r.get("skipped", "-")]
            lines.append("| " + " | ".join(str(v) for v in [*row, r["wall_s"]]) + " |")
            lines += [f"  - failed: `{f}`" for f in r.get("failed", [])]
    corpus = data.get("corpus") or []
    if corpus:
        lines += ["", f"## Bad-input corpus ({len(corpus)} cases, tests/reliability/test_bad_input_corpus.py)", ""]
        lines += ["| family | case | expected outcome |", "|---|---|---|"]
        lines += [f"| {c['family']} | {c['case']} | {c['expected']} |" for c in corpus]
    sec = data.get("secrets")
    if sec:
        lines += ["", "## Secrets", ""]
        lines.append(
            f"Scanned {sec['files']} files ({sec['bytes']:,} bytes: task logs, Airflow's metadata database with "
            f"XCom, staged parquet, workbooks, summaries, the ledger with review items) for {sec['secrets']} seeded "
            f"secret values: **{len(sec['found'])} found**."
        )
        lines += [f"- {f['secret']} in `{f['file']}`" for f in sec["found"][:50]]
    lines += ["", "## What each column means", ""]
    lines += [
        "- duplicates: records sharing a name beyond the fault-free books; lost: records of the fault-free books "
        "missing; differing: same key, other content (amounts, fields, references); extra: records not in the "
        "fault-free books; links_missing / links_extra: ledger links (QuickBooks DisplayName, Intacct ID) not as in "
        "the fault-free run; unexplained: records neither linked nor held by an open review item.",
        "- A scenario's runs: the first run with faults (or the killed run), then reruns as an operator or the next "
        "scheduled run would, until the books equal the fault-free books (bench/chaos/runner.py).",
    ]
    notes = Path(__file__).with_name("FINDINGS.md")
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (out_dir / "RELIABILITY.md").write_text("\n".join(lines) + "\n")


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from runs of single flows made side by side (``python -m bench.chaos --jobs N``)."""
    first = parts[0]
    trials = [t for p in parts for t in p["trials"]]
    found = [f for p in parts for f in p["secrets"]["found"]]
    secrets = {
        "files": sum(p["secrets"]["files"] for p in parts),
        "bytes": sum(p["secrets"]["bytes"] for p in parts),
        "secrets": max(p["secrets"]["secrets"] for p in parts),
        "found": found,
    }
    settings = {**first["settings"], "flows": [f for p in parts for f in p["settings"]["flows"]]}
    data = {**first, "settings": settings, "trials": trials, "secrets": secrets}
    data["totals"] = {**totals(trials), "secrets_found": len(found)}
    return data
