"""Both sandboxes for a benchmark: started once per scale on free loopback ports, driven by their admin routes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.limits import ApiLimits

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Admin:
    """One sandbox's ``/_sandbox`` routes (docs/architecture.md, "Sandboxes: process and admin contract")."""

    system: str
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return self.info["admin_url"]

    def reset(self, snapshot: Path) -> None:
        requests.post(f"{self.url}/reset", json={"snapshot": str(snapshot)}, timeout=600).raise_for_status()

    def latency(self, latency_ms: int) -> None:
        """Every request to this sandbox waits ``latency_ms`` before it is served (the 'latency' fault)."""
        rules = [{"kind": "latency", "latency_ms": latency_ms}] if latency_ms > 0 else []
        requests.put(f"{self.url}/faults", json={"rules": rules}, timeout=30).raise_for_status()

    def limits(self) -> ApiLimits:
        r = requests.patch(f"{self.url}/config", json={}, timeout=30)
        r.raise_for_status()
        return ApiLimits.from_config(r.json()["limits"])

    def reset_counters(self) -> None:
        requests.post(f"{self.url}/counters/reset", timeout=30).raise_for_status()

    def counters(self) -> dict[str, Any]:
        r = requests.get(f"{self.url}/counters", timeout=30)
        r.raise_for_status()
        return r.json()

    def fresh_refresh_token(self) -> str:
        """A new QuickBooks refresh-token chain, so each fresh token store starts a chain of its own."""
        realm_id = next(iter(self.info["realms"]))
        r = requests.post(f"{self.url}/qbo/authorize", json={"realm_id": realm_id}, timeout=30)
        r.raise_for_status()
        return r.json()["refresh_token"]


@contextmanager
def running(state_dir: Path, books: Path) -> Iterator[dict[str, Any]]:
    """Serve ``books`` from both sandboxes for the block; yields ``sandbox.json``; always stops them."""
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / "sandbox.json"
    info_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "include.sandbox", "serve", "--system", "both", "--state-dir", str(state_dir)]
    cmd += ["--books", str(books)]
    with open(state_dir / "sandbox.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        info = None
        while info is None:  # the file may exist a moment before its content is written
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandboxes did not start; see {state_dir / 'sandbox.log'}")
            time.sleep(0.1)
            with suppress(FileNotFoundError, json.JSONDecodeError):
                info = json.loads(info_path.read_text())
        yield info
    finally:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
