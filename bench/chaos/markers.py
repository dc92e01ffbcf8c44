"""A task listener only the chaos harness loads: one line per task start, so the harness can kill the
worker at a chosen point of a chosen task (``CHAOS_TASK_MARKERS`` names the file).

``airflow dags test`` runs every task in its one process, so "the task's process group" is the
process group of that child, which the harness starts in a session of its own and kills with
SIGKILL from outside; this listener only tells it where the run is. Never a product plugin.
"""

from __future__ import annotations

import os
import time
from typing import Any

from airflow.listeners import hookimpl


def _mark(event: str, task_instance: Any) -> None:
    target = os.environ.get("CHAOS_TASK_MARKERS")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(f"{time.monotonic():.6f} {event} {task_instance.task_id}\n")
        fh.flush()
        os.fsync(fh.fileno())


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    _mark("start", task_instance)


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _mark("success", task_instance)


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    _mark("failed", task_instance)
