"""The reliability test suites (bad-input corpus, security, fault kinds) run by ``make chaos`` for its report.

They are ordinary pytest modules (``make test`` runs all but the ``chaos``-marked ones); here they
run in full, with a JUnit file whose cases go into RELIABILITY.md, and the corpus table is read
from the corpus module itself, so the report lists each case with its expected outcome.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUITES = {
    "bad-input corpus": ["tests/reliability/test_bad_input_corpus.py", "tests/reliability/test_validated_batch.py"],
    "security": ["tests/reliability/test_security.py", "tests/unit/bench/test_chaos.py"],
    "fault kinds (sandboxes, hooks)": [
        "tests/integration/sandbox/test_fault_kinds.py",
        "tests/reliability/test_partial_writes.py",
    ],
}
CORPUS_MODULE = ROOT / "tests" / "reliability" / "test_bad_input_corpus.py"


def corpus_cases() -> list[dict[str, str]]:
    """Every ``case(family, name, expected)`` the corpus module declares, read without importing it."""
    cases: list[dict[str, str]] = []
    for node in ast.walk(ast.parse(CORPUS_MODULE.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "case" and len(node.args) == 3:
            values = [a.value if isinstance(a, ast.Constant) else ast.unparse(a) for a in node.args]
            cases.append({"family": str(values[0]), "case": str(values[1]), "expected": str(values[2])})
    return cases


def run(work: Path) -> dict[str, Any]:
    """Run each suite with pytest (all markers); ``{suite: {tests, failures, errors, skipped, wall_s, failed}}``."""
    out: dict[str, Any] = {}
    for name, paths in SUITES.items():
        junit = work / f"junit-{name.split()[0]}.xml"
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:randomly", "--junitxml", str(junit)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = round(time.monotonic() - started, 1)
        result: dict[str, Any] = {"wall_s": wall, "exit_code": proc.returncode, "failed": []}
        if junit.exists():
            root = ET.parse(junit).getroot()  # noqa: S314 - our own pytest's file
            suite = root if root.tag == "testsuite" else root.find("testsuite")
            for key in ("tests", "failures", "errors", "skipped"):
                result[key] = int(suite.get(key, 0)) if suite is not None else 0
            for tc in root.iter("testcase"):
                if tc.find("failure") is not None or tc.find("error") is not None:
                    result["failed"].append(f"{tc.get('classname')}::{tc.get('name')}")
        out[name] = result
    return out
