"""The connection forms the UI shows, and how the UI's Test button reaches the hooks.

Both hooks now subclass the HTTP provider's ``HttpHook``; the forms must keep their fields (they
come from ``get_provider_info``'s declarative ``conn-fields``, read by Airflow's ProvidersManager,
the same place the API server reads them for the UI), and the hooks must not bring back the
deprecated form methods (``HttpHook`` defines none).
"""

from __future__ import annotations

import warnings

import pytest
from airflow.providers.http.hooks.http import HttpHook
from airflow.providers_manager import ProvidersManager

from qbo_intacct.hooks.intacct import IntacctHook
from qbo_intacct.hooks.quickbooks import QuickBooksHook

FORMS = {
    "quickbooks": (
        {"base_url", "environment", "realm_id", "refresh_token", "token_url"},
        {"login": "Client ID", "password": "Client Secret"},
    ),
    "intacct": (
        {"company_id", "endpoint_url", "entity_id", "sender_id", "sender_password", "timezone"},
        {"login": "User ID", "password": "User password"},
    ),
}


@pytest.fixture(scope="module")
def providers() -> ProvidersManager:
    return ProvidersManager()


@pytest.mark.parametrize("conn_type", sorted(FORMS))
def test_the_connection_form_keeps_its_fields_and_labels(providers: ProvidersManager, conn_type: str) -> None:
    fields, labels = FORMS[conn_type]
    widgets = {name.split("__", 2)[2] for name in providers.connection_form_widgets if f"__{conn_type}__" in name}
    behaviour = providers.field_behaviours[conn_type]
    assert widgets == fields
    assert behaviour["relabeling"] == labels
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "host"}


@pytest.mark.parametrize("hook_class", [QuickBooksHook, IntacctHook])
def test_both_hooks_are_http_provider_hooks_with_their_own_connection_type(hook_class: type) -> None:
    assert issubclass(hook_class, HttpHook)
    assert hook_class.conn_type in FORMS
    assert "get_ui_field_behaviour" not in vars(hook_class)
    assert "get_connection_form_widgets" not in vars(hook_class)


def test_the_ui_builds_each_hook_from_its_connection_id_alone() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qbo = QuickBooksHook(**{QuickBooksHook.conn_name_attr: "some_qbo"})
        intacct = IntacctHook(**{IntacctHook.conn_name_attr: "some_intacct"})
    assert (qbo.quickbooks_conn_id, qbo.http_conn_id) == ("some_qbo", "some_qbo")
    assert (intacct.intacct_conn_id, intacct.http_conn_id) == ("some_intacct", "some_intacct")
