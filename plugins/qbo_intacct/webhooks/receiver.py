"""The webhook receiver: verify, answer Intuit at once, start the affected flows once per burst.

Why each part:

- **Verify first.** A request whose ``intuit-signature`` is not the HMAC of its body with the app's
  verifier token is answered 401 and logged (with the sender's address, never the body): anybody
  can POST to a public URL, and a forged notification must not start runs.
- **Answer fast.** Intuit expects a quick 2xx and retries otherwise; the receiver only parses the
  body and queues the changes before answering. Starting runs happens in the background.
- **Coalesce.** Changes are gathered per DAG for ``coalesce_seconds`` (default 10) after the first
  one; then one run is started for all of them. If the DAG already has a *queued* run (not started
  yet) none is started: that run reads every change made before it starts (its window ends when it
  starts). A *running* run may have read its window already, so one more run is queued behind it
  (the flows allow one active run; Airflow starts the next when it ends). A hundred changes
  therefore start one run, not a hundred, and no change is left unread.
- **Polling stays the safety net.** If Airflow cannot be reached the changes are kept and retried
  at the next window; the flows' own schedule still reads everything changed since their last run,
  so a lost notification delays a change, it never loses it.
- **Why the REST API and not an Asset event**: docs/architecture.md, "Webhooks".
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from qbo_intacct.webhooks.airflow_api import AirflowApi, AirflowApiError
from qbo_intacct.webhooks.intuit import (
    SIGNATURE_HEADER,
    EntityChange,
    NotificationError,
    parse_notifications,
    signature_ok,
)
from qbo_intacct.webhooks.routes import routes_from_env

log = logging.getLogger("qbo_intacct.webhooks")

#: Changes named in a run's note (the rest are counted).
NOTE_EXAMPLES = 5


@dataclass
class ReceiverSettings:
    verifier_token: str = field(repr=False)
    airflow_url: str = "http://localhost:8080"
    airflow_user: str | None = None
    airflow_password: str | None = field(default=None, repr=False)
    coalesce_seconds: float = 10.0
    routes: dict[str, tuple[str, ...]] = field(default_factory=routes_from_env)
    #: Companies this sync serves; notifications for others are ignored. Empty: every company.
    realm_ids: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls) -> ReceiverSettings:
        token = os.environ.get("QBO_WEBHOOK_VERIFIER_TOKEN", "")
        if not token:
            raise SystemExit("QBO_WEBHOOK_VERIFIER_TOKEN is not set: copy the app's verifier token from Intuit")
        realms = os.environ.get("QBO_WEBHOOK_REALM_IDS", "")
        return cls(
            verifier_token=token,
            airflow_url=os.environ.get("QBO_WEBHOOK_AIRFLOW_URL", "http://localhost:8080").rstrip("/"),
            airflow_user=os.environ.get("QBO_WEBHOOK_AIRFLOW_USER") or None,
            airflow_password=os.environ.get("QBO_WEBHOOK_AIRFLOW_PASSWORD") or None,
            coalesce_seconds=float(os.environ.get("QBO_WEBHOOK_COALESCE_SECONDS", "10")),
            realm_ids=frozenset(r.strip() for r in realms.split(",") if r.strip()),
        )


@dataclass
class Stats:
    notifications: int = 0
    refused: int = 0
    malformed: int = 0
    changes: int = 0
    ignored: int = 0
    runs_started: dict[str, int] = field(default_factory=dict)
    left_to_queued_run: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None


class Coalescer:
    """Gathers changes per DAG and starts one run per window (see the module docstring)."""

    def __init__(
        self, api: AirflowApi, window_seconds: float, stats: Stats, *, clock: Callable[[], dt.datetime]
    ) -> None:
        self.api = api
        self.window_seconds = window_seconds
        self.stats = stats
        self._clock = clock
        self._pending: dict[str, list[EntityChange]] = {}
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._missing: set[str] = set()

    def add(self, dag_id: str, changes: list[EntityChange]) -> None:
        with self._lock:
            self._pending.setdefault(dag_id, []).extend(changes)
            self._arm()

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {dag_id: len(changes) for dag_id, changes in self._pending.items()}

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.window_seconds, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush(self) -> None:
        """Start the runs for what was gathered; what could not be started waits for the next window."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending, self._timer = self._pending, {}, None
            failed: dict[str, list[EntityChange]] = {}
            for dag_id, changes in batch.items():
                try:
                    self._start(dag_id, changes)
                except AirflowApiError as exc:
                    self.stats.last_error = str(exc)
                    log.error("could not start %s for %d QuickBooks change(s): %s; retrying", dag_id, len(changes), exc)
                    failed[dag_id] = changes
            if failed:
                with self._lock:
                    for dag_id, changes in failed.items():
                        self._pending.setdefault(dag_id, []).extend(changes)
                    self._arm()

    def _start(self, dag_id: str, changes: list[EntityChange]) -> None:
        state = self.api.dag(dag_id)
        if not state.exists:
            if dag_id not in self._missing:
                self._missing.add(dag_id)
                log.warning("no DAG %s in this Airflow: its QuickBooks changes wait for no run here", dag_id)
            return
        unique = list(dict.fromkeys(changes))
        if self.api.has_queued_run(dag_id):
            self.stats.left_to_queued_run[dag_id] = self.stats.left_to_queued_run.get(dag_id, 0) + 1
            log.info("%d QuickBooks change(s) for %s: a queued run will read them", len(unique), dag_id)
            return
        now = self._clock()
        examples = ", ".join(c.label() for c in unique[:NOTE_EXAMPLES])
        more = f" and {len(unique) - NOTE_EXAMPLES} more" if len(unique) > NOTE_EXAMPLES else ""
        note = f"Started by QuickBooks webhooks: {len(unique)} change(s) ({examples}{more})."
        run_id = self.api.trigger(dag_id, run_id=f"webhook__{now.isoformat(timespec='milliseconds')}", note=note)
        self.stats.runs_started[dag_id] = self.stats.runs_started.get(dag_id, 0) + 1
        paused = " (the DAG is paused: the run waits until it is switched on)" if state.is_paused else ""
        log.info("started %s run %s for %d QuickBooks change(s)%s", dag_id, run_id, len(unique), paused)


