"""The summary every flow run ends with: what was read, created, updated, skipped, held, failed.

It is rendered as a short text block in the task log (and kept as run stats in the ledger), so
finance can read a run's outcome without opening the staged files. It never contains names,
amounts or record contents, only counts and reasons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qbo_intacct.flows.planning import Action, Plan
from qbo_intacct.ledger.repository import RunStats


@dataclass
class RunSummary:
    flow: str
    run_id: str
    dry_run: bool = False
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    held_for_review: int = 0
    failed: int = 0
    # reason code -> count, for held and skipped records (e.g. name_only: 3, one_way_direction: 12)
    reasons: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_plan(cls, flow: str, run_id: str, plan: Plan, *, read: int, dry_run: bool = False) -> RunSummary:
        """The summary a plan would produce if every write succeeds (what a dry run reports)."""
        counts = plan.counts()
        reasons = Counter(
            a.reason for a in plan.actions if a.reason and a.action in (Action.SKIP, Action.REVIEW, Action.CONFLICT)
        )
        return cls(
            flow=flow,
            run_id=run_id,
            dry_run=dry_run,
            read=read,
            created=counts[Action.CREATE.value],
            updated=counts[Action.UPDATE.value],
            skipped=counts[Action.SKIP.value],
            held_for_review=counts[Action.REVIEW.value] + counts[Action.CONFLICT.value],
            reasons=dict(sorted(reasons.items())),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "held_for_review": self.held_for_review,
            "failed": self.failed,
            "reasons": dict(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        return cls(**{**data, "reasons": dict(data.get("reasons", {}))})

    def as_run_stats(self, status: str) -> RunStats:
        """The ledger's ``ledger_runs`` row for this run (``status``: success / failed / dry_run)."""
        return RunStats(
            flow=self.flow,
            run_id=self.run_id,
            dry_run=self.dry_run,
            status=status,
            read=self.read,
            created=self.created,
            updated=self.updated,
            skipped=self.skipped,
            held_for_review=self.held_for_review,
            failed=self.failed,
            detail={"reasons": dict(self.reasons)},
        )

    def render(self) -> str:
        """A short block for the task log; a dry run says so in its first line."""
        mode = " (dry run: nothing was written)" if self.dry_run else ""
        lines = [
            f"{self.flow} run {self.run_id}{mode}",
            f"  read             {self.read:>8}",
            f"  created          {self.created:>8}",
            f"  updated          {self.updated:>8}",
            f"  skipped          {self.skipped:>8}",
            f"  held for review  {self.held_for_review:>8}",
            f"  failed           {self.failed:>8}",
        ]
        if self.reasons:
            lines.append("  reasons: " + ", ".join(f"{k} {v}" for k, v in self.reasons.items()))
        return "\n".join(lines)
