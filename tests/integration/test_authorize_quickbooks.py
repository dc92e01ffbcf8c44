"""``python -m qbo_intacct.authorize_quickbooks`` end to end against the QuickBooks sandbox's consent page.

The command runs as its ``main()`` in a thread (what ``python -m`` runs, without a second interpreter
start). The test plays the person at the browser: it opens the address the command prints, answers the
consent page as a browser submits it, and follows the redirect to the command's own callback. The
command must then have stored the first tokens where every hook reads them, so a hook on a
connection without any refresh token signs in.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import Sandbox, environ


@dataclass
class Authorizing:
    """The command running (in a thread of this process, as ``main()``), and what it said so far."""

    thread: threading.Thread
    url: str
    said: queue.Queue[str]
    printed: list[str]
    result: list[int]

    @property
    def redirect_uri(self) -> str:
        return parse_qs(urlsplit(self.url).query)["redirect_uri"][0]

    @property
    def returncode(self) -> int | None:
        return self.result[0] if self.result else None

    def finish(self) -> str:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the command did not finish"
        while not self.said.empty():
            self.printed.append(self.said.get())
        return "\n".join(self.printed)


def _connection(qbo: dict[str, Any], **extra: str) -> dict[str, Any]:
    realm_id = next(iter(qbo["realms"]))
    site = qbo["admin_url"].removesuffix("/_sandbox")
    return {
        "conn_type": "quickbooks",
        "login": qbo["client_id"],
        "password": qbo["client_secret"],
        "extra": {
            "realm_id": realm_id,
            "environment": "sandbox",
            "base_url": qbo["base_url"],
            "token_url": qbo["token_url"],
            "authorize_url": f"{site}/connect/oauth2",
            **extra,
        },
    }


@pytest.fixture
def conn_env(sandboxes: dict[str, Sandbox], tmp_path: Path) -> dict[str, str]:
    """A connection with no refresh token, and a token store of the test's own."""
    return {
        "AIRFLOW_CONN_QUICKBOOKS_DEFAULT": json.dumps(_connection(sandboxes["qbo"].info)),
        "AIRFLOW_CONN_QBO_INTACCT_STATE": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "state.db")}),
    }


@pytest.fixture
def authorizing(conn_env: dict[str, str]) -> Iterator[Authorizing]:
    from qbo_intacct.authorize_quickbooks import main

    said: queue.Queue[str] = queue.Queue()
    result: list[int] = []
    argv = ["--port", "0", "--no-browser", "--timeout", "120"]
    with environ(conn_env):
        thread = threading.Thread(target=lambda: result.append(main(argv, say=said.put)), daemon=True)
        thread.start()
        printed: list[str] = []
        while not (found := re.search(r"open:\s+(\S+)", printed[-1] if printed else "")):
            printed.append(said.get(timeout=120))  # the command says the consent address before it waits
        running = Authorizing(thread, found.group(1), said, printed, result)
        yield running
        if thread.is_alive():  # a failed test: let the command's wait end (it stops at the first answer)
            with contextlib.suppress(requests.RequestException):
                requests.get(running.redirect_uri, params={"state": "test-ended"}, timeout=10)
            thread.join(timeout=30)


def _form(page: str) -> dict[str, str]:
    """The consent form's fields as a browser submits them (hidden inputs, the checked company)."""
    fields = {name: unescape(value) for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}
    fields.pop("action", None)
    checked = re.search(r'name="realm_id" value="([^"]+)" checked', page)
    assert checked
    fields["realm_id"] = checked.group(1)
    return fields


