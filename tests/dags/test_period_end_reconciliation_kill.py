"""A SIGKILL between building the workbook and sending it, then a rerun: exactly one mail.

``airflow dags test`` runs in its own process group; the loopback SMTP server holds the send task's
connection before its greeting (the workbook is built, nothing is sent or marked), the test kills the
whole group, then reruns the period in-process. Slow (a cold Airflow process): ``make bench-slow``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reconciliation_story import Story, killed_run, reconciliation_story, run_in_process

pytestmark = [pytest.mark.dag, pytest.mark.slow]


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with reconciliation_story(sandboxes, tmp_path_factory.mktemp("reconciliation-kill")) as story:
        yield story


@pytest.fixture(scope="module")
def killed(story: Story) -> dict[str, Any]:
    return killed_run(story, story.env)


@pytest.fixture(scope="module")
def rerun(story: Story, killed: dict[str, Any]) -> dict[str, Any]:
    return run_in_process(story, "rerun")


def test_a_kill_between_building_and_sending_then_a_rerun_sends_exactly_one_mail(
    story: Story, killed: dict[str, Any], rerun: dict[str, Any]
) -> None:
    assert killed["reached_send"], killed["log"][-5000:]
    assert killed["workbooks"], "the killed run had built its workbook before it was killed"
    assert killed["mails"] == 0
    assert rerun["state"] == "success"
    assert story.mail_count["rerun"] == 1
    again = run_in_process(story, "again")
    assert again["state"] == "success"
    assert story.mail_count["again"] == 0
