"""Run the benchmark for one scale: seed, serve, run each flow's scenarios and the baseline, collect figures.

Per flow and repetition (``runs``, at least 3 for timed figures), from the seeded books each time:
1. ``first``: the first sync, on a fresh ledger;
2. ``unchanged``: the same DAG again at once (goal: no writes, reads of the changed window only);
3. ``changed``: after ``change_fraction`` (1%) of the flow's records were edited on each side.
Then the naive baseline (:mod:`bench.clients`) on the books reset again. Every DAG run is a child
process (``python -m bench.airflow_run dags test``) whose CPU and peak memory come from
``os.wait4``; the split by task comes from :mod:`bench.task_metrics`; calls and transactions come
from the sandboxes' counters, zeroed before each run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import flows as flows_mod
from bench.calls import summarize
from bench.clients import Intacct, edit_fraction, naive_sync
from bench.flows import BenchFlow
from bench.limits import ApiLimits, run_lower_bound, system_lower_bound
from bench.sandboxes import Admin, running
from include.sandbox.connections import airflow_connections
from include.sandbox.intacct.testing import GatewayClient
from include.sandbox.qbo.testing import QboClient

ROOT = Path(__file__).resolve().parent.parent
WORKBOOK = ROOT / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
MARK_SUCCESS_PATTERN = r"review_.*|approve_.*"  # HITL steps `dags test` cannot answer (as in make demo)
DAG_SCENARIOS = ("first", "unchanged", "changed")


@dataclass
class Settings:
    scale: str
    runs: int = 3
    qbo_latency_ms: int = 300
    intacct_latency_ms: int = 600
    work_dir: Path = ROOT / ".bench"
    dag_ids: list[str] | None = None
    change_fraction: float = 0.01
    #: Records per direction the baseline visits; None = all. Its cost per record is constant by
    #: construction (one lookup, one write, one at a time: about a second a record with the default
    #: latencies, hours at 100,000), so a sample is scaled up to the whole books, labelled so in the report.
    baseline_records: int | None = 200
    seed: int = 42
    #: Which runs to measure, in order; "unchanged" and "changed" follow a "first" (the smoke test
    #: runs only "first" and the baseline, to stay under a minute).
    scenarios: tuple[str, ...] = ("first", "unchanged", "changed", "baseline")
    #: An Airflow home migrated already (the test suite's); default: one of its own in work_dir.
    airflow_home: Path | None = None


@dataclass
class Context:
    settings: Settings
    books: Path
    manifest: dict[str, Any]
    info: dict[str, Any]
    admins: dict[str, Admin]
    limits: dict[str, ApiLimits]
    say: Callable[[str], None] = print
    logs: Path = field(init=False)

    def __post_init__(self) -> None:
        self.logs = self.settings.work_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    @property
    def latency_s(self) -> dict[str, float]:
        return {"qbo": self.settings.qbo_latency_ms / 1000, "intacct": self.settings.intacct_latency_ms / 1000}


# ----------------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """What the figures were measured on; the load average shows how busy the machine was."""
    mem_kb = 0
    model = platform.processor() or platform.machine()
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "airflow": version("apache-airflow"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# ----------------------------------------------------------------------------------- set-up


def seed_books(settings: Settings) -> tuple[Path, dict[str, Any]]:
    books = settings.work_dir / f"books-{settings.scale}"
    manifest_path = books / "manifest.json"
    if not manifest_path.exists():  # deterministic for (seed, scale): seeded once, reused
        from include.sandbox.books.generate import generate_books

        generate_books(seed=settings.seed, scale=settings.scale, out=books)
    return books, json.loads(manifest_path.read_text())


def airflow_home(settings: Settings) -> Path:
    return settings.airflow_home or settings.work_dir / "airflow-home"


def base_env(settings: Settings) -> dict[str, str]:
    work = settings.work_dir
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home(settings)),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT": f"file://{work / 'staging'}",
            "AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK": str(work / "mappings" / WORKBOOK.name),
            "GX_ANALYTICS_ENABLED": "False",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]),
        }
    )
    return env


def prepare_airflow(settings: Settings) -> None:
    """A private Airflow home (SQLite), migrated once per work folder, with the product's pools."""
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    (settings.work_dir / "mappings").mkdir(parents=True, exist_ok=True)
    marker = home / ".bench-ready"
    if marker.exists() or settings.airflow_home is not None:
        return
    airflow = str(Path(sys.executable).parent / "airflow")
    for args in (["db", "migrate"], ["pools", "import", str(ROOT / "include" / "pools.json")]):
        result = subprocess.run(
            [airflow, *args], env=base_env(settings), cwd=ROOT, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"`airflow {' '.join(args)}` failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    marker.touch()


# ----------------------------------------------------------------------------------- one DAG run


def _fresh_state(ctx: Context) -> dict[str, str]:
    """Environment for a first sync: an empty ledger and token store, staging emptied, the shipped
    workbook copied, and a QuickBooks refresh-token chain of its own for that new token store."""
    work = ctx.settings.work_dir
    state_db = work / "state" / "qbo_intacct_state.db"
    state_db.parent.mkdir(parents=True, exist_ok=True)
    state_db.unlink(missing_ok=True)
    shutil.rmtree(work / "staging", ignore_errors=True)
    shutil.copyfile(WORKBOOK, work / "mappings" / WORKBOOK.name)
    qbo = dict(ctx.info["qbo"])
    realm_id = next(iter(qbo["realms"]))
    token = ctx.admins["qbo"].fresh_refresh_token()
    qbo["realms"] = {realm_id: {**qbo["realms"][realm_id], "refresh_token": token}}
    env = base_env(ctx.settings)
    for conn_id, conn in airflow_connections({**ctx.info, "qbo": qbo}, state_db=state_db).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def _bounds(ctx: Context, systems: dict[str, dict[str, Any]]) -> dict[str, float]:
    per_system = {
        name: round(
            system_lower_bound(
                figures["calls"], ctx.latency_s[name], ctx.limits[name], batch_calls=figures["batch_requests"]
            ),
            3,
        )
        for name, figures in systems.items()
    }
    return {**per_system, "run": run_lower_bound(per_system)}


def run_dag(ctx: Context, flow: BenchFlow, env: dict[str, str], label: str) -> dict[str, Any]:
    """One ``airflow dags test`` of ``flow`` in a child process, with every figure the report needs."""
    for admin in ctx.admins.values():
        admin.reset_counters()
    metrics = ctx.logs / f"{label}.tasks.jsonl"
    metrics.unlink(missing_ok=True)
    log_path = ctx.logs / f"{label}.log"
    cmd = [sys.executable, "-m", "bench.airflow_run", "dags", "test", flow.dag_id]
    cmd += ["--mark-success-pattern", MARK_SUCCESS_PATTERN]
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, env={**env, "BENCH_TASK_METRICS": str(metrics)}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    tasks: dict[str, dict[str, Any]] = {}
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            row = json.loads(line)
            tasks[row.pop("task_id")] = row
    systems = {name: summarize(name, admin.counters()) for name, admin in ctx.admins.items()}
    bounds = _bounds(ctx, systems)
    summary_path = ctx.settings.work_dir / "staging" / "summaries" / flow.dag_id / "latest.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return {
        "ok": proc.returncode == 0,
        "log": _shown(log_path),
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "task_wall_s": round(sum(t["wall_s"] for t in tasks.values()), 2),
        "tasks": tasks,
        **systems,
        "bound_s": bounds,
        "wall_to_bound": round(wall / bounds["run"], 2) if bounds["run"] else None,
        "product_summary": {k: v for k, v in summary.items() if k not in ("text", "dag_id", "run_id")},
    }


