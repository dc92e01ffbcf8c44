"""``make demo`` end to end: every demo DAG succeeds, each prints its summary, and the checkout's
committed files (finance's workbook above all) are exactly as before."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.demo import DEMO_DAGS, SHIPPED_WORKBOOK

ROOT = Path(__file__).resolve().parent.parent


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.dag
@pytest.mark.timeout(1200)
def test_demo_runs_every_dag_and_leaves_the_committed_workbook_alone(tmp_path: Path) -> None:
    before = _digest(SHIPPED_WORKBOOK)
    result = subprocess.run(
        [sys.executable, "-m", "include.demo", "run"],
        cwd=ROOT,
        env={**os.environ, "QBO_INTACCT_DEMO_DIR": str(tmp_path)},  # a `make demo` alongside is not disturbed
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    for dag_id in DEMO_DAGS:
        assert f"== {dag_id}: succeeded" in out, out[-3000:]
    assert f"{len(DEMO_DAGS)} of {len(DEMO_DAGS)} DAGs succeeded" in out
    assert "customers run" in out
    assert "vendors run" in out
    assert "journal_entries run" in out  # issue 17
    assert "bills run" in out  # issue 16
    assert "bill_payments run" in out
    assert "Intacct receipts posted" in out  # issue 15: the payments summary
    assert "trial-balance tie-out" in out
    assert "held for review" in out
    assert _digest(SHIPPED_WORKBOOK) == before, "the demo wrote to finance's committed workbook"
    assert (tmp_path / "mappings" / "qbo_intacct_mappings.xlsx").is_file()  # it worked on its copy
