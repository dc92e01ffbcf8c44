"""``make bench``: what each sync task pays in imports before it does any work (issue 10).

On a Celery worker every task is a fresh process, so a task's imports are a fixed cost per task per
run. Each row imports what one task of a flow DAG imports, in a fresh interpreter with Airflow's SDK
already loaded (as on a worker), and prints wall and CPU seconds; the budget keeps a heavy library
from creeping into a task that does not need it (Great Expectations belongs to ``validate`` only).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import json, resource, sys, time
import airflow.sdk
sys.path[:0] = [sys.argv[1], sys.argv[2]]
modules = sys.argv[3].split(",")
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu0, t0 = usage.ru_utime + usage.ru_stime, time.perf_counter()
for name in modules:
    __import__(name)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": usage.ru_utime + usage.ru_stime - cpu0,
                  "gx": "great_expectations" in sys.modules, "pandas": "pandas" in sys.modules}))
"""
# task -> what its body imports (the engine step and what the step imports on its way)
TASKS: dict[str, tuple[str, ...]] = {
    "dag file (parse)": ("qbo_intacct.flows.vendors", "qbo_intacct.operators.sync_dag"),
    "prepare": ("qbo_intacct.flows.engine", "qbo_intacct.mappings.loader", "qbo_intacct.ledger.repository"),
    "extract_*": ("qbo_intacct.operators.extract", "qbo_intacct.hooks.quickbooks", "qbo_intacct.flows.runtime"),
    # the runner imports Great Expectations when it validates: counted here, where it is paid
    "validate": ("qbo_intacct.flows.engine", "qbo_intacct.validation.runner", "great_expectations"),
    "match/plan/record": ("qbo_intacct.flows.engine", "qbo_intacct.flows.planning", "qbo_intacct.ledger.repository"),
    "load_*": ("qbo_intacct.operators.load", "qbo_intacct.hooks.intacct", "qbo_intacct.flows.runtime"),
}
BUDGET_CPU = {"dag file (parse)": 1.0}


def _probe(modules: tuple[str, ...]) -> dict[str, float]:
    argv = [sys.executable, "-c", PROBE, str(ROOT), str(ROOT / "plugins"), ",".join(modules)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_task_import_costs_are_measured_and_great_expectations_stays_in_validate() -> None:
    rows = {task: _probe(modules) for task, modules in TASKS.items()}
    print("\ntask imports (fresh worker process, Airflow SDK loaded):")
    for task, row in rows.items():
        print(
            f"  {task:<20} wall {row['wall']:5.2f} s  cpu {row['cpu']:5.2f} s  pandas {row['pandas']}  gx {row['gx']}"
        )
    assert not rows["dag file (parse)"]["pandas"], "a DAG file must not import pandas when it is parsed"
    assert rows["dag file (parse)"]["cpu"] < BUDGET_CPU["dag file (parse)"]
    assert [task for task, row in rows.items() if row["gx"]] == ["validate"]
