"""``make bench`` end to end at the tiny scale: proves the harness works, measures nothing that matters.

One flow DAG run (the first sync) and the naive baseline, with a small latency so the lower bound is
not zero; the unchanged and 1% reruns reuse the same code paths and cost a DAG run each, so they are
left to ``make bench`` (the edits they need are tested in test_bench_clients.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness import Settings, run_scale
from bench.report import merge, write_report


def test_the_harness_measures_a_tiny_first_sync_and_the_baseline(tmp_path: Path, airflow_db: Path) -> None:
    settings = Settings(
        scale="tiny",
        runs=1,
        qbo_latency_ms=20,
        intacct_latency_ms=40,
        work_dir=tmp_path / "work",
        dag_ids=["qbo_intacct_customers"],
        scenarios=("first", "baseline"),
        airflow_home=airflow_db,
    )
    result = run_scale(settings, say=lambda _m: None)

    r = result["flows"]["qbo_intacct_customers"]
    first, baseline = r["scenarios"]["first"], r["scenarios"]["baseline"]
    assert r["ok"], first["log"]
    assert r["limits"]["qbo"] == {"concurrent": 10, "per_minute": 500, "batch_per_minute": 40}
    assert r["limits"]["intacct"]["concurrent"] == 2
    # the first sync wrote to both systems, and the counters saw it
    assert first["qbo"]["records_written"] > 0
    assert first["intacct"]["records_written"] > 0
    assert first["intacct"]["api_transactions"] >= first["intacct"]["records_written"]
    assert 0 < first["bound_s"]["run"] < first["wall_s"]
    # the child process and every task were measured
    assert first["cpu_s"] > 0
    assert first["peak_rss_mb"] > 100
    assert {"validate", "plan", "load_qbo", "load_intacct", "report"} <= set(first["tasks"])
    assert all(t["state"] == "success" and t["peak_rss_mb"] > 0 for t in first["tasks"].values())
    # the baseline visited every customer of both books, one lookup and one write each
    assert baseline["records_visited"] == r["records"]["qbo"] + r["records"]["intacct"]
    assert baseline["intacct"]["records_per_write_request"] == 1.0

    data = merge(tmp_path / "benchmarks.json", result)
    write_report(tmp_path, data)
    assert json.loads((tmp_path / "benchmarks.json").read_text())["flows"]["qbo_intacct_customers"]["tiny"]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "### qbo_intacct_customers at scale tiny" in text
    assert "Against the naive baseline" in text
    assert "| load_qbo |" in text
