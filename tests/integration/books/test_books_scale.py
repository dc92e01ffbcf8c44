"""The benchmark scale: 100,000 QuickBooks invoices (plus everything in proportion) within budget.

The issue's budget is under two minutes and under 2 GB of memory for generating the books and
seeding both sandboxes' state. It runs the real command line in a child process, so its peak
resident memory is measured on its own (``RUSAGE_CHILDREN``), not mixed with pytest's.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_100000_invoices_are_seeded_in_under_two_minutes_and_2_gb(tmp_path: Path) -> None:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "include.sandbox", "seed", "--seed", "42", "--scale", "100000", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    peak_rss_bytes = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["qbo"]["by_object"]["Invoice"] >= 100_000
    assert elapsed < 120, f"took {elapsed:.1f} s"
    assert peak_rss_bytes < 2 * 1024**3, f"peak RSS {peak_rss_bytes / 1024**2:.0f} MiB"
