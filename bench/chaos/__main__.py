"""``python -m bench.chaos``: run the reliability suite over every flow and write RELIABILITY.md + reliability.json.

python -m bench.chaos [--scale demo] [--rates 0.05 0.1 0.2] [--kills 20] [--record-kills 2]
                      [--dags qbo_intacct_customers ...] [--work-dir .chaos] [--out .]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import flows as flows_mod
from bench import harness
from bench.chaos import report, secrets_scan, suites
from bench.chaos.runner import Chaos, ChaosSettings
from bench.sandboxes import Admin, running


def run(settings: ChaosSettings, notes: list[str], say: Any = print) -> dict[str, Any]:
    flows = flows_mod.selected(settings.dag_ids)
    bench_settings = harness.Settings(scale=settings.scale, work_dir=settings.work_dir, seed=42)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    before = harness.machine()
    say(f"Seeding the books at scale {settings.scale} and preparing Airflow ...")
    books, manifest = harness.seed_books(bench_settings)
    harness.prepare_airflow(bench_settings)
    trials: list[dict[str, Any]] = []
    progress = settings.work_dir / "trials.jsonl"  # each finished trial at once: a cut-short run still reports
    progress.unlink(missing_ok=True)

    def keep(trial: dict[str, Any]) -> None:
        trials.append(trial)
        with open(progress, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(trial, default=str) + "\n")

    with running(settings.work_dir / "sandbox", books) as info:
        admins = {name: Admin(name, info[name]) for name in ("qbo", "intacct")}
        limits = {name: admin.limits() for name, admin in admins.items()}
        ctx = harness.Context(bench_settings, books, manifest, info, admins, limits, say)
        chaos = Chaos(settings, ctx)
        for flow in flows:
            expected, base = chaos.baseline(flow)
            keep(base.as_dict())
            say(f"{flow.dag_id} baseline: {expected.summary()}; unchanged rerun {_short(base.comparison)}")
            for rate in settings.rates:
                for rep in range(settings.repetitions):
                    trial = chaos.faults(flow, expected, rate, rep)
                    keep(trial.as_dict())
                    say(f"{flow.dag_id} {trial.scenario} r{rep}: {_short(trial.comparison)}, {len(trial.runs)} runs, "
                        f"faults {trial.by_kind}")  # fmt: skip
            if settings.partial:
                trial = chaos.partial_writes(flow, expected)
                keep(trial.as_dict())
                say(f"{flow.dag_id} partial batches: {_short(trial.comparison)}, {len(trial.runs)} runs ({trial.note})")
            for n, (task, delay) in enumerate(chaos.crash_points(flow, base)):
                trial = chaos.crash(flow, expected, n, task, delay)
                keep(trial.as_dict())
                say(f"{flow.dag_id} crash {n} ({trial.note}): {_short(trial.comparison)}, {len(trial.runs)} runs")
        say("Scanning logs, staging, workbooks, the ledger and Airflow's database for seeded secrets ...")
        seeded = secrets_scan.seeded_secrets(info, books)
        seeded.update({f"qbo refresh token handed to a run #{i}": s for i, s in enumerate(sorted(chaos.secrets))})
    say("Running the bad-input corpus, security and fault-kind suites ...")
    tests = suites.run(settings.work_dir) if settings.suites else {}
    home = harness.airflow_home(bench_settings)
    scanned = secrets_scan.scan(
        [settings.work_dir / "logs", settings.work_dir / "staging", settings.work_dir / "state", home], seeded
    )
    data = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**before, "load_average_after": list(harness.machine()["load_average"])},
        "settings": {
            "scale": settings.scale,
            "rates": list(settings.rates),
            "kills": settings.kills,
            "record_kills": settings.record_kills,
            "repetitions": settings.repetitions,
            "max_runs": settings.max_runs,
            "write_latency_ms": settings.write_latency_ms,
            "flows": [f.dag_id for f in flows],
        },
        "notes": notes,
        "trials": trials,
        "secrets": scanned,
        "suites": tests,
        "corpus": suites.corpus_cases(),
    }
    data["totals"] = {**report.totals(trials), "secrets_found": len(scanned["found"])}
    return data


def from_progress(work: Path, notes: list[str], settings: dict[str, Any]) -> dict[str, Any]:
    """The report of the trials finished so far under ``work`` (one folder per flow, or one flow's folder)."""
    folders = sorted({p.parent for p in work.rglob("trials.jsonl")})
    trials = [json.loads(line) for f in folders for line in (f / "trials.jsonl").read_text().splitlines()]
    seeded: dict[str, str] = {}
    for folder in folders:
        info_path = folder / "sandbox" / "sandbox.json"
        books = next(iter(sorted(folder.glob("books-*"))), folder)
        if info_path.exists():
            seeded.update(secrets_scan.seeded_secrets(json.loads(info_path.read_text()), books))
    scanned = secrets_scan.scan(
        [d for f in folders for d in (f / "logs", f / "staging", f / "state", f / "airflow-home")], seeded
    )
    data = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": harness.machine(),
        "settings": {**settings, "flows": sorted({t["flow"] for t in trials})},
        "notes": notes,
        "trials": trials,
        "secrets": scanned,
    }
    data["totals"] = {**report.totals(trials), "secrets_found": len(scanned["found"])}
    return data


