"""Run summaries: every DAG run ends by writing one, for the task log, the demo and the UI.

A summary is a small JSON document at ``<staging root>/summaries/<dag_id>/<run_id>.json`` (and
``latest.json``), holding a human ``text`` block plus the structured counts. Only its path and the
counts travel through XCom. The staging root is the Airflow Variable ``qbo_intacct_staging_root``
(any ``ObjectStoragePath`` URL; default: a folder under ``$AIRFLOW_HOME``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

STAGING_ROOT_VARIABLE = "qbo_intacct_staging_root"


def staging_root() -> Any:
    """The staging root as an ``ObjectStoragePath`` (local ``file://`` by default)."""
    from airflow.sdk import ObjectStoragePath, Variable

    default = f"file://{Path(os.environ.get('AIRFLOW_HOME', '~/airflow')).expanduser() / 'qbo_intacct_staging'}"
    return ObjectStoragePath(Variable.get(STAGING_ROOT_VARIABLE, default=default))


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", part)


def write_summary(dag_id: str, run_id: str, text: str, data: dict[str, Any]) -> str:
    """Write the run's summary (never secrets: callers pass counts and names only); return its path."""
    folder = staging_root() / "summaries" / _safe(dag_id)
    folder.mkdir(parents=True, exist_ok=True)
    document = json.dumps({"dag_id": dag_id, "run_id": run_id, "text": text, **data}, indent=2, default=str)
    for name in (f"{_safe(run_id)}.json", "latest.json"):
        with (folder / name).open("w") as fh:
            fh.write(document)
    return str(folder / f"{_safe(run_id)}.json")