# ----------------------------------------------------------------------------------- scenarios


def _set_latency(ctx: Context, on: bool) -> None:
    ctx.admins["qbo"].latency(ctx.settings.qbo_latency_ms if on else 0)
    ctx.admins["intacct"].latency(ctx.settings.intacct_latency_ms if on else 0)


def _reset_books(ctx: Context) -> None:
    """Both sandboxes back to the seeded books (also clears faults, counters and throttle history)."""
    for name, admin in ctx.admins.items():
        admin.reset(ctx.books / f"{name}.json")


def _clients(ctx: Context) -> tuple[QboClient, Intacct]:
    return QboClient(ctx.info["qbo"]).authorize(), Intacct(GatewayClient(ctx.info["intacct"]))


def flow_repetition(ctx: Context, flow: BenchFlow, rep: int) -> dict[str, Any]:
    """first -> unchanged -> changed (those asked for), from the seeded books and an empty ledger."""
    _reset_books(ctx)
    _set_latency(ctx, on=True)
    env = _fresh_state(ctx)
    tag = f"{flow.dag_id}-{ctx.settings.scale}-r{rep}"
    out: dict[str, Any] = {}
    _run_before(ctx, flow, env, tag)
    for scenario in (s for s in DAG_SCENARIOS if s in ctx.settings.scenarios):
        edited = None
        if scenario == "changed":
            _set_latency(ctx, on=False)  # the edits are set-up, not measured: no need to wait on them
            qbo, intacct = _clients(ctx)
            edited = edit_fraction(flow, qbo, intacct, ctx.settings.change_fraction)
            _set_latency(ctx, on=True)
        out[scenario] = run_dag(ctx, flow, env, f"{tag}-{scenario}")
        if edited is not None:
            out[scenario]["edited"] = edited
        ctx.say(_line(flow, rep, scenario, out[scenario]))
    return out


def _run_before(ctx: Context, flow: BenchFlow, env: dict[str, str], tag: str) -> None:
    """The flows ``flow`` builds on (customers before invoices), run first and not measured."""
    for dag_id in flow.before:
        before = flows_mod.BenchFlow(dag_id, "", "", "")
        result = run_dag(ctx, before, env, f"{tag}-before-{dag_id}")
        if not result["ok"]:
            raise RuntimeError(f"{dag_id} (run before {flow.dag_id}) failed: see {result['log']}")


