"""The harness's own clients against the sandboxes over HTTP: the naive baseline and the 1% edits.

The baseline must be what it claims (per record one lookup, then one write, both directions), and
the edits must change exactly the share of records asked for, on each side, as a user would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Sandbox

from bench.calls import summarize
from bench.clients import Intacct, edit_fraction, naive_sync
from bench.flows import FLOWS, BenchFlow
from include.sandbox.intacct.testing import GatewayClient
from include.sandbox.qbo.testing import QboClient

CUSTOMERS = next(f for f in FLOWS if f.dag_id == "qbo_intacct_customers")


@pytest.fixture(scope="module")
def tiny_books(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("books")
    cmd = [sys.executable, "-m", "include.sandbox", "seed", "--seed", "42", "--scale", "tiny", "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return out


@pytest.fixture
def books(sandboxes: dict[str, Sandbox], tiny_books: Path) -> dict[str, Sandbox]:
    sandboxes["qbo"].reset(tiny_books / "qbo.json")
    sandboxes["intacct"].reset(tiny_books / "intacct.json")
    return sandboxes


def _clients(sb: dict[str, Sandbox]) -> tuple[QboClient, Intacct]:
    qbo = QboClient(sb["qbo"].info).authorize()
    intacct = Intacct(GatewayClient(sb["intacct"].info))
    intacct.session()
    for s in sb.values():
        s.reset_counters()
    return qbo, intacct


def test_the_naive_baseline_looks_up_then_writes_each_record_one_at_a_time(books: dict[str, Sandbox]) -> None:
    qbo, intacct = _clients(books)
    n_qbo = len(qbo.query("select * from Customer")["Customer"])
    qbo_before = books["qbo"].counters()["requests"].get("query query 200", 0)

    stats = naive_sync(CUSTOMERS, qbo, intacct)

    q = summarize("qbo", books["qbo"].counters())
    ia = summarize("intacct", books["intacct"].counters())
    n_intacct = stats["records"] + stats.get("failed", 0) - n_qbo
    assert n_intacct > 0
    # QuickBooks -> Intacct: one lookup and one write per QuickBooks customer, one write per request
    assert ia["by_operation"]["create"] + ia["by_operation"].get("update", 0) == n_qbo
    assert ia["by_operation"]["readByQuery"] == n_qbo + 1  # the lookups, plus the first page of the source list
    assert ia["records_per_write_request"] == 1.0
    # Intacct -> QuickBooks: one lookup and one write per Intacct customer
    assert q["writes"] == n_intacct
    assert q["reads"] - qbo_before == n_intacct + 1  # the lookups, plus one page of the source list
    # Intacct bills every lookup and every record written
    assert ia["api_transactions"] == ia["reads"] + ia["records_written"]


def test_the_baseline_can_visit_a_sample(books: dict[str, Sandbox]) -> None:
    qbo, intacct = _clients(books)
    stats = naive_sync(CUSTOMERS, qbo, intacct, limit=2)
    assert stats["records"] + stats.get("failed", 0) == 4
    assert summarize("intacct", books["intacct"].counters())["writes"] == 2


def test_edits_change_the_asked_share_on_each_side(books: dict[str, Sandbox]) -> None:
    qbo, intacct = _clients(books)
    edited = edit_fraction(CUSTOMERS, qbo, intacct, 0.2)  # tiny books: 10 QuickBooks, 7 Intacct customers
    assert edited == {"qbo": 2, "intacct": 1}
    assert summarize("qbo", books["qbo"].counters())["records_written"] == 2
    assert summarize("intacct", books["intacct"].counters())["records_written"] == 1
    phones = [c.get("PrimaryPhone", {}).get("FreeFormNumber") for c in qbo.query("select * from Customer")["Customer"]]
    assert sum(1 for p in phones if p and p.startswith("+1 555 010")) == 2


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.dag_id)
def test_every_listed_flow_can_be_edited_and_baselined(books: dict[str, Sandbox], flow: BenchFlow) -> None:
    """A flow listed in bench/flows.py works with the harness's clients before its DAG exists."""
    qbo, intacct = _clients(books)
    edited = edit_fraction(flow, qbo, intacct, 0.01)
    assert edited == {"qbo": 1, "intacct": 0 if flow.one_way else 1}  # one-way flows: nobody edits Intacct
    if not flow.baseline:  # the naive baseline is a master-data sync by name (journal entries have none)
        return
    stats = naive_sync(flow, qbo, intacct, limit=1)
    if flow.kind == "document":  # one way: one document visited (posted, or refused for want of its customer)
        assert stats.get("records", 0) + stats.get("failed", 0) == 1
    else:  # both ways: one record each
        assert stats["records"] == 2
