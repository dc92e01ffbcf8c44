"""Intacct sandbox: envelope, authentication, sessions, multi-function requests, transactions, uniqueid.

Everything goes over real HTTP to the sandbox started by the ``intacct_sandbox`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from include.sandbox.intacct.testing import GatewayClient, function

NASTY_NAME = 'O\'Brien & Sons <Ltd> "Intl"'


@pytest.fixture
def client(intacct_sandbox: Any) -> Iterator[GatewayClient]:
    yield GatewayClient(intacct_sandbox.info)
    intacct_sandbox.configure(session_timeout_seconds=86_400)


def _errorno(errormessage: dict[str, Any]) -> list[str]:
    return [e["errorno"] for e in errormessage["error"]]


def test_get_api_session_returns_session_endpoint_and_location(client: GatewayClient) -> None:
    result = client.one("getAPISession", None, entity="UK")
    api = result["data"]["api"]
    assert api["sessionid"]
    assert api["endpoint"] == client.info["endpoint_url"]
    assert api["locationid"] == "UK"


def test_session_authenticates_later_requests_and_reports_its_timeout(client: GatewayClient) -> None:
    session_id = client.session()
    response = client.request(
        [function("readByQuery", {"object": "CLASS", "fields": "CLASSID", "query": None})], session_id=session_id
    )
    auth = response["operation"]["authentication"]
    assert auth["status"] == "success"
    assert auth["sessiontimestamp"] < auth["sessiontimeout"]
    assert response["operation"]["result"][0]["status"] == "success"


def test_session_timeout_slides_with_each_request(client: GatewayClient, intacct_sandbox: Any) -> None:
    intacct_sandbox.configure(session_timeout_seconds=60)
    session_id = client.session()
    for _ in range(3):  # 135 s in total, but never 60 s idle
        intacct_sandbox.advance_clock(45)
        assert client.one("read", {"object": "CLASS", "keys": "1", "fields": "*"}, session_id=session_id)["status"] == (
            "success"
        )


def test_expired_session_fails_authentication_in_the_real_shape(client: GatewayClient, intacct_sandbox: Any) -> None:
    intacct_sandbox.configure(session_timeout_seconds=60)
    session_id = client.session()
    intacct_sandbox.advance_clock(61)
    response = client.request([function("read", {"object": "CLASS", "keys": "1"})], session_id=session_id)
    assert response["control"]["status"] == "success"
    assert response["operation"]["authentication"]["status"] == "failure"
    assert _errorno(response["operation"]["errormessage"]) == ["XL03000006"]
    assert "result" not in response["operation"]


def test_unknown_session_fails_authentication(client: GatewayClient) -> None:
    response = client.request([function("read", {"object": "CLASS", "keys": "1"})], session_id="not-a-session")
    assert response["operation"]["authentication"]["status"] == "failure"
    assert _errorno(response["operation"]["errormessage"]) == ["XL03000006"]


def test_wrong_user_password_fails_authentication(client: GatewayClient) -> None:
    response = client.request([function("getAPISession")], user_password="wrong")
    assert response["operation"]["authentication"]["status"] == "failure"
    assert response["operation"]["errormessage"]["error"][0]["description2"] == "Sign-in information is incorrect"


def test_bad_sender_is_a_control_failure_xl03000006(client: GatewayClient) -> None:
    response = client.request([function("getAPISession")], sender_password="wrong")
    assert response["control"]["status"] == "failure"
    assert _errorno(response["errormessage"]) == ["XL03000006"]
    assert "operation" not in response


def test_malformed_xml_is_a_control_failure_xl03000003(client: GatewayClient) -> None:
    response = client.post_raw(b"<request><control><senderid>x</control>")
    assert response.status_code == 200
    parsed = client.parse(response)
    assert parsed["control"]["status"] == "failure"
    assert _errorno(parsed["errormessage"]) == ["XL03000003"]


def test_doctype_and_entity_declarations_are_refused_before_parsing(client: GatewayClient) -> None:
    body = client.envelope([function("getAPISession")]).decode()
    bomb = body.replace("<request>", '<!DOCTYPE request [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><request>', 1)
    parsed = client.parse(client.post_raw(bomb.encode()))
    assert parsed["control"]["status"] == "failure"
    assert _errorno(parsed["errormessage"]) == ["XL03000003"]


def test_special_characters_round_trip_byte_for_byte(client: GatewayClient) -> None:
    session_id = client.session()
    created = client.one("create", {"CUSTOMER": {"CUSTOMERID": "C-OB", "NAME": NASTY_NAME}}, session_id=session_id)
    assert created["status"] == "success"
    read = client.one("readByName", {"object": "CUSTOMER", "keys": "C-OB", "fields": "NAME"}, session_id=session_id)
    assert read["data"]["CUSTOMER"]["NAME"] == NASTY_NAME


def test_functions_get_one_result_each_in_request_order(client: GatewayClient) -> None:
    results = client.results(
        [
            function("create", {"CLASS": {"CLASSID": "K1", "NAME": "one"}}, controlid="a"),
            function("create", {"CLASS": {"CLASSID": "K1", "NAME": "dup"}}, controlid="b"),
            function("readByName", {"object": "CLASS", "keys": "K1", "fields": "NAME"}, controlid="c"),
        ]
    )
    assert [(r["controlid"], r["status"]) for r in results] == [("a", "success"), ("b", "failure"), ("c", "success")]
    assert results[2]["data"]["CLASS"]["NAME"] == "one"


def test_transaction_true_rolls_back_every_function_when_one_fails(client: GatewayClient) -> None:
    response = client.request(
        [
            function("create", {"CLASS": {"CLASSID": "T1", "NAME": "kept?"}}, controlid="first"),
            function("create", {"CLASS": {"NAME": "no id"}}, controlid="second"),
            function("create", {"CLASS": {"CLASSID": "T3", "NAME": "never run"}}, controlid="third"),
        ],
        transaction=True,
    )
    results = response["operation"]["result"]
    assert [r["status"] for r in results] == ["aborted", "failure", "aborted"]
    assert _errorno(results[0]["errormessage"]) == ["XL03000009"]
    assert _errorno(results[2]["errormessage"]) == ["XL03000009"]
    found = client.one("readByName", {"object": "CLASS", "keys": "T1,T3", "fields": "CLASSID"})
    assert found["data"]["@count"] == "0"


def test_transaction_true_commits_when_every_function_succeeds(client: GatewayClient) -> None:
    results = client.results(
        [function("create", {"CLASS": {"CLASSID": f"TC{i}", "NAME": str(i)}}) for i in range(3)], transaction=True
    )
    assert [r["status"] for r in results] == ["success"] * 3


def test_uniqueid_replay_returns_the_original_result_without_a_duplicate(client: GatewayClient) -> None:
    payment_free = {"CUSTOMER": {"NAME": "Replay Co", "CUSTOMERID": "C-REPLAY"}}
    first = client.results([function("create", payment_free, controlid="customers:qbo:17")], uniqueid=True)[0]
    again = client.results([function("create", payment_free, controlid="customers:qbo:17")], uniqueid=True)[0]
    assert first["status"] == again["status"] == "success"
    assert again == first
    query = client.one(
        "query",
        {
            "object": "CUSTOMER",
            "select": {"field": "RECORDNO"},
            "filter": {"equalto": {"field": "NAME", "value": "Replay Co"}},
        },
    )
    assert query["data"]["@totalcount"] == "1"


def test_uniqueid_false_runs_a_repeated_controlid_again(client: GatewayClient) -> None:
    body = {"CLASS": {"CLASSID": "U1", "NAME": "u"}}
    client.results([function("create", body, controlid="same")], uniqueid=False)
    second = client.results([function("create", body, controlid="same")], uniqueid=False)[0]
    assert second["status"] == "failure"
    assert _errorno(second["errormessage"])[0] == "BL34000061"


def test_get_api_session_must_be_alone(client: GatewayClient) -> None:
    results = client.results([function("getAPISession"), function("read", {"object": "CLASS", "keys": "1"})])
    assert [r["status"] for r in results] == ["failure", "success"]


def test_reset_keeps_sessions(client: GatewayClient, intacct_sandbox: Any) -> None:
    session_id = client.session()
    intacct_sandbox.reset()
    assert client.one("read", {"object": "CLASS", "keys": "1"}, session_id=session_id)["status"] == "success"


def test_unknown_function_fails_only_itself(client: GatewayClient) -> None:
    results = client.results([function("frobnicate", {}), function("read", {"object": "CLASS", "keys": "1"})])
    assert [r["status"] for r in results] == ["failure", "success"]
