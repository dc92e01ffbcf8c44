"""Turn a running sandbox's ``sandbox.json`` into Airflow connections.

Used by ``make demo``, ``make airflow`` and the test fixtures, so every entry point connects the
hooks to the sandboxes the same way a deployment connects them to the real services: through
``AIRFLOW_CONN_*`` values, never through code.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any


def airflow_connections(info: dict[str, Any], *, state_db: Path | None = None) -> dict[str, dict[str, Any]]:
    """Connection id -> Airflow connection JSON for the sandboxes described by ``info``."""
    conns: dict[str, dict[str, Any]] = {}
    if "qbo" in info:
        qbo = info["qbo"]
        realm_id, realm = next(iter(qbo["realms"].items()))
        conns["quickbooks_default"] = {
            "conn_type": "quickbooks",
            "login": qbo["client_id"],
            "password": qbo["client_secret"],
            "extra": {
                "realm_id": realm_id,
                "environment": "sandbox",
                "base_url": qbo["base_url"],
                "token_url": qbo["token_url"],
                "refresh_token": realm["refresh_token"],
            },
        }
    if "intacct" in info:
        ia = info["intacct"]
        conns["intacct_default"] = {
            "conn_type": "intacct",
            "login": ia["user_id"],
            "password": ia["user_password"],
            "extra": {
                "sender_id": ia["sender_id"],
                "sender_password": ia["sender_password"],
                "company_id": ia["company_id"],
                "endpoint_url": ia["endpoint_url"],
                "timezone": ia.get("timezone", "America/Los_Angeles"),
            },
        }
    if state_db is not None:
        conns["qbo_intacct_state"] = {"conn_type": "sqlite", "host": str(state_db)}
    return conns


def env_exports(conns: dict[str, dict[str, Any]]) -> str:
    """Shell ``export`` lines (for ``eval`` in make recipes); values are quoted, never echoed."""
    return "\n".join(
        f"export AIRFLOW_CONN_{conn_id.upper()}={shlex.quote(json.dumps(conn))}" for conn_id, conn in conns.items()
    )


if __name__ == "__main__":
    sandbox_json, state_db = Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None
    print(env_exports(airflow_connections(json.loads(sandbox_json.read_text()), state_db=state_db)))