def create_app(settings: ReceiverSettings, *, clock: Callable[[], dt.datetime] | None = None) -> FastAPI:
    """The receiver app: ``POST /webhooks/quickbooks``, ``GET /health``, ``GET /status``."""
    stats = Stats()
    api = AirflowApi(settings.airflow_url, settings.airflow_user, settings.airflow_password)
    coalescer = Coalescer(api, settings.coalesce_seconds, stats, clock=clock or (lambda: dt.datetime.now(dt.UTC)))
    app = FastAPI(title="QuickBooks webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.coalescer = coalescer
    app.state.stats = stats

    @app.post("/webhooks/quickbooks")
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        sender = request.client.host if request.client else "unknown"
        if not signature_ok(body, request.headers.get(SIGNATURE_HEADER), settings.verifier_token):
            stats.refused += 1
            log.warning(
                "refused a QuickBooks webhook from %s: the %s header is %s (not signed with this app's verifier token)",
                sender,
                SIGNATURE_HEADER,
                "wrong" if request.headers.get(SIGNATURE_HEADER) else "missing",
            )
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            changes = parse_notifications(body)
        except NotificationError as exc:
            stats.malformed += 1
            log.warning("refused a signed QuickBooks webhook from %s: %s", sender, exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        stats.notifications += 1
        by_dag: dict[str, list[EntityChange]] = {}
        for change in changes:
            if settings.realm_ids and change.realm_id not in settings.realm_ids:
                stats.ignored += 1
                continue
            dag_ids = settings.routes.get(change.entity, ())
            if not dag_ids:
                stats.ignored += 1
            for dag_id in dag_ids:
                by_dag.setdefault(dag_id, []).append(change)
        stats.changes += len(changes)
        for dag_id, dag_changes in by_dag.items():
            coalescer.add(dag_id, dag_changes)
        return JSONResponse({"accepted": len(changes)})

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/status")
    def status() -> dict[str, Any]:
        return {**vars(stats), "pending": coalescer.pending()}

    return app
