"""Health checks behind ``qbo_intacct_healthcheck``: can we reach, authenticate and read both systems?

Each check returns a :class:`CheckResult` or raises :class:`HealthCheckError` whose message names the
Airflow connection and the cause ("wrong password", "unknown realm", ...) and never includes a
secret, so a data engineer can fix the connection from the message alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class HealthCheckError(Exception):
    """A check failed; the message names the connection (or file) and the cause."""


@dataclass
class CheckResult:
    name: str
    target: str
    facts: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        facts = ", ".join(f"{k}: {v}" for k, v in self.facts.items())
        return [f"{self.name} ({self.target}): OK" + (f" - {facts}" if facts else "")]


def check_quickbooks(conn_id: str = "quickbooks_default") -> CheckResult:
    """Authenticate (token refresh), then read CompanyInfo and Preferences."""
    from qbo_intacct.hooks.quickbooks import QuickBooksError, QuickBooksHook
    from qbo_intacct.setup_messages import explain_quickbooks

    hook = QuickBooksHook(quickbooks_conn_id=conn_id)
    try:
        info = hook.company_info()  # signs in first: the same call the connection test makes
        prefs = hook.preferences()
    except QuickBooksError as exc:
        raise HealthCheckError(explain_quickbooks(conn_id, exc)) from None
    except Exception as exc:  # a broken connection (missing field, bad URL, unreadable token): say which and why
        raise HealthCheckError(explain_quickbooks(conn_id, exc)) from None
    currency = prefs.get("CurrencyPrefs", {})
    accounting = prefs.get("AccountingInfoPrefs", {})
    return CheckResult(
        "QuickBooks Online",
        conn_id,
        {
            "company": info.get("CompanyName"),
            "home currency": (currency.get("HomeCurrency") or {}).get("value"),
            "multicurrency": currency.get("MultiCurrencyEnabled"),
            "books closed through": accounting.get("BookCloseDate") or "not set",
        },
    )


def check_intacct(conn_id: str = "intacct_default") -> CheckResult:
    """Authenticate (API session), then list the entities with their base currencies."""
    from qbo_intacct.hooks.intacct import IntacctHook
    from qbo_intacct.setup_messages import explain_intacct

    hook = IntacctHook(intacct_conn_id=conn_id)
    try:
        ok, message = hook.test_connection()
        if not ok:
            raise HealthCheckError(explain_intacct(conn_id, message))
        entities = hook.entities()
        default_entity = str(hook.get_connection(conn_id).extra_dejson.get("entity_id") or "")
    except HealthCheckError:
        raise
    except Exception as exc:  # a missing connection, an unreachable host: say which and why
        raise HealthCheckError(explain_intacct(conn_id, exc)) from None
    if default_entity and default_entity not in {str(e.get("LOCATIONID")) for e in entities}:
        raise HealthCheckError(
            explain_intacct(conn_id, f"default entity {default_entity!r} is not among the entities the user can use")
        )
    listed = ", ".join(f"{e.get('LOCATIONID')} ({e.get('CURRENCY')})" for e in entities) or "none (single entity)"
    return CheckResult("Sage Intacct", conn_id, {"entities": listed})


def check_mapping_workbook(path: Path | None = None) -> CheckResult:
    """The finance workbook opens and every table is well formed; counts what it maps.

    Targets are checked against the Lists sheets here; each flow re-checks them against the live
    Intacct lists before it writes anything.
    """
    from qbo_intacct.mappings.loader import WAITING_FOR_TARGET, load_mappings, mapping_workbook_path, waiting_for_target
    from qbo_intacct.mappings.validate import MappingWorkbookError

    resolved = path or mapping_workbook_path()
    try:
        mappings = load_mappings(resolved)
    except MappingWorkbookError as exc:  # its report names sheet, row and column of every problem
        raise HealthCheckError(f"Mapping workbook '{resolved}': {exc}") from None
    return CheckResult(
        "Mapping workbook",
        Path(resolved).name,
        {
            "accounts mapped": len(mappings.accounts),
            "entity routes": len(mappings.routing),
            "record links": len(mappings.record_links),
            WAITING_FOR_TARGET: waiting_for_target(mappings),
        },
    )
