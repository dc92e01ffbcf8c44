"""``qbo_intacct_journal_entries`` end to end with ``dag.test()`` on the demo books, both sandboxes over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story

pytestmark = pytest.mark.dag


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_journal_entries", sandboxes, tmp_path_factory.mktemp("je")) as story:
        yield story


@pytest.fixture(scope="module")
def first(story: Story) -> RunResult:
    return story.run("first")


def test_smoke(first: RunResult) -> None:
    import json
    print(json.dumps(first.summary, indent=1, default=str)[:6000])
    assert first.state == "success"
