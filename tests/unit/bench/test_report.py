"""Medians of repeated runs, benchmarks.json merging, and BENCHMARKS.md rendered from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.harness import median_of
from bench.report import forecast, merge, render


def _side(calls: int, reads: int, writes: int, written: int, txn: int | None = None) -> dict[str, Any]:
    per_request = written / writes if writes else None
    side: dict[str, Any] = {"calls": calls, "reads": reads, "writes": writes, "batch_requests": 0,
                            "records_written": written, "records_per_write_request": per_request}  # fmt: skip
    if txn is not None:
        side["api_transactions"] = txn
        side["transactions_per_record_written"] = txn / written if written else None
    return side


def _run(k: int, written: int, txn: int) -> dict[str, Any]:
    return {
        "ok": True,
        "wall_s": 10.0 * k,
        "task_wall_s": 6.0 * k,
        "cpu_s": 5.0 * k,
        "peak_rss_mb": 400.0,
        "tasks": {"plan": {"cpu_s": 1.0, "wall_s": 1.0, "peak_rss_mb": 390.0, "state": "success"}},
        "qbo": _side(10 * k, 5 * k, 5 * k, written),
        "intacct": _side(4, 2, 2, written, txn),
        "bound_s": {"qbo": 3.0 * k, "intacct": 2.0, "run": 3.0 * k},
        "wall_to_bound": 3.33,
        "product_summary": {"summary": {"read": 100 * k}},
    }


def _result(scale: str, k: int) -> dict[str, Any]:
    changed = _run(k, 2, 6)
    changed["edited"] = {"qbo": 1, "intacct": 1}
    baseline = _run(k, 100 * k, 200 * k)
    baseline["records_visited"] = 100 * k
    return {
        "date": "2026-11-28T17:00:00+00:00",
        "machine": {
            "cores": 2,
            "memory_gb": 23.5,
            "cpu": "x",
            "os": "Linux",
            "python": "3.11",
            "airflow": "3.3.2",
            "load_average": [1.0, 1.0, 1.0],
            "load_average_after": [1.0, 1.0, 1.0],
        },
        "settings": {"runs": 3, "qbo_latency_ms": 300, "intacct_latency_ms": 600, "baseline_records": None},
        "flows": {
            "qbo_intacct_customers": {
                "scale": scale,
                "invoices": 1000 * k,
                "records": {"qbo": 60 * k, "intacct": 40 * k},
                "ok": True,
                "scenarios": {
                    "first": _run(k, 100 * k, 100 * k + 2),
                    "unchanged": _run(k, 0, 4),
                    "changed": changed,
                    "baseline": baseline,
                },
            }
        },
    }


def test_medians_are_taken_leaf_by_leaf() -> None:
    runs = [{"wall_s": 3.0, "n": 1, "ok": True, "s": {"x": 5}}, {"wall_s": 1.0, "n": 2, "ok": True, "s": {"x": 7}},
            {"wall_s": 2.0, "n": 9, "ok": False, "s": {"x": 6}}]  # fmt: skip
    assert median_of(runs) == {"wall_s": 2.0, "n": 2, "ok": False, "s": {"x": 6}}


def test_a_new_scale_is_added_and_the_same_scale_replaced(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.json"
    merge(path, _result("demo", 1))
    merge(path, _result("2000", 10))
    data = merge(path, _result("demo", 1))
    assert sorted(data["flows"]["qbo_intacct_customers"]) == ["2000", "demo"]


def test_the_forecast_charges_every_run_and_every_changed_record() -> None:
    per_scale = {"demo": _result("demo", 1)["flows"]["qbo_intacct_customers"]}
    fc = forecast("qbo_intacct_customers", per_scale, 0.05)
    assert fc is not None
    assert fc["per_run"] == 4  # the unchanged rerun's transactions
    assert fc["per_change"] == pytest.approx((6 - 4) / 2)  # the 1% rerun's extra per record edited
    assert fc["transactions"] == pytest.approx(2880 * 4 + 100 * 0.05 * 1.0)


def test_the_report_shows_each_scale_the_baseline_growth_and_the_forecast(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.json"
    merge(path, _result("demo", 1))
    data = merge(path, _result("2000", 10))
    text = render(data, {"qbo_intacct_customers": 0.05})
    assert text.index("at scale demo") < text.index("at scale 2000")  # ordered by the books' size
    assert "**Machine**: 2 cores" in text
    assert "| first sync | 10.0 | 6.0 | 3.0 | 3.33x | 2.00x |" in text
    assert "growth between scales" in text
    assert "| books | records | 10.00x |" in text
    assert "| unchanged rerun | QuickBooks calls | 10.00x |" in text
    assert "| qbo_intacct_customers | demo | 100 | 5% | 4 | 1.00 | 11,525 | 11.5% |" in text
    assert "Against the naive baseline" in text
    assert "| unchanged rerun writes nothing | 0 records written | met |" in text
    assert "| first sync within 1.2x of the bound | 3.33x | **not met** |" in text


def test_a_sampled_baseline_is_labelled_and_scaled_up_to_the_whole_books(tmp_path: Path) -> None:
    result = _result("demo", 1)
    flow = result["flows"]["qbo_intacct_customers"]
    flow["scenarios"]["baseline"]["records_visited"] = 50  # of 100
    text = render(merge(tmp_path / "benchmarks.json", result))
    assert "| naive baseline (50 records sampled) |" in text
    assert "its sample scaled up 2.0x to all 100 records" in text
    # the first sync's wall (10 s) against the baseline's 10 s scaled up to 20 s
    assert "the first sync takes 0.50x its wall time" in text
