"""What a failed connection check means, in words a finance admin can act on.

The hooks' errors are precise but written for engineers ("invalid_grant, HTTP 400",
"XL03000006"). The health check is what a finance admin runs after setting the sync up, so each
failure the set-up can produce is turned into three parts: what is wrong (plain words), what to
do and who does it (where to click), and the technical detail for whoever administers Airflow.
Never a secret: the technical detail is the hook's message, which names connections, hosts and
error codes only.

Failures covered (tests/integration/test_setup_messages.py): the sync's own database
(``qbo_intacct_state``) cannot be opened; the connection is missing or incomplete; QuickBooks
refuses the app's keys, or the company's sign-in (expired, revoked, never connected), or the
company id; Intacct refuses the Web Services sender, the sender is not
authorised for the company, Intacct refuses the user, the company id or the default entity; the
network cannot reach either system; this Airflow cannot read the saved QuickBooks sign-in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

QBO_KEYS_PLACE = "the Intuit developer portal (your app, Keys and credentials; production keys for a live company)"
CONNECT_QBO = (
    "a QuickBooks administrator connects the company again: your Airflow administrator runs "
    "`python -m qbo_intacct.authorize_quickbooks` and the QuickBooks administrator signs in and clicks Connect"
)


@dataclass(frozen=True)
class Explanation:
    problem: str
    action: str

    def render(self, prefix: str, detail: str) -> str:
        return f"{prefix}: {self.problem}. What to do: {self.action}. Technical detail: {detail}"


def _host(detail: str) -> str:
    match = re.search(r"host ([\w.\-:\[\]]+)", detail)
    return match.group(1) if match else "the address in the connection"


def _missing_fields(detail: str, words: dict[str, str]) -> str | None:
    match = re.search(r"is missing (.+)$", detail)
    if not match:
        return None
    named = [plain for key, plain in words.items() if key in match.group(1)]
    return ", ".join(named) or match.group(1)


def explain_quickbooks(conn_id: str, error: BaseException) -> str:
    """The health check's message for a QuickBooks failure."""
    detail = f"{type(error).__name__}: {error}" if _is_unexpected(error) else str(error)
    text = detail.lower()
    missing = _missing_fields(
        str(error),
        {"client id": "the app's client ID", "client secret": "the app's client secret", "realm_id": "the company ID"},
    )
    if _is_state_database(error):
        found, detail = STATE_DATABASE, detail.splitlines()[0]  # not the SQL nor the link SQLAlchemy appends
    elif type(error).__name__ == "AirflowNotFoundException":
        found = Explanation(
            f"the sync has no QuickBooks connection yet (there is no Airflow connection named {conn_id!r})",
            "your Airflow administrator creates it (README, 'Running it for real', section 2)",
        )
    elif missing:
        found = Explanation(
            f"the QuickBooks connection is incomplete: it lacks {missing}",
            f"your Airflow administrator fills it in: client ID and secret from {QBO_KEYS_PLACE}, the company ID "
            "from QuickBooks (gear icon, Account and settings, Billing & subscription)",
        )
    elif "environment must be" in text:
        found = Explanation(
            "the QuickBooks connection names an unknown environment",
            "set the connection's environment to production (a live company) or sandbox (an Intuit test company)",
        )
    elif "invalid_client" in text:
        found = Explanation(
            "QuickBooks does not recognise the app's client ID or client secret in the connection",
            f"your Airflow administrator copies both again from {QBO_KEYS_PLACE} into the connection",
        )
    elif "invalid_grant" in text:
        found = Explanation(
            "QuickBooks no longer accepts the sync's sign-in to the company (it expired after 100 days unused, "
            "someone disconnected the app in QuickBooks, or the sign-in was replaced)",
            CONNECT_QBO,
        )
    elif "not been connected to this app yet" in text:
        found = Explanation("the QuickBooks company has not been connected to the sync yet", CONNECT_QBO)
    elif "not issued for this company" in text or "6190" in text or "statuscode=403" in text:
        found = Explanation(
            "the company ID in the connection is not the QuickBooks company the sync was connected to",
            "check the company ID (QuickBooks: gear icon, Account and settings, Billing & subscription) and put it "
            f"in the connection's realm_id, or {CONNECT_QBO.split(': ', 1)[0]} and picks that company",
        )
    elif "cannot be decrypted" in text:
        found = Explanation(
            "this Airflow server cannot read the saved QuickBooks sign-in: it was saved with another encryption key",
            "your Airflow administrator gives every Airflow container the same fernet key (README, "
            "'4. Secrets'); or the company is connected again",
        )
    elif _is_network(text):
        found = Explanation(
            f"the sync cannot reach QuickBooks over the network ({_host(detail)})",
            "ask IT whether this Airflow may reach Intuit's servers (proxy, firewall), and check the addresses "
            "in the connection (leave base_url and token_url empty for the real QuickBooks)",
        )
    else:
        found = Explanation(
            "QuickBooks refused the check", "pass the technical detail below to your Airflow administrator"
        )
    return found.render(f"QuickBooks connection {conn_id!r}", detail)