def baseline_repetition(ctx: Context, flow: BenchFlow, rep: int) -> dict[str, Any]:
    """The naive integration on the seeded books, measured the same way (wall, calls, transactions)."""
    _reset_books(ctx)
    qbo, intacct = _clients(ctx)  # signs in before the clock starts, as a DAG's hooks sign in inside it
    _set_latency(ctx, on=True)
    for admin in ctx.admins.values():
        admin.reset_counters()
    started, cpu0 = time.monotonic(), time.process_time()
    stats = naive_sync(flow, qbo, intacct, ctx.settings.baseline_records)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu0
    systems = {name: summarize(name, admin.counters()) for name, admin in ctx.admins.items()}
    bounds = _bounds(ctx, systems)
    visited = stats.get("records", 0) + stats.get("failed", 0)
    result = {
        "ok": True,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_visited": visited,
        "stats": stats,
        **systems,
        "bound_s": bounds,
        "wall_to_bound": round(wall / bounds["run"], 2) if bounds["run"] else None,
    }
    ctx.say(
        f"   {flow.dag_id} r{rep} baseline: {wall:.1f} s wall, {visited} records, "
        f"{systems['qbo']['calls']} QuickBooks / {systems['intacct']['calls']} Intacct calls, "
        f"{systems['intacct']['api_transactions']} Intacct transactions"
    )
    return result


def _line(flow: BenchFlow, rep: int, scenario: str, m: dict[str, Any]) -> str:
    status = "ok" if m["ok"] else f"FAILED (log: {m['log']})"
    return (
        f"   {flow.dag_id} r{rep} {scenario}: {status}, {m['wall_s']:.1f} s wall (bound {m['bound_s']['run']:.1f} s), "
        f"{m['cpu_s']:.1f} s CPU, {m['peak_rss_mb']:.0f} MB peak, "
        f"{m['qbo']['calls']} QuickBooks / {m['intacct']['calls']} Intacct calls, "
        f"{m['intacct']['api_transactions']} Intacct transactions"
    )


# ----------------------------------------------------------------------------------- medians


def median_of(items: list[Any]) -> Any:
    """The median of same-shaped measurements, leaf by leaf (numbers); other leaves from the first."""
    first = items[0]
    if isinstance(first, bool) or first is None or isinstance(first, str):
        return all(items) if isinstance(first, bool) else first
    if isinstance(first, int | float):
        numbers = [x for x in items if isinstance(x, int | float)]
        value = statistics.median(numbers)
        return round(value, 3) if isinstance(value, float) else value
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for item in items if isinstance(item, dict) for k in item))
        return {k: median_of([item[k] for item in items if isinstance(item, dict) and k in item]) for k in keys}
    return first


def _shown(path: Path) -> str:
    """A path as benchmarks.json keeps it: relative to the checkout when inside it."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def flow_records(manifest: dict[str, Any], flow: BenchFlow) -> dict[str, int]:
    counts = manifest.get("counts", {})
    return {
        "qbo": int(counts.get("qbo", {}).get("by_object", {}).get(flow.qbo_entity, 0)),
        "intacct": int(counts.get("intacct", {}).get("by_object", {}).get(flow.intacct_object, 0)),
    }


def run_scale(settings: Settings, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything for one scale: ``{"machine", "date", "settings", "flows": {dag_id: result}}``."""
    flows = flows_mod.selected(settings.dag_ids)
    if not flows:
        raise RuntimeError("no flow to benchmark (bench/flows.py names none whose DAG exists)")
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    before = machine()
    say(f"Seeding the demo group's books at scale {settings.scale} ...")
    books, manifest = seed_books(settings)
    say("Preparing a private Airflow home ...")
    prepare_airflow(settings)
    results: dict[str, Any] = {}
    with running(settings.work_dir / "sandbox", books) as info:
        admins = {name: Admin(name, info[name]) for name in ("qbo", "intacct")}
        limits = {name: admin.limits() for name, admin in admins.items()}
        ctx = Context(settings, books, manifest, info, admins, limits, say)
        for flow in flows:
            say(f"{flow.dag_id}: {settings.runs} runs of {', '.join(settings.scenarios)}")
            runs: dict[str, list[dict[str, Any]]] = {}
            for rep in range(settings.runs):
                for scenario, measured in flow_repetition(ctx, flow, rep).items():
                    runs.setdefault(scenario, []).append(measured)
            if "baseline" in settings.scenarios and flow.baseline:
                runs["baseline"] = [baseline_repetition(ctx, flow, rep) for rep in range(settings.runs)]
            results[flow.dag_id] = {
                "scale": settings.scale,
                "invoices": int(manifest.get("counts", {}).get("qbo", {}).get("by_object", {}).get("Invoice", 0)),
                "records": flow_records(manifest, flow),
                "limits": {name: asdict(lim) for name, lim in limits.items()},
                "scenarios": {scenario: median_of(measured) for scenario, measured in runs.items()},
                "runs": runs,
                "ok": all(m["ok"] for measured in runs.values() for m in measured),
            }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**before, "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "settings": {k: _shown(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        "flows": results,
    }