def _short(c: dict[str, Any]) -> str:
    keys = ("duplicates", "lost", "differing", "extra", "links_missing", "links_extra", "unexplained")
    return (
        ("converged" if c.get("converged") else "NOT converged")
        + " ("
        + ", ".join(f"{k} {c.get(k, '-')}" for k in keys)
        + ")"
    )


def _side_by_side(args: argparse.Namespace, argv: list[str]) -> int:
    """One child per flow (own sandboxes, Airflow home and work folder), then one merged report."""
    import json
    import subprocess

    flows = [f.dag_id for f in flows_mod.selected(args.dags)]
    rest = _without(argv, ("--jobs", "--dags", "--work-dir", "--out"))
    work = args.work_dir.resolve()
    children: list[tuple[Path, subprocess.Popen[bytes]]] = []
    pending = list(flows)
    code = 0
    while pending or children:
        while pending and len(children) < args.jobs:
            dag_id = pending.pop(0)
            folder = work / dag_id
            folder.mkdir(parents=True, exist_ok=True)
            cmd = [
                sys.executable,
                "-m",
                "bench.chaos",
                *rest,
                "--dags",
                dag_id,
                "--work-dir",
                str(folder),
                "--no-suites",
            ]
            cmd += ["--out", str(folder)]
            children.append((folder, subprocess.Popen(cmd, cwd=harness.ROOT)))
        folder, proc = children.pop(0)
        code = max(code, proc.wait())
        (work / "done").mkdir(exist_ok=True)
        (work / "done" / folder.name).write_text(str(proc.returncode))
    parts = [
        json.loads((work / d / "reliability.json").read_text())
        for d in flows
        if (work / d / "reliability.json").exists()
    ]
    data = report.merge(parts)
    print("Running the bad-input corpus, security and fault-kind suites ...", flush=True)
    data["suites"] = suites.run(work)
    data["corpus"] = suites.corpus_cases()
    report.write(args.out, data)
    print(f"Wrote {args.out / 'RELIABILITY.md'} and {args.out / 'reliability.json'}: {data['totals']}")
    return code


def _without(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``argv`` minus the named options and their values."""
    out: list[str] = []
    skipping = False
    for arg in argv:
        if arg.startswith("--"):
            skipping = arg.split("=", 1)[0] in options
            if skipping:
                continue
        elif skipping:
            continue
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--rates", nargs="*", type=float, default=[0.05, 0.10, 0.20])
    parser.add_argument("--kills", type=int, default=20, help="random kills in the load, per flow")
    parser.add_argument("--repetitions", type=int, default=3, help="fault runs per rate, per flow")
    parser.add_argument("--no-suites", action="store_true", help="skip the pytest suites (corpus, security)")
    parser.add_argument("--no-partial", action="store_true", help="skip the every-batch-partial scenario")
    parser.add_argument("--record-kills", type=int, default=2, help="kills between the load and the ledger write")
    parser.add_argument("--dags", nargs="*")
    parser.add_argument("--note", action="append", default=[])
    parser.add_argument("--work-dir", type=Path, default=harness.ROOT / ".chaos")
    parser.add_argument("--out", type=Path, default=harness.ROOT)
    parser.add_argument("--jobs", type=int, default=1, help="flows run side by side, each with its own sandboxes")
    parser.add_argument(
        "--report-from",
        type=Path,
        help="write the report from the trials a run (maybe cut short) kept in this work folder, without running",
    )
    args = parser.parse_args(argv)
    if args.report_from:
        shown = {"scale": args.scale, "rates": list(args.rates), "kills": args.kills, "repetitions": args.repetitions,
                 "record_kills": args.record_kills}  # fmt: skip
        data = from_progress(args.report_from.resolve(), args.note, shown)
        if not args.no_suites:
            data["suites"] = suites.run(args.report_from.resolve())
        data["corpus"] = suites.corpus_cases()
        report.write(args.out, data)
        print(f"Wrote {args.out / 'RELIABILITY.md'} and {args.out / 'reliability.json'}: {data['totals']}")
        return 0
    if args.jobs > 1:
        return _side_by_side(args, argv or sys.argv[1:])
    settings = ChaosSettings(
        scale=args.scale,
        rates=tuple(args.rates),
        kills=args.kills,
        record_kills=args.record_kills,
        repetitions=args.repetitions,
        partial=not args.no_partial,
        suites=not args.no_suites,
        work_dir=args.work_dir.resolve(),
        dag_ids=args.dags,
    )
    data = run(settings, args.note, say=lambda m: print(m, flush=True))
    report.write(args.out, data)
    print(f"Wrote {args.out / 'RELIABILITY.md'} and {args.out / 'reliability.json'}: {data['totals']}")
    t = data["totals"]
    bad = sum(t[k] for k in ("duplicates", "lost", "differing", "extra", "links_missing", "links_extra",
                             "not_converged", "secrets_found"))  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
