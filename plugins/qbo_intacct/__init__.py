"""QuickBooks Online <-> Sage Intacct sync: the Airflow provider package.

``get_provider_info`` is the ``apache_airflow_provider`` entry point. It declares the two
connection types with declarative ``conn-fields`` (Airflow 3.2+), secrets marked ``format: password``
so the UI masks them. It must stay import-light: Airflow calls it while building the provider list.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _text(label: str, description: str, *, secret: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    return {"label": label, "description": description, "schema": schema}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "qbo-intacct",
        "name": "QuickBooks Online <-> Sage Intacct",
        "description": "Sync QuickBooks Online and Sage Intacct books, with period-end reconciliation.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "quickbooks",
                "hook-class-name": "qbo_intacct.hooks.quickbooks.QuickBooksHook",
                "hook-name": "QuickBooks Online",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "host"],
                    "relabeling": {"login": "Client ID", "password": "Client Secret"},
                    "placeholders": {"extra": '{"minor_version": 75}'},
                },
                "conn-fields": {
                    "realm_id": _text("Realm ID", "The QuickBooks company (realm) id."),
                    "environment": {
                        "label": "Environment",
                        "description": "Production (your live company) or Sandbox (an Intuit developer sandbox "
                        "company). Ignored when an API base URL override is set.",
                        # An enum renders as a dropdown in the connection form: no free text to mistype.
                        "schema": {"type": "string", "enum": ["production", "sandbox"], "default": "production"},
                    },
                    "refresh_token": _text(
                        "Initial refresh token",
                        "From the OAuth playground or your app's consent flow. Rotated tokens are kept "
                        "encrypted in the state database; paste a new one here to re-authorise.",
                        secret=True,
                    ),
                    "base_url": _text("API base URL override", "Leave empty for Intuit. For the local sandbox."),
                    "token_url": _text("Token URL override", "Leave empty for Intuit. For the local sandbox."),
                },
            },
            {
                "connection-type": "intacct",
                "hook-class-name": "qbo_intacct.hooks.intacct.IntacctHook",
                "hook-name": "Sage Intacct",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "host"],
                    "relabeling": {"login": "User ID", "password": "User password"},
                },
                "conn-fields": {
                    "sender_id": _text("Sender ID", "Your Web Services sender id."),
                    "sender_password": _text("Sender password", "Your Web Services sender password.", secret=True),
                    "company_id": _text("Company ID", "The Intacct company id."),
                    "entity_id": _text("Default entity", "Entity (LOCATIONENTITY id) to act in; empty = top level."),
                    "endpoint_url": _text("Endpoint override", "Leave empty for api.intacct.com."),
                    "timezone": _text(
                        "Company timezone", "IANA name, e.g. America/Los_Angeles (WHENMODIFIED has none)."
                    ),
                },
            },
        ],
    }
