"""The few calls of Airflow's stable REST API (``/api/v2``) the receiver makes, as the UI makes them.

Signs in with ``POST /auth/token`` (any auth manager that issues API tokens: the simple one of
docker-compose, FAB, ...) when a user is configured; without one it calls unauthenticated, which
only an all-admins local Airflow (``make airflow``) accepts. The token is renewed on a 401.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)


class AirflowApiError(Exception):
    """Airflow refused or could not be reached; the message says which call and why (no secret)."""


@dataclass
class DagState:
    exists: bool
    is_paused: bool = False


@dataclass
class AirflowApi:
    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    _token: str | None = field(default=None, repr=False)
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    def dag(self, dag_id: str) -> DagState:
        response = self._call("GET", f"/api/v2/dags/{quote(dag_id, safe='')}", ok=(200, 404))
        if response.status_code == 404:
            return DagState(exists=False)
        return DagState(exists=True, is_paused=bool(response.json().get("is_paused")))

    def has_queued_run(self, dag_id: str) -> bool:
        """A run that has not started yet reads every change made before it starts: no need for another."""
        response = self._call(
            "GET", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", params={"state": "queued", "limit": 1}
        )
        return int(response.json().get("total_entries") or 0) > 0

    def trigger(self, dag_id: str, *, run_id: str, note: str) -> str:
        body = {"dag_run_id": run_id, "logical_date": None, "note": note}
        response = self._call("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", json=body)
        return str(response.json()["dag_run_id"])

    # -- plumbing ----------------------------------------------------------------------------------

    def _sign_in(self) -> None:
        try:
            response = self._session.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise AirflowApiError(f"cannot reach Airflow at {self.base_url}: {type(exc).__name__}") from None
        if response.status_code not in (200, 201):
            raise AirflowApiError(
                f"Airflow refused the sign-in of user {self.username!r} (HTTP {response.status_code}): check "
                "QBO_WEBHOOK_AIRFLOW_USER / QBO_WEBHOOK_AIRFLOW_PASSWORD"
            )
        self._token = str(response.json()["access_token"])

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> requests.Response:
        for attempt in (1, 2):
            if self.username and self._token is None:
                self._sign_in()
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            try:
                response = self._session.request(
                    method, f"{self.base_url}{path}", headers=headers, timeout=self.timeout, **kwargs
                )
            except requests.RequestException as exc:
                raise AirflowApiError(f"cannot reach Airflow at {self.base_url}: {type(exc).__name__}") from None
            if response.status_code == 401 and self.username and attempt == 1:
                self._token = None  # expired: sign in again once
                continue
            if response.status_code not in ok:
                raise AirflowApiError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
            return response
        raise AirflowApiError(f"{method} {path}: still unauthorised after signing in again")
