"""Security checks of the reliability issue: TLS, XML, query escaping, workbooks, sandbox binding.

(The scan of every task log, XCom, staged file, workbook, review item and summary for the secret
values the suite seeded runs over real DAG runs in ``make chaos``: bench/chaos/secrets_scan.py, and
its unit test is in tests/unit/bench/test_chaos.py.)
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins" / "qbo_intacct"


# ------------------------------------------------------------------------------------------ TLS


@pytest.fixture
def captured_sends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """What each request would be sent with (URL, verify), stopped before any packet leaves the machine.

    The real services cannot be reached from a test, so the check sits at ``requests``' send."""
    sent: list[dict[str, Any]] = []

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        sent.append({"url": request.url, "verify": kwargs.get("verify")})
        raise requests.ConnectionError("stopped by the test before sending")

    monkeypatch.setattr(requests.Session, "send", send)
    monkeypatch.setenv("CURL_CA_BUNDLE", "")  # an empty bundle once switched verification off in requests
    monkeypatch.setenv(
        "AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "s.db")})
    )
    qbo_extra = {"realm_id": "1", "refresh_token": "tls-test-refresh", "verify": False, "verify_ssl": False}
    qbo = {"conn_type": "quickbooks", "login": "client", "password": "tls-test-secret", "extra": qbo_extra}
    monkeypatch.setenv("AIRFLOW_CONN_QBO_REAL", json.dumps(qbo))
    ia_extra = {"sender_id": "s", "sender_password": "tls-test-sender", "company_id": "c", "verify": False}
    ia = {"conn_type": "intacct", "login": "user", "password": "tls-test-password", "extra": ia_extra}
    monkeypatch.setenv("AIRFLOW_CONN_INTACCT_REAL", json.dumps(ia))
    from qbo_intacct.hooks._transport import reset_limiters

    reset_limiters()
    return sent


def test_tls_verification_is_on_for_the_real_services_whatever_the_connection_says(
    captured_sends: list[dict[str, Any]],
) -> None:
    from qbo_intacct.hooks._transport import RetryPolicy
    from qbo_intacct.hooks.intacct import IntacctError, IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksError, QuickBooksHook

    with pytest.raises(QuickBooksError):
        QuickBooksHook(quickbooks_conn_id="qbo_real", max_retries=0, max_retry_seconds=0.1).count("Customer")
    intacct = IntacctHook(
        intacct_conn_id="intacct_real", retry_policy=RetryPolicy(max_attempts=1, base=0.01, cap=0.01, max_total=0.1)
    )
    with pytest.raises(IntacctError):
        list(intacct.iter_query("CUSTOMER", ["CUSTOMERID"], entity_id=""))
    hosts = {requests.utils.urlparse(s["url"]).hostname for s in captured_sends}
    assert {"oauth.platform.intuit.com", "api.intacct.com"} <= hosts, hosts
    for s in captured_sends:
        assert s["url"].startswith("https://"), s
        assert s["verify"] not in (False, None, ""), s  # True, or a CA bundle path


# ------------------------------------------------------------------------------------------ XML

XML_ATTACKS = {
    "internal entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><response>&x;</response>',
    "billion laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><response>&lol3;</response>'
    ),
    "external entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><response>&x;</response>',
    "external DTD": b'<?xml version="1.0"?><!DOCTYPE response SYSTEM "http://127.0.0.1:9/evil.dtd"><response/>',
    "parameter entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><response/>'
    ),
}


@pytest.mark.parametrize("name", list(XML_ATTACKS))
def test_the_intacct_parser_refuses_doctype_and_entities(name: str) -> None:
    from qbo_intacct.hooks._intacct_xml import IntacctXmlError, parse_xml

    with pytest.raises(IntacctXmlError) as caught:
        parse_xml(XML_ATTACKS[name])
    assert "root:" not in str(caught.value)  # nothing from /etc/passwd
    assert "lollol" not in str(caught.value)


