"""What every sync DAG offers on the UI's Trigger form, and how its tasks retry.

Each flow's DAG builder passes these to ``DAG(...)`` so that the two switches an engineer reaches
for (plan without writing; read everything instead of the window) look and behave the same on
every flow, and a change to the retry policy is made once.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param


def default_args() -> dict[str, Any]:
    """Two retries 30 s apart: enough for a dropped connection, not enough to hide an outage."""
    return {"owner": "qbo_intacct", "retries": 2, "retry_delay": pendulum.duration(seconds=30)}


def sync_params(*, dry_run: str, full_refresh: str) -> dict[str, Param]:
    """``dry_run`` and ``full_refresh``; the descriptions say what they mean for this flow."""
    return {
        "dry_run": Param(False, type="boolean", title="Dry run (plan only)", description=dry_run),
        "full_refresh": Param(False, type="boolean", title="Full refresh", description=full_refresh),
    }
