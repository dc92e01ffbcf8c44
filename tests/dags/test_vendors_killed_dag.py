"""``qbo_intacct_vendors`` killed between its load and ``record``, then rerun (found by ``make chaos``).

The first run of the demo books links QuickBooks "Quillfeather Studios Group" to Intacct V-10039
and renames V-10039 to match, and holds QuickBooks "Quillfeather Studios" for finance (a name-only
match with V-10039's old name). When the worker died after the load (the rename written) and before
``record``, the hold was lost with the run: the rerun saw no same-name vendor any more and created
"Quillfeather Studios" in Intacct without finance's decision. The plan step now opens such review
items before any load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story

pytestmark = pytest.mark.dag


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_vendors", sandboxes, tmp_path_factory.mktemp("vendors_killed")) as story:
        yield story


@pytest.fixture(scope="module")
def killed(story: Story) -> RunResult:
    return story.run("killed", mark_success_pattern="record|report")  # the worker dies after both loads


@pytest.fixture(scope="module")
def rerun(story: Story, killed: RunResult) -> RunResult:
    return story.run("rerun")


def _held_quillfeather() -> tuple[str, list[Any]]:
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.ledger.repository import Ledger

    (vendor,) = [v for v in QuickBooksHook().iter_query("Vendor") if v["DisplayName"] == "Quillfeather Studios"]
    return vendor["Id"], [i for i in Ledger.from_connection().review_items("vendors") if i.record_id == vendor["Id"]]


def test_the_hold_is_in_the_ledger_though_record_never_ran(killed: RunResult) -> None:
    from qbo_intacct.ledger.repository import ReviewStatus

    assert killed.writes["intacct"] > 0  # the load did write (the rename among it)
    _, items = _held_quillfeather()
    assert [(i.reason_code, i.status) for i in items] == [("name_only", ReviewStatus.OPEN)]
    assert items[0].context, "the item carries what finance reads"


def test_the_rerun_keeps_it_held_and_creates_nothing_for_it(rerun: RunResult) -> None:
    from qbo_intacct.hooks.intacct import IntacctHook
    from qbo_intacct.ledger.repository import ReviewStatus

    assert rerun.state == "success"
    vendor_id, items = _held_quillfeather()
    vendors = {r["VENDORID"] for r in IntacctHook().iter_query("VENDOR", ["VENDORID"], entity_id="", show_private=True)}
    assert f"QB-V{vendor_id}" not in vendors
    assert [(i.reason_code, i.status) for i in items] == [("name_only", ReviewStatus.OPEN)]