# ------------------------------------------------------------------------------ query / XML text


def _module_asts() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), filename=str(p))) for p in sorted(PLUGINS.rglob("*.py"))]


def _docstrings(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _is_log_or_error_text(parents: dict[int, ast.AST], node: ast.AST) -> bool:
    """Text for people (log lines, exception messages, review details) is not XML or a query."""
    parent = parents.get(id(node))
    while parent is not None and not isinstance(parent, ast.Call):
        parent = parents.get(id(parent))
    if not isinstance(parent, ast.Call):
        return False
    func = parent.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in {"debug", "info", "warning", "error", "exception", "log"} or name.endswith(("Error", "Exception"))


#: Values a QuickBooks query f-string may interpolate: escaped literals, or names that never come from
#: outside (an entity name checked against the hook's list, SQL placeholders, our own clause text).
QUERY_SAFE_CALLS = {"_literal", "_quote_literal"}
QUERY_SAFE_NAMES = {"quoted", "entity", "marks", "upper", "order_by", "base", "start", "page_size", "where"}
QUERY_MARKERS = ("SELECT ", " IN (", "WHERE ", "ORDERBY", ">= ", " < ", "STARTPOSITION")


def _is_arithmetic(node: ast.AST) -> bool:
    """``1 + tied``: a number the hook computes (a page offset), never outside text."""
    return isinstance(node, ast.BinOp) and any(
        isinstance(leaf, ast.Constant) and isinstance(leaf.value, int) for leaf in ast.walk(node)
    )


def test_no_xml_or_query_text_is_built_by_concatenating_outside_values() -> None:
    """XML is produced only by xmltodict from a tree (escaped); QuickBooks query values only through the
    escaping quote functions. Any f-string, ``+`` or ``%`` that builds XML-looking text, or a query f-string
    interpolating anything else, fails this test with its file and line."""
    problems: list[str] = []
    for path, tree in _module_asts():
        docstrings = _docstrings(tree)
        parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.JoinedStr) and id(node) not in docstrings:
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                values = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
                if not values or _is_log_or_error_text(parents, node):
                    continue
                opens_tag = "<" in text and text.split("<", 1)[1][:1].isalpha()
                if opens_tag and (any(tag in text for tag in ("</", "/>")) or text.lstrip().startswith("<")):
                    problems.append(f"{where}: XML built by an f-string")
                if any(marker in text for marker in QUERY_MARKERS) and "sql" not in path.name:
                    for value in values:
                        ok = (
                            (isinstance(value, ast.Call) and getattr(value.func, "id", "") in QUERY_SAFE_CALLS)
                            or (isinstance(value, ast.Name) and value.id in QUERY_SAFE_NAMES)
                            or _is_arithmetic(value)
                            # a date or time the code computed, in ISO form (digits, dashes, colons)
                            or (isinstance(value, ast.Call) and getattr(value.func, "attr", "") == "isoformat")
                        )
                        if not ok:
                            problems.append(f"{where}: query text interpolates {ast.unparse(value)} unescaped")
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
                for side in (node.left, node.right):
                    if (
                        isinstance(side, ast.Constant)
                        and isinstance(side.value, str)
                        and side.value.lstrip().startswith("<")
                    ) and not _is_log_or_error_text(parents, node):
                        problems.append(f"{where}: XML built by string concatenation")
    problems = [p for p in problems if "_budget.py" not in p]  # SQLite/PostgreSQL placeholders ('?'), not QBO text
    assert not problems, "\n".join(problems)