def test_consent_stores_the_first_refresh_token_where_the_hook_reads_it(
    sandboxes: dict[str, Sandbox], authorizing: Authorizing, conn_env: dict[str, str]
) -> None:
    query = parse_qs(urlsplit(authorizing.url).query)
    assert query["scope"] == ["com.intuit.quickbooks.accounting"]
    assert query["response_type"] == ["code"]
    assert len(query["state"][0]) >= 32
    assert authorizing.redirect_uri.startswith("http://localhost:")

    page = requests.get(authorizing.url, timeout=30)  # the browser opens the consent page
    assert page.status_code == 200
    assert "com.intuit.quickbooks.accounting" in page.text
    site = sandboxes["qbo"].admin.removesuffix("/_sandbox")
    answer = requests.post(f"{site}/connect/oauth2", data={**_form(page.text), "action": "connect"}, timeout=30)
    assert answer.status_code == 200  # redirected to the command's callback, which answered
    assert "Go back to the terminal" in answer.text
    code = parse_qs(urlsplit(answer.url).query)["code"][0]

    output = authorizing.finish()
    assert authorizing.returncode == 0, output
    realm_id = next(iter(sandboxes["qbo"].info["realms"]))
    assert f"Connected company {realm_id}" in output
    assert "Signed in to QuickBooks company" in output

    from qbo_intacct.hooks._qbo_tokens import QboTokenStore, engine_for, state_database_url
    from qbo_intacct.hooks.quickbooks import QuickBooksHook

    with environ(conn_env):
        qbo = sandboxes["qbo"].info
        stored = QboTokenStore(
            engine=engine_for(state_database_url()),
            client_id=qbo["client_id"],
            client_secret=qbo["client_secret"],
            realm_id=realm_id,
            seed_refresh_token="",
        ).stored_refresh_token()
        assert stored
        assert stored not in output  # never printed
        assert code not in output
        # a new hook, on the connection without a refresh token, signs in with the stored one
        info = QuickBooksHook().company_info()
        assert info["CompanyName"]

    # the code worked once: a second exchange is refused
    again = requests.post(
        qbo["token_url"],
        auth=(qbo["client_id"], qbo["client_secret"]),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": authorizing.redirect_uri},
        timeout=30,
    )
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_an_answer_with_another_state_or_a_cancel_is_refused() -> None:
    from qbo_intacct.authorize_quickbooks import AuthorizationError, checked, parse_answer

    ours = "s" * 43
    good = parse_answer(f"http://localhost:8050/callback?code=AB11x&state={ours}&realmId=123")
    assert checked(good, ours) == ("AB11x", "123")
    for address, words in (
        ("/callback?code=AB11x&state=forged&realmId=123", "state does not match this consent"),
        ("/callback?code=AB11x&realmId=123", "state does not match this consent"),
        (f"/callback?error=access_denied&state={ours}", "the connection was cancelled on the consent page"),
        (f"code=AB11x&state={ours}", "no code or no realmId"),  # pasted query without realmId
    ):
        with pytest.raises(AuthorizationError, match=words):
            checked(parse_answer(address), ours)


def test_a_connection_without_refresh_token_and_nothing_stored_says_to_run_the_command(
    conn_env: dict[str, str],
) -> None:
    from qbo_intacct.hooks.quickbooks import QuickBooksAuthError, QuickBooksHook

    with environ(conn_env), pytest.raises(QuickBooksAuthError) as refused:
        QuickBooksHook().company_info()
    message = str(refused.value)
    assert "connection 'quickbooks_default'" in message
    assert "has not been connected to this app yet" in message
    assert "python -m qbo_intacct.authorize_quickbooks" in message


def test_the_sandbox_consent_page_refuses_what_intuit_refuses(sandboxes: dict[str, Sandbox]) -> None:
    qbo = sandboxes["qbo"].info
    site = sandboxes["qbo"].admin.removesuffix("/_sandbox")
    good = {
        "client_id": qbo["client_id"],
        "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting",
        "redirect_uri": "http://localhost:9/callback",
        "state": "s" * 32,
    }
    for change, words in (
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"scope": "openid"}, "invalid_scope"),
        ({"redirect_uri": "http://example.com/callback"}, "redirect_uri"),
        ({"state": ""}, "state is required"),
    ):
        page = requests.get(f"{site}/connect/oauth2", params={**good, **change}, timeout=30)
        assert page.status_code == 400
        assert words in page.text
    cancelled = requests.post(
        f"{site}/connect/oauth2", data={**good, "action": "cancel"}, allow_redirects=False, timeout=30
    )
    assert cancelled.status_code == 302
    assert parse_qs(urlsplit(cancelled.headers["location"]).query) == {
        "error": ["access_denied"],
        "state": [good["state"]],
    }
    connected = requests.post(
        f"{site}/connect/oauth2", data={**good, "action": "connect"}, allow_redirects=False, timeout=30
    )
    code = parse_qs(urlsplit(connected.headers["location"]).query)["code"][0]
    other_redirect = requests.post(
        qbo["token_url"],
        auth=(qbo["client_id"], qbo["client_secret"]),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost:10/callback"},
        timeout=30,
    )
    assert (other_redirect.status_code, other_redirect.json()["error"]) == (400, "invalid_grant")
    assert os.environ.get("AIRFLOW_CONN_QUICKBOOKS_DEFAULT")  # the session's connection is untouched
