"""The health check's messages for every failure the set-up can produce, checked against the sandboxes.

Each case breaks one thing in a connection as people do when setting up (a pasted secret with a
typo, a missing company ID, the wrong company, an unreachable host) and runs the health check's
QuickBooks or Intacct check in-process over real HTTP. The message must say in plain words what is
wrong and what to do, name the connection, keep the technical detail for the Airflow admin, and
never print a secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Sandbox, environ, private_token_store

QBO = "AIRFLOW_CONN_QUICKBOOKS_DEFAULT"
STATE = "AIRFLOW_CONN_QBO_INTACCT_STATE"  # broken as the QuickBooks check meets it
INTACCT = "AIRFLOW_CONN_INTACCT_DEFAULT"
Change = Callable[[dict[str, Any]], Any] | None

#: case -> (connection variable, how it is broken, plain words the message must hold, what to do)
CASES: dict[str, tuple[str, Change, str, str]] = {
    "qbo connection missing": (QBO, None, "the sync has no QuickBooks connection yet", "Airflow administrator creates"),
    "qbo company id missing": (
        QBO,
        lambda c: c["extra"].pop("realm_id"),
        "it lacks the company ID",
        "Billing & subscription",
    ),
    "qbo client secret wrong": (
        QBO,
        lambda c: c.update(password="a-typo-in-the-secret"),
        "does not recognise the app's client ID or client secret",
        "Keys and credentials",
    ),
    "qbo client id wrong": (
        QBO,
        lambda c: c.update(login="another-app"),
        "does not recognise the app's client ID or client secret",
        "Keys and credentials",
    ),
    "qbo sign-in revoked": (
        QBO,
        lambda c: c["extra"].update(refresh_token="AB11revoked-or-expired"),
        "no longer accepts the sync's sign-in",
        "python -m qbo_intacct.authorize_quickbooks",
    ),
    "qbo never connected": (
        QBO,
        lambda c: c["extra"].pop("refresh_token"),
        "has not been connected to the sync yet",
        "python -m qbo_intacct.authorize_quickbooks",
    ),
    "qbo other company": (
        QBO,
        lambda c: c["extra"].update(realm_id="123145999999"),
        "not the QuickBooks company the sync was connected to",
        "realm_id",
    ),
    "qbo environment typo": (
        QBO,
        lambda c: c["extra"].update(environment="prod"),
        "names an unknown environment",
        "production",
    ),
    "qbo unreachable": (
        QBO,
        lambda c: c["extra"].update(token_url="http://127.0.0.1:9/oauth2/v1/tokens/bearer"),
        "cannot reach QuickBooks over the network (127.0.0.1:9)",
        "ask IT",
    ),
    "intacct connection missing": (
        INTACCT,
        None,
        "the sync has no Sage Intacct connection yet",
        "Airflow administrator creates",
    ),
    "intacct sender password wrong": (
        INTACCT,
        lambda c: c["extra"].update(sender_password="a-typo"),
        "does not accept the Web Services sender ID or sender password",
        "Web Services subscription",
    ),
    "intacct user password wrong": (
        INTACCT,
        lambda c: c.update(password="a-typo"),
        "does not accept the Web Services user, its password or the company ID",
        "Web Services users",
    ),
    "intacct company id wrong": (
        INTACCT,
        lambda c: c["extra"].update(company_id="ANOTHER-COMPANY"),
        "does not accept the Web Services user, its password or the company ID",
        "company ID you sign in with",
    ),
    "intacct default entity unknown": (
        INTACCT,
        lambda c: c["extra"].update(entity_id="NOPE"),
        "default entity does not exist in Intacct",
        "Entity access",
    ),
    "ledger database down, quickbooks": (
        STATE,
        lambda c: c.update(conn_type="postgres", host="127.0.0.1", port=9, login="sync", password="pw-1234"),
        "the sync cannot open its own database",
        "qbo_intacct database airflow-init creates",
    ),
}


def _secrets(conn: dict[str, Any]) -> list[str]:
    values = [conn.get("password") or ""]
    extra = conn.get("extra") or {}
    values += [str(v) for k, v in extra.items() if any(w in k for w in ("password", "token", "secret"))]
    return [v for v in values if len(v) > 4]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_setup_failure_is_explained_in_plain_words(
    sandboxes: dict[str, Sandbox], tmp_path: Path, case: str
) -> None:
    from qbo_intacct.health import HealthCheckError, check_intacct, check_quickbooks

    variable, change, problem, action = CASES[case]
    # A refresh-token chain and ledger of this test's own: the session's bootstrap token may have
    # been spent by whatever ran before on this worker, which would answer invalid_grant instead.
    env = private_token_store(sandboxes, tmp_path / "s.db")
    session_value = os.environ[variable]
    original = json.loads(env.get(variable) or session_value)
    broken = json.loads(json.dumps(original))
    if change is not None:
        change(broken)
        env[variable] = json.dumps(broken)
    else:
        env.pop(variable, None)
        os.environ.pop(variable)
    try:
        with environ(env), pytest.raises(HealthCheckError) as failed:
            (check_quickbooks if variable in (QBO, STATE) else check_intacct)()
    finally:
        os.environ[variable] = session_value
    message = str(failed.value)
    quickbooks = variable in (QBO, STATE)
    system = "QuickBooks connection 'quickbooks_default'" if quickbooks else "Intacct connection 'intacct_default'"
    assert message.startswith(f"{system}: "), message
    assert problem in message.split("What to do: ", 1)[0], message  # the plain words come first
    assert "What to do: " in message
    assert action in message.split("What to do: ", 1)[1]
    assert "Technical detail: " in message  # for the Airflow administrator
    for secret in _secrets(original) + _secrets(broken):
        assert secret not in message


def test_a_healthy_setup_passes_both_checks(sandboxes: dict[str, Sandbox]) -> None:
    from qbo_intacct.health import check_intacct, check_quickbooks

    assert check_quickbooks().lines()[0].startswith("QuickBooks Online (quickbooks_default): OK")
    assert check_intacct().lines()[0].startswith("Sage Intacct (intacct_default): OK")
