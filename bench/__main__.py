"""``python -m bench``: run the benchmark at one scale and refresh BENCHMARKS.md and benchmarks.json.

    python -m bench --scale 10000 [--runs 3] [--qbo-latency-ms 300] [--intacct-latency-ms 600]
                    [--dags qbo_intacct_customers ...] [--baseline-records N] [--out DIR]

Results for other scales already in ``benchmarks.json`` are kept, so runs at 10,000 and 100,000
(or a quick 2,000) add up to one report with the growth between scales.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.harness import ROOT, Settings, run_scale
from bench.report import merge, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="2000", help="tiny, demo, or a number of QuickBooks invoices")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; timed figures are their medians")
    parser.add_argument("--qbo-latency-ms", type=int, default=300)
    parser.add_argument("--intacct-latency-ms", type=int, default=600)
    parser.add_argument("--dags", nargs="*", help="only these flow DAG ids (default: every flow in bench/flows.py)")
    parser.add_argument(
        "--baseline-records",
        type=int,
        default=200,
        help="records per direction the naive baseline visits (default 200; 0 = all); the rest is scaled up",
    )
    parser.add_argument(
        "--scenarios",
        nargs="*",
        default=["first", "unchanged", "changed", "baseline"],
        choices=["first", "unchanged", "changed", "baseline"],
        help="which runs to measure (default: all)",
    )
    parser.add_argument("--note", action="append", help="a sentence about this run for BENCHMARKS.md (repeatable)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--out", type=Path, default=ROOT, help="folder for BENCHMARKS.md and benchmarks.json")
    args = parser.parse_args(argv)
    settings = Settings(
        scale=args.scale,
        runs=args.runs,
        qbo_latency_ms=args.qbo_latency_ms,
        intacct_latency_ms=args.intacct_latency_ms,
        work_dir=args.work_dir.resolve(),
        dag_ids=args.dags,
        baseline_records=args.baseline_records or None,
        scenarios=tuple(args.scenarios),
    )
    result = run_scale(settings, say=lambda m: print(m, flush=True))
    data = merge(args.out / "benchmarks.json", result, notes=args.note)
    write_report(args.out, data)
    print(f"Wrote {args.out / 'BENCHMARKS.md'} and {args.out / 'benchmarks.json'}")
    failed = [d for d, r in result["flows"].items() if not r["ok"]]
    if failed:
        print(f"Failed DAG runs in: {', '.join(failed)} (see the logs under {settings.work_dir / 'logs'})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
