"""Command line for the sync ledger (run where the ``qbo_intacct_state`` connection is configured).

    python -m qbo_intacct.ledger.cli migrate
    python -m qbo_intacct.ledger.cli status --flow customers
    python -m qbo_intacct.ledger.cli rebuild --flow customers --sources qbo.parquet --targets intacct.parquet \\
        [--key-prefix Q] [--dry-run]

``rebuild`` restores lost links from two staged extracts (parquet files with ``source_id`` and
``target_id``, ``source_ref``, ``target_key`` columns, as the extract tasks stage them). It never
creates a record in either system and never overwrites an existing link; it prints what it linked
and what needs a person. ``--key-prefix`` names the deterministic key scheme (``<prefix><source id>``).

Not a ``__main__.py``: Airflow's plugin manager imports every file under ``plugins/`` by its file
name, and a file named ``__main__`` would run its ``if __name__ == "__main__"`` block inside the
scheduler.
"""

from __future__ import annotations

import argparse
import sys

from qbo_intacct.ledger.db import STATE_CONN_ID, ledger_engine
from qbo_intacct.ledger.migrations import current_version
from qbo_intacct.ledger.rebuild import apply_rebuild, rebuild_links
from qbo_intacct.ledger.repository import Ledger, ReviewStatus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qbo_intacct.ledger.cli", description="The qbo-intacct sync ledger")
    parser.add_argument("--conn-id", default=STATE_CONN_ID)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the ledger tables")
    status = sub.add_parser("status", help="links and review items per flow")
    status.add_argument("--flow", required=True)
    rebuild = sub.add_parser("rebuild", help="restore links from both systems' staged extracts")
    rebuild.add_argument("--flow", required=True)
    rebuild.add_argument("--sources", required=True, help="staged source extract (parquet path or URL)")
    rebuild.add_argument("--targets", required=True, help="staged target extract (parquet path or URL)")
    rebuild.add_argument("--source-system", default="qbo")
    rebuild.add_argument("--target-system", default="intacct")
    rebuild.add_argument("--key-prefix", default=None)
    rebuild.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)

    engine = ledger_engine(args.conn_id)
    ledger = Ledger(engine)
    if args.command == "migrate":
        print(f"ledger schema version {current_version(engine)}")
        return 0
    if args.command == "status":
        links = ledger.links(args.flow)
        items = ledger.review_items(args.flow)
        counts = {s.value: sum(1 for i in items if i.status is s) for s in ReviewStatus}
        print(f"{args.flow}: {len(links)} links; review items {counts}")
        return 0

    from qbo_intacct.flows.staging import read_staged

    prefix = args.key_prefix
    result = rebuild_links(
        args.flow,
        source_system=args.source_system,
        target_system=args.target_system,
        sources=read_staged(args.sources),
        targets=read_staged(args.targets),
        deterministic_key=(lambda source_id: f"{prefix}{source_id}") if prefix else None,
    )
    conflicts = list(result.conflicts)
    if not args.dry_run:
        conflicts += apply_rebuild(ledger, result, run_id="ledger-rebuild")
    mode = " (dry run)" if args.dry_run else ""
    print(f"{args.flow}: {len(result.links)} links rebuilt{mode}; {len(result.unclaimed_targets)} target records")
    print(f"  without a source reference; {len(conflicts)} conflicts need a person:")
    for conflict in conflicts:
        print(f"  - source {conflict.source_id} targets {', '.join(conflict.target_ids)}: {conflict.reason}")
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
