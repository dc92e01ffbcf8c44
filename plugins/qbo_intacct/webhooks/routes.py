"""Which flow (DAG) a change to each QuickBooks entity starts.

Only the flows that read the entity: a customer edit starts ``qbo_intacct_customers``, not every
flow. A DAG that does not exist (yet) in this Airflow is skipped with one log line, so the table can
name the planned flows. ``QBO_WEBHOOK_ROUTES`` (JSON ``{"customer": ["dag_id", ...]}``) replaces it.
"""

from __future__ import annotations

import json
import os

DEFAULT_ROUTES: dict[str, tuple[str, ...]] = {
    "customer": ("qbo_intacct_customers",),
    "vendor": ("qbo_intacct_vendors",),
    "invoice": ("qbo_intacct_invoices",),
    "creditmemo": ("qbo_intacct_invoices",),
    "payment": ("qbo_intacct_payments",),
    "bill": ("qbo_intacct_bills",),
    "billpayment": ("qbo_intacct_bill_payments",),
    "journalentry": ("qbo_intacct_journal_entries",),
    # the workbook's lists of QuickBooks values (accounts, classes, departments, terms)
    "account": ("qbo_intacct_refresh_mappings",),
    "class": ("qbo_intacct_refresh_mappings",),
    "department": ("qbo_intacct_refresh_mappings",),
    "term": ("qbo_intacct_refresh_mappings",),
}


def routes_from_env() -> dict[str, tuple[str, ...]]:
    raw = os.environ.get("QBO_WEBHOOK_ROUTES")
    if not raw:
        return dict(DEFAULT_ROUTES)
    parsed = json.loads(raw)
    return {str(entity).lower(): tuple(dag_ids) for entity, dag_ids in parsed.items()}
