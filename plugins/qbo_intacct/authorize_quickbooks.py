"""Connect a QuickBooks Online company to the sync, once: Intuit's OAuth 2.0 consent from a terminal.

    python -m qbo_intacct.authorize_quickbooks [--conn-id quickbooks_default] [--port 8050]
                                                [--redirect-uri URI] [--no-browser]

Why a command. The sync signs in with a refresh token, and the first one only exists after a person
who administers the QuickBooks company has clicked *Connect* on Intuit's consent page. This
command runs that authorization-code flow (RFC 6749 4.1) against the app named by the Airflow
connection (client id and secret), so nobody copies tokens around:

1. it prints (and opens, unless ``--no-browser``) the consent address: Intuit's authorization
   endpoint with the client id, ``response_type=code``, the scope ``com.intuit.quickbooks.accounting``
   (read and write accounting data: the only scope the sync needs), the redirect URI and a random
   ``state``;
2. it waits for the browser to come back to the redirect URI: by default a one-shot server on this
   machine, ``http://localhost:8050/callback`` (``--port``; 0 takes a free port), which must be
   listed among the app's redirect URIs in the Intuit developer portal. Intuit accepts plain http
   only for localhost on development keys; with production keys register an https address and pass
   it as ``--redirect-uri``: the command then asks you to paste the address the browser landed on;
3. it refuses an answer whose ``state`` differs (it was not for this consent), and a *Cancel*;
4. it exchanges the code for tokens (``grant_type=authorization_code``) and stores them, encrypted,
   in the token store every worker reads (``qbo_oauth_tokens`` in the ``qbo_intacct_state``
   database, see ``hooks/_qbo_tokens.py``); no token is printed. The connection needs no
   ``refresh_token`` then; it needs ``realm_id``, the company the person connected, which the
   command prints (and checks against the connection's);
5. it signs in with the stored token and prints the company's name.

Run it where the workers' database and fernet key are (docker compose: the ``airflow-cli`` service,
README "2. QuickBooks Online: connect the company").
"""

from __future__ import annotations

import argparse
import hmac
import os
import secrets
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

DEFAULT_PORT = 8050
CALLBACK_PATH = "/callback"


class AuthorizationError(Exception):
    """The consent did not give us a usable code; the message says what to do."""


@dataclass
class Answer:
    """What Intuit's consent redirected with."""

    code: str | None
    state: str | None
    realm_id: str | None
    error: str | None


def consent_url(authorize_url: str, *, client_id: str, redirect_uri: str, state: str, scope: str) -> str:
    query = urlencode(
        {"client_id": client_id, "response_type": "code", "scope": scope, "redirect_uri": redirect_uri, "state": state}
    )
    return f"{authorize_url}{'&' if urlsplit(authorize_url).query else '?'}{query}"


def parse_answer(address: str) -> Answer:
    """The redirect's query (``code``, ``state``, ``realmId`` or ``error``) from a URL or its query string."""
    query = urlsplit(address).query if "://" in address or address.startswith("/") else address.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    return Answer(params.get("code"), params.get("state"), params.get("realmId"), params.get("error"))


def checked(answer: Answer, expected_state: str) -> tuple[str, str]:
    """``(code, realm_id)``, or :class:`AuthorizationError` saying why the answer is refused."""
    if not answer.state or not hmac.compare_digest(answer.state, expected_state):
        raise AuthorizationError(
            "the answer's state does not match this consent (an old or forged link): nothing was stored. "
            "Run the command again and use the address it prints"
        )
    if answer.error:
        reason = "the connection was cancelled on the consent page" if answer.error == "access_denied" else answer.error
        raise AuthorizationError(f"QuickBooks did not connect: {reason}. Nothing was stored")
    if not answer.code or not answer.realm_id:
        raise AuthorizationError("the answer has no code or no realmId: nothing was stored. Run the command again")
    return answer.code, answer.realm_id


class _CallbackServer(HTTPServer):
    answer: Answer | None = None
    received: threading.Event


