"""An Airflow task listener that only the harness loads: CPU, wall time and peak memory per task.

``airflow dags test`` runs every task in its one process, one after another, so the process's
counters taken at a task's start and end belong to that task. Peak memory is the kernel's high-water
mark (``VmHWM``), reset at each task's start by writing ``5`` to ``/proc/self/clear_refs``, so each
task reports its own peak, not the largest so far. One JSON line per task goes to the file named by
``BENCH_TASK_METRICS``. Registered by :mod:`bench.airflow_run`; never a product plugin.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from airflow.listeners import hookimpl

_started: dict[str, tuple[float, float]] = {}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _key(task_instance: Any) -> str:
    return f"{task_instance.task_id}:{getattr(task_instance, 'map_index', -1)}"


def _write(task_instance: Any, state: str) -> None:
    target = os.environ.get("BENCH_TASK_METRICS")
    started = _started.pop(_key(task_instance), None)
    if not target or started is None:
        return
    wall0, cpu0 = started
    row = {
        "task_id": task_instance.task_id,
        "state": state,
        "wall_s": round(time.monotonic() - wall0, 3),
        "cpu_s": round(_cpu_seconds() - cpu0, 3),
        "peak_rss_mb": round(_peak_rss_bytes() / 1024**2, 1),
    }
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    _reset_peak()
    _started[_key(task_instance)] = (time.monotonic(), _cpu_seconds())


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _write(task_instance, "success")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    _write(task_instance, "failed")


@hookimpl
def on_task_instance_skipped(previous_state: Any, task_instance: Any) -> None:
    _write(task_instance, "skipped")