def explain_intacct(conn_id: str, error: BaseException | str) -> str:
    """The health check's message for a Sage Intacct failure (an exception or a failed test's message)."""
    detail = str(error) if isinstance(error, str) or not _is_unexpected(error) else f"{type(error).__name__}: {error}"
    text = detail.lower()
    if not isinstance(error, str) and _is_state_database(error):
        found, detail = STATE_DATABASE, detail.splitlines()[0]
    elif not isinstance(error, str) and type(error).__name__ == "AirflowNotFoundException":
        found = Explanation(
            f"the sync has no Sage Intacct connection yet (there is no Airflow connection named {conn_id!r})",
            "your Airflow administrator creates it (README, 'Running it for real', section 3)",
        )
    elif "partner id or password" in text:
        found = Explanation(
            "Sage Intacct does not accept the Web Services sender ID or sender password in the connection",
            "your Airflow administrator copies them again from the Web Services subscription Sage gave you "
            "(sender ID and sender password, not a user's password)",
        )
    elif "web services authorization" in text or "not authorized" in text:
        found = Explanation(
            "the Web Services sender is not authorised for this Intacct company",
            "an Intacct company administrator adds the sender ID under Company, Setup, Company, Security, "
            "Web Services authorizations",
        )
    elif "sign-in information is incorrect" in text or "user credentials" in text:
        found = Explanation(
            "Sage Intacct does not accept the Web Services user, its password or the company ID in the connection",
            "check the user ID and password of the Web Services user (Company, Admin, Web Services users) and the "
            "company ID you sign in with; a user locked after failed sign-ins is unlocked by an Intacct administrator",
        )
    elif "default entity" in text:
        found = Explanation(
            "the connection's default entity does not exist in Intacct, or the Web Services user may not use it",
            "leave entity_id empty (top level) or use an entity ID listed under Company, Entities; give the user "
            "access to that entity (Company, Admin, Web Services users, Entity access)",
        )
    elif _is_network(text):
        found = Explanation(
            f"the sync cannot reach Sage Intacct over the network ({_host(detail)})",
            "ask IT whether this Airflow may reach api.intacct.com (proxy, firewall), and leave the connection's "
            "endpoint_url empty for the real Intacct",
        )
    else:
        found = Explanation(
            "Sage Intacct refused the check", "pass the technical detail below to your Airflow administrator"
        )
    return found.render(f"Intacct connection {conn_id!r}", detail)


#: The sync's own database (ledger, QuickBooks sign-in, Intacct sessions, the shared API budget).
STATE_DATABASE = Explanation(
    "the sync cannot open its own database (Airflow connection 'qbo_intacct_state', where it keeps the sync "
    "ledger and the saved QuickBooks sign-in), so it did not even try to sign in",
    "your Airflow administrator checks that connection and that its database is running (docker compose: the "
    "postgres service, and the qbo_intacct database airflow-init creates)",
)


def _is_state_database(error: BaseException) -> bool:
    module = type(error).__module__.split(".")[0]
    return module in ("sqlalchemy", "psycopg2", "sqlite3")


def _is_unexpected(error: BaseException) -> bool:
    """Errors that are not the hooks' own (their messages lack the context a type name gives)."""
    return type(error).__module__.split(".")[0] != "qbo_intacct"


def _is_network(text: str) -> bool:
    return any(
        word in text for word in ("connectionerror", "connection refused", "timeout", "timed out", "name resolution")
    )