class _Callback(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        if urlsplit(self.path).path != CALLBACK_PATH:
            self.send_error(404)
            return
        self.server.answer = parse_answer(self.path)
        body = b"<html><body><p>Received. Go back to the terminal to see the result; you can close this tab.</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.received.set()

    def log_message(self, format: str, *args: object) -> None:  # the query holds the code: never log it
        return


def _wait_for_callback(server: _CallbackServer, timeout: float) -> Answer:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        if not server.received.wait(timeout):
            raise AuthorizationError(f"no answer from the consent page within {timeout:.0f} s: run the command again")
    finally:
        server.shutdown()
        server.server_close()
    assert server.answer is not None
    return server.answer


def _say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace, say: Callable[[str], None] = _say) -> int:
    from qbo_intacct.hooks.quickbooks import ACCOUNTING_SCOPE, QuickBooksHook

    hook = QuickBooksHook(quickbooks_conn_id=args.conn_id)
    conn = hook.get_connection(args.conn_id)
    if not conn.login or not conn.password:
        raise AuthorizationError(
            f"connection {args.conn_id!r} needs the app's client id (login) and client secret (password) first "
            "(Intuit developer portal, your app, Keys and credentials)"
        )
    state = secrets.token_urlsafe(32)
    server: _CallbackServer | None = None
    redirect_uri = args.redirect_uri
    if not redirect_uri or urlsplit(redirect_uri).hostname in ("localhost", "127.0.0.1"):
        server = _CallbackServer(
            (args.host, args.port if not redirect_uri else urlsplit(redirect_uri).port or 80), _Callback
        )
        server.received = threading.Event()
        redirect_uri = redirect_uri or f"http://localhost:{server.server_address[1]}{CALLBACK_PATH}"
    url = consent_url(
        hook.authorize_url(), client_id=conn.login, redirect_uri=redirect_uri, state=state, scope=ACCOUNTING_SCOPE
    )
    say("Connect QuickBooks Online to the sync.")
    say(f"1. Sign in as an administrator of the QuickBooks company and allow the app; open:\n\n   {url}\n")
    say(f"   (redirect URI: {redirect_uri}; it must be listed on the app's Keys page in the Intuit developer portal)")
    if not args.no_browser:
        webbrowser.open(url)
    if server is not None:
        say(f"2. Waiting for QuickBooks to send the browser back to {redirect_uri} ...")
        answer = _wait_for_callback(server, args.timeout)
    else:
        answer = parse_answer(input("2. Paste the address your browser was sent to: ").strip())
    code, realm_id = checked(answer, state)
    hook.exchange_authorization_code(code=code, redirect_uri=redirect_uri, realm_id=realm_id)
    say(f"3. Connected company {realm_id}; its tokens are stored, encrypted, where every worker reads them.")
    configured = str(conn.extra_dejson.get("realm_id") or "")
    if configured != realm_id:
        say(
            f"   The connection {args.conn_id!r} names company {configured or '(none)'}: set its extra realm_id to "
            f"{realm_id} (or run this again and pick company {configured} on the consent page)."
        )
        return 3 if configured else 0
    company = QuickBooksHook(quickbooks_conn_id=args.conn_id).company_info().get("CompanyName")
    say(f"4. Signed in to QuickBooks company {company!r} ({realm_id}). Run the qbo_intacct_healthcheck DAG next.")
    return 0


def main(argv: list[str] | None = None, say: Callable[[str], None] = _say) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qbo_intacct.authorize_quickbooks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--conn-id", default="quickbooks_default", help="the Airflow connection of the app")
    parser.add_argument(
        "--host",
        default=os.environ.get("QBO_OAUTH_CALLBACK_HOST", "127.0.0.1"),
        help="where the callback listens (0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("QBO_OAUTH_CALLBACK_PORT", DEFAULT_PORT)),
        help="the callback's port (0: any free one)",
    )
    parser.add_argument("--redirect-uri", help="an https redirect URI registered for production keys (paste mode)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the consent")
    parser.add_argument("--no-browser", action="store_true", help="only print the consent address")
    args = parser.parse_args(argv)
    try:
        return run(args, say)
    except AuthorizationError as exc:
        say(f"Not connected: {exc}")
        return 2
    except Exception as exc:  # a hook error names the connection and the cause, never a secret
        from qbo_intacct.hooks.quickbooks import QuickBooksError

        if isinstance(exc, QuickBooksError):
            say(f"Not connected: {exc}")
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