def test_the_concatenation_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above finds what it looks for (a planted unescaped query value and a concatenated tag)."""
    planted = tmp_path / "qbo_intacct"
    planted.mkdir()
    (planted / "bad.py").write_text(
        "def q(hook, name):\n    return hook.iter_query('Customer', f\"DisplayName IN ('{name}')\")\n"
        "def x(v):\n    return '<NAME>' + v + '</NAME>'\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PLUGINS", planted)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError) as caught:
        test_no_xml_or_query_text_is_built_by_concatenating_outside_values()
    assert "interpolates name unescaped" in str(caught.value)
    assert "XML built by string concatenation" in str(caught.value)


NASTY = ["O'Brien \\ Sons", "Back\\slash\\", "Quote ' in \\' the middle", "Percent % and _under_"]


def test_quickbooks_names_with_quotes_and_backslashes_are_found_exactly(
    qbo_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extract by names (DisplayName IN (...)) escapes every value: each nasty name finds its customer
    and only it, and an id with a quote and a backslash is a harmless literal, not query text."""
    from qbo_intacct.hooks._transport import reset_limiters
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.operators.extract import QuickBooksExtractOperator

    reset_limiters()
    monkeypatch.setenv(
        "AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "s.db")})
    )
    token = requests.post(f"{qbo_sandbox.admin}/qbo/authorize", json={}, timeout=10).json()["refresh_token"]
    conn = json.loads(os.environ["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn["extra"]["refresh_token"] = token
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", json.dumps(conn))
    hook = QuickBooksHook(backoff_base_seconds=0.01, backoff_cap_seconds=0.05)
    for n, name in enumerate([*NASTY, "Other Ltd"]):
        hook.create("Customer", {"DisplayName": name}, request_id=f"nasty-{n}")
    by_names = QuickBooksExtractOperator(task_id="t", flow="customers", entity="Customer", names=NASTY)
    found = sorted(r["DisplayName"] for r in by_names._records(hook))
    assert found == sorted(NASTY)
    by_ids = QuickBooksExtractOperator(task_id="t", flow="customers", entity="Customer", ids=["1' OR Id > '0", "2\\"])
    assert list(by_ids._records(hook)) == []


# ------------------------------------------------------------------------------------ workbooks


@pytest.mark.parametrize("value", ['=HYPERLINK("http://evil","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"])
def test_no_formula_reaches_a_workbook_from_api_text(tmp_path: Path, value: str) -> None:
    """Every API string the product writes to a workbook goes through ``write_text``: stored as text."""
    from openpyxl import Workbook, load_workbook

    from qbo_intacct.mappings.workbook import write_text

    wb = Workbook()
    write_text(wb.active, 1, 1, value)
    wb.save(tmp_path / "w.xlsx")
    cell = load_workbook(tmp_path / "w.xlsx").active["A1"]
    assert cell.data_type == "s"
    assert cell.value == value
    assert cell.quotePrefix


def test_workbook_writers_never_assign_api_text_to_a_cell_directly() -> None:
    """In the product's workbook writers, a cell gets a non-constant value only through write_text
    (or numbers/dates the writer made itself, named in ALLOWED)."""
    allowed_funcs = {"write_text", "_write_number", "_write_date", "_header"}
    problems: list[str] = []
    for path, tree in _module_asts():
        if "mappings" not in path.parts and "reconciliation" not in path.parts:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "value"
                    and not isinstance(node.value, ast.Constant)
                ):
                    inside = [
                        f.name
                        for f in ast.walk(tree)
                        if isinstance(f, ast.FunctionDef) and f.lineno <= node.lineno <= (f.end_lineno or 0)
                    ]
                    if not set(inside) & allowed_funcs:
                        problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------ sandboxes


def test_the_sandboxes_refuse_to_bind_anything_but_loopback(sandboxes: Any) -> None:
    for sandbox in sandboxes.values():
        assert requests.utils.urlparse(sandbox.info["admin_url"]).hostname == "127.0.0.1"
    everywhere = "0.0.0.0"  # noqa: S104 - the test shows it is refused
    command = [sys.executable, "-m", "include.sandbox", "serve", "--system", "qbo", "--host", everywhere]
    refused = subprocess.run(
        [*command, "--state-dir", "x"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode != 0
    assert "loopback only" in refused.stderr
