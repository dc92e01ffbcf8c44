"""The chaos scenarios over the benchmark's machinery: the same seeded books, sandboxes, private Airflow
home and ``airflow dags test`` children as ``make bench`` (bench.harness), with faults and kills.

Per flow (every flow of ``bench/flows.py`` whose DAG exists, so later flows join on their own):

1. ``baseline``: a fault-free first sync from the seeded books on an empty ledger; its end state
   (both systems' records, the ledger's links and open review items) is what every other scenario
   must reach.
2. ``faults``: the same sync with faults injected on every call of both sandboxes, reads and writes,
   at each rate (default 5%, 10%, 20% of calls): 429 (with ``Retry-After: 1``), 500, 503, connection
   resets, lost responses after the write committed, gateway timeouts (504 after the commit), the
   access token / Intacct session expiring, and partial failures inside a write batch. Airflow's task
   retries run as configured; a run that fails is run again, as an operator would, and the flow's next
   run picks up what a partial failure refused, until the books equal the baseline (at most
   ``max_runs`` runs).
3. ``crashes``: the worker (the ``dags test`` child's process group) is killed with SIGKILL at a random
   point of a random load task, then the DAG is run again; plus kills at the start of ``record``
   (the load wrote, the ledger does not know it yet). Writes carry a small latency so kills land
   inside requests as well as between them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import harness
from bench.chaos.books import EndState, compare, read_end_state
from bench.flows import BenchFlow

ROOT = harness.ROOT
LOAD_TASKS = ("load_intacct", "load_qbo")
#: Every fault kind injected in the fault runs (include/sandbox/common.py documents each one).
FAULT_KINDS = ("429", "500", "503", "reset", "lost_response", "gateway_timeout", "expire_session", "partial")
WRITE_OPERATIONS = {"qbo": ("batch", "create", "update"), "intacct": ("create", "update")}


@dataclass
class ChaosSettings:
    scale: str = "demo"
    rates: tuple[float, ...] = (0.05, 0.10, 0.20)
    kills: int = 20
    suites: bool = True  # the pytest suites (corpus, security, fault kinds) for the report
    partial: bool = True  # the scenario where every many-item write of a run is applied in part
    repetitions: int = 3  # fault runs per rate (a run makes a few dozen calls: one run draws few faults)
    record_kills: int = 2
    max_runs: int = 5
    seed: int = 13
    work_dir: Path = ROOT / ".chaos"
    dag_ids: list[str] | None = None
    write_latency_ms: int = 150
    run_timeout_s: float = 1800.0


@dataclass
class Trial:
    """One scenario on one flow: the runs it took and how its end state compares with the baseline."""

    flow: str
    scenario: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    faults_injected: int = 0
    kills: int = 0
    comparison: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "scenario": self.scenario,
            "runs": self.runs,
            "faults_injected": self.faults_injected,
            "kills": self.kills,
            "comparison": self.comparison,
            "note": self.note,
            "faults_by_kind": self.by_kind,
        }


def _running(markers: Path) -> str:
    """The tasks a markers file shows as started and not finished (where a kill landed)."""
    running: list[str] = []
    for line in markers.read_text().splitlines() if markers.exists() else []:
        _, event, task = line.split(" ", 2)
        if event == "start":
            running.append(task)
        elif task in running:
            running.remove(task)
    return ", ".join(running)


def _fault_rules(rate: float, system: str, seed_offset: int) -> list[dict[str, Any]]:
    """Rules whose combined firing probability per call is ``rate`` (each kind equally likely)."""
    kinds = [k for k in FAULT_KINDS]
    per_kind = 1.0 - (1.0 - rate) ** (1.0 / len(kinds))
    rules: list[dict[str, Any]] = []
    for kind in kinds:
        if kind == "partial":
            for op in WRITE_OPERATIONS[system]:
                rules.append({"kind": kind, "operation": op, "rate": per_kind})
            continue
        rule: dict[str, Any] = {"kind": kind, "rate": per_kind}
        if kind == "429":
            rule["retry_after"] = 1
        rules.append(rule)
    return rules


def _write_latency(system: str, latency_ms: int) -> list[dict[str, Any]]:
    return [{"kind": "latency", "operation": op, "latency_ms": latency_ms} for op in WRITE_OPERATIONS[system]]


def put_faults(admin: harness.Admin, rules: list[dict[str, Any]]) -> None:
    import requests

    requests.put(f"{admin.url}/faults", json={"rules": rules}, timeout=30).raise_for_status()


def fired(admin: harness.Admin) -> int:
    import requests

    rules = requests.get(f"{admin.url}/faults", timeout=30).json()["rules"]
    return sum(int(r["fired"]) for r in rules if r["kind"] != "latency")


class Chaos:
    """The running sandboxes, the seeded books and a private Airflow home, for every scenario."""

    def __init__(self, settings: ChaosSettings, ctx: harness.Context) -> None:
        self.settings = settings
        self.ctx = ctx
        self.rng = random.Random(settings.seed)
        self.state_db = ctx.settings.work_dir / "state" / "qbo_intacct_state.db"
        self.secrets: set[str] = set()

    # ------------------------------------------------------------------ one DAG run
    def fresh(self, flow: BenchFlow | None = None) -> dict[str, str]:
        """Seeded books, empty ledger and token store, faults cleared; the flows ``flow`` builds on
        (``BenchFlow.before``: customers before invoices) run first, fault-free, as in ``make bench``."""
        harness._reset_books(self.ctx)
        env = harness._fresh_state(self.ctx)
        conn = json.loads(env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
        self.secrets.add(conn["extra"]["refresh_token"])
        if flow is not None and getattr(flow, "before", ()):
            harness._run_before(self.ctx, flow, env, f"{flow.dag_id}-chaos")
        return env

    def run_dag(
        self, flow: BenchFlow, env: dict[str, str], label: str, *, kill: tuple[str, float] | None = None
    ) -> dict[str, Any]:
        """One ``airflow dags test`` child in a session of its own; ``kill=(task_id, delay_s)`` SIGKILLs
        its process group ``delay_s`` after that task starts."""
        logs = self.ctx.logs
        markers = logs / f"{label}.markers"
        markers.unlink(missing_ok=True)
        metrics = logs / f"{label}.tasks.jsonl"
        metrics.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "bench.chaos.airflow_run", "dags", "test", flow.dag_id]
        cmd += ["--mark-success-pattern", harness.MARK_SUCCESS_PATTERN]
        run_env = {**env, "CHAOS_TASK_MARKERS": str(markers), "BENCH_TASK_METRICS": str(metrics)}
        started = time.monotonic()
        killed_at: str | None = None
        with open(logs / f"{label}.log", "w") as log:
            proc = subprocess.Popen(
                cmd, env=run_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            if kill is not None:
                killed_at = self._kill_when(proc, markers, *kill)
            try:
                proc.wait(timeout=self.settings.run_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        tasks = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
        return {
            "label": label,
            "ok": proc.returncode == 0,
            "killed": killed_at,
            "wall_s": round(time.monotonic() - started, 1),
            "tasks": {t["task_id"]: {"state": t["state"], "wall_s": t["wall_s"]} for t in tasks},
        }

    @staticmethod
    def _kill_when(proc: subprocess.Popen[bytes], markers: Path, task_id: str, delay_s: float) -> str | None:
        needle = f" start {task_id}"
        while proc.poll() is None:
            if markers.exists() and needle in markers.read_text():
                time.sleep(delay_s)
                if proc.poll() is not None:
                    return None
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return f"{delay_s:.2f} s after {task_id} started, during {_running(markers) or 'no task'}"
            time.sleep(0.005)
        return None

    def fired_by_kind(self) -> dict[str, int]:
        import requests

        out: dict[str, int] = {}
        for system, admin in self.ctx.admins.items():
            for rule in requests.get(f"{admin.url}/faults", timeout=30).json()["rules"]:
                if rule["kind"] != "latency" and rule["fired"]:
                    key = f"{system} {rule['kind']}"
                    out[key] = out.get(key, 0) + int(rule["fired"])
        return out

    def end_state(self, flow: BenchFlow, label: str) -> EndState:
        return read_end_state(flow, self.ctx.admins, self.state_db, self.ctx.logs / "state" / label)

    # ------------------------------------------------------------------ scenarios
    def baseline(self, flow: BenchFlow) -> tuple[EndState, Trial]:
        env = self.fresh(flow)
        trial = Trial(flow.dag_id, "baseline")
        trial.runs.append(self.run_dag(flow, env, f"{flow.dag_id}-baseline"))
        state = self.end_state(flow, f"{flow.dag_id}-baseline")
        trial.runs.append(self.run_dag(flow, env, f"{flow.dag_id}-baseline-again"))
        again = self.end_state(flow, f"{flow.dag_id}-baseline-again")
        trial.comparison = compare(flow, state, again)
        trial.note = "fault-free first sync, then an unchanged rerun (must change nothing)"
        return state, trial

    def converge(self, flow: BenchFlow, env: dict[str, str], expected: EndState, trial: Trial, label: str) -> None:
        """Run again (as the operator's rerun or the next scheduled run) until the books equal ``expected``."""
        while len(trial.runs) < self.settings.max_runs:
            trial.runs.append(self.run_dag(flow, env, f"{label}-run{len(trial.runs)}"))
            if not trial.runs[-1]["ok"]:
                continue
            trial.comparison = compare(flow, expected, self.end_state(flow, label))
            if trial.comparison["converged"]:
                return
        trial.comparison = compare(flow, expected, self.end_state(flow, label))

    def faults(self, flow: BenchFlow, expected: EndState, rate: float, rep: int = 0) -> Trial:
        env = self.fresh(flow)
        trial = Trial(flow.dag_id, f"faults {rate:.0%}")
        label = f"{flow.dag_id}-faults-{int(rate * 100)}-r{rep}"
        for n, (system, admin) in enumerate(self.ctx.admins.items()):
            put_faults(admin, _fault_rules(rate, system, n))
        trial.runs.append(self.run_dag(flow, env, f"{label}-run0"))
        if trial.runs[-1]["ok"]:
            trial.comparison = compare(flow, expected, self.end_state(flow, label))
        if not trial.comparison.get("converged"):
            self.converge(flow, env, expected, trial, label)
        trial.faults_injected = sum(fired(a) for a in self.ctx.admins.values())
        trial.by_kind = self.fired_by_kind()
        for admin in self.ctx.admins.values():
            put_faults(admin, [])
        return trial

    def partial_writes(self, flow: BenchFlow, expected: EndState) -> Trial:
        """Every many-item write of the first run is applied in part (every second item refused);
        the next runs, fault-free as the next schedule would be, must write the rest exactly once."""
        env = self.fresh(flow)
        trial = Trial(flow.dag_id, "partial batches")
        label = f"{flow.dag_id}-partial"
        for system, admin in self.ctx.admins.items():
            put_faults(admin, [{"kind": "partial", "operation": op} for op in WRITE_OPERATIONS[system]])
        trial.runs.append(self.run_dag(flow, env, f"{label}-run0"))
        trial.faults_injected = sum(fired(a) for a in self.ctx.admins.values())
        trial.by_kind = self.fired_by_kind()
        for admin in self.ctx.admins.values():
            put_faults(admin, [])
        trial.comparison = compare(flow, expected, self.end_state(flow, label))
        trial.note = (
            f"after the partial run: {trial.comparison['lost']} lost, {trial.comparison['links_missing']} links missing"
        )
        if not trial.comparison["converged"]:
            self.converge(flow, env, expected, trial, label)
        return trial

    def crash(self, flow: BenchFlow, expected: EndState, n: int, task_id: str, delay_s: float) -> Trial:
        env = self.fresh(flow)
        trial = Trial(flow.dag_id, "crash in record" if task_id == "record" else "crash in load")
        label = f"{flow.dag_id}-crash-{n}"
        for system, admin in self.ctx.admins.items():
            put_faults(admin, _write_latency(system, self.settings.write_latency_ms))
        trial.runs.append(self.run_dag(flow, env, f"{label}-run0", kill=(task_id, delay_s)))
        trial.kills = 1 if trial.runs[-1]["killed"] else 0
        trial.note = f"SIGKILL at {trial.runs[-1]['killed'] or 'never (run ended first)'}"
        for admin in self.ctx.admins.values():
            put_faults(admin, [])
        self.converge(flow, env, expected, trial, label)
        return trial

    def crash_points(self, flow: BenchFlow, baseline: Trial) -> list[tuple[str, float]]:
        """``kills`` random (load task, delay) points over the baseline's load durations, plus ``record`` kills."""
        tasks = baseline.runs[0]["tasks"]
        loads = [t for t in LOAD_TASKS if t in tasks] or list(LOAD_TASKS)
        points: list[tuple[str, float]] = []
        for _ in range(self.settings.kills):
            task = self.rng.choice(loads)
            span = max(0.3, float(tasks.get(task, {}).get("wall_s", 1.0))) * 1.3 + 0.5
            points.append((task, round(self.rng.uniform(0.0, span), 3)))
        points += [("record", 0.0)] * self.settings.record_kills
        return points
