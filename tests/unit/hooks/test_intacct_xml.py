"""The Intacct wire format without a server: escaping, guards, list shapes, control ids, typed values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from qbo_intacct.hooks._intacct_xml import (
    FunctionCall,
    IntacctValueError,
    IntacctXmlError,
    build_request,
    function_control_id,
    parse_intacct_datetime,
    parse_response,
    parse_xml,
    record_from_xml,
    render_function,
    request_control_id,
)

LA = ZoneInfo("America/Los_Angeles")
NASTY_NAME = 'O\'Brien & Sons <Ltd> "Intl"'


def _request(payload: dict, name: str = "create", key: str = "customers:qbo:1") -> bytes:
    tree = render_function(FunctionCall(name, function_control_id(key), payload, key), LA)
    return build_request(sender_id="S", sender_password="P", control_id="c1", functions=[tree], session_id="sess")


def test_text_values_are_escaped_and_parse_back_byte_for_byte() -> None:
    body = _request({"CUSTOMER": {"NAME": NASTY_NAME}})
    assert b"O'Brien &amp; Sons &lt;Ltd&gt;" in body
    parsed = parse_xml(body)
    assert parsed["request"]["operation"]["content"]["function"]["create"]["CUSTOMER"]["NAME"] == NASTY_NAME


def test_leading_and_trailing_spaces_in_a_value_survive_parsing() -> None:
    parsed = parse_xml(b"<r>\n  <NAME>  Acme  </NAME>\n</r>")
    assert parsed == {"r": {"NAME": "  Acme  "}}


def test_a_value_cannot_inject_elements() -> None:
    body = _request({"CUSTOMER": {"NAME": "</NAME><STATUS>inactive</STATUS><NAME>"}})
    customer = parse_xml(body)["request"]["operation"]["content"]["function"]["create"]["CUSTOMER"]
    assert set(customer) == {"NAME"}


def test_doctype_with_entity_declaration_is_refused() -> None:
    with pytest.raises(IntacctXmlError, match="DOCTYPE"):
        parse_xml(b'<!DOCTYPE r [<!ENTITY x "boom">]><r>&x;</r>')


def test_billion_laughs_is_refused_before_expansion() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )
    with pytest.raises(IntacctXmlError):
        parse_xml(bomb)


def test_external_dtd_reference_is_refused() -> None:
    with pytest.raises(IntacctXmlError, match="DOCTYPE"):
        parse_xml(b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>')


def test_malformed_xml_is_a_typed_error() -> None:
    with pytest.raises(IntacctXmlError, match="well-formed"):
        parse_response(b"<response><control></response>")


def test_function_control_id_is_stable_and_bounded() -> None:
    first = function_control_id("customers:qbo:17")
    assert first == function_control_id("customers:qbo:17")
    assert first != function_control_id("customers:qbo:18")
    assert first.startswith("customers-")
    assert len(first) <= 256
    assert len(function_control_id("x" * 10_000)) <= 256


def test_function_control_id_refuses_an_empty_key() -> None:
    with pytest.raises(IntacctValueError):
        function_control_id("  ")


def test_request_control_id_depends_only_on_its_functions() -> None:
    assert request_control_id(["a", "b"]) == request_control_id(["a", "b"])
    assert request_control_id(["a", "b"]) != request_control_id(["b", "a"])


def test_decimal_renders_exactly_and_float_is_refused_naming_record_and_field() -> None:
    body = _request({"APBILL": {"APBILLITEMS": {"APBILLITEM": [{"TRX_AMOUNT": Decimal("1234.50")}]}}})
    assert b"<TRX_AMOUNT>1234.50</TRX_AMOUNT>" in body
    with pytest.raises(IntacctValueError) as err:
        _request({"APBILL": {"TOTAL": 1234.5}}, key="bills:qbo:9")
    assert err.value.record_key == "bills:qbo:9"
    assert err.value.field_name == "APBILL.TOTAL"


def test_decimal_in_exponent_form_renders_as_plain_digits() -> None:
    assert b"<AMOUNT>1200</AMOUNT>" in _request({"X": {"AMOUNT": Decimal("1.2E+3")}})


def test_nan_amount_is_refused() -> None:
    with pytest.raises(IntacctValueError):
        _request({"X": {"AMOUNT": Decimal("NaN")}})


def test_generic_dates_render_mm_dd_yyyy_and_legacy_dates_split() -> None:
    assert b"<WHENCREATED>01/05/2024</WHENCREATED>" in _request({"APBILL": {"WHENCREATED": date(2024, 1, 5)}})
    legacy = _request({"datecreated": date(2024, 1, 5)}, name="create_invoice")
    assert b"<datecreated><year>2024</year><month>01</month><day>05</day></datecreated>" in legacy


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(IntacctValueError, match="naive"):
        _request({"X": {"WHEN": datetime(2024, 1, 5, 10, 0)}})  # noqa: DTZ001 - the point of the test


def test_control_characters_are_refused() -> None:
    with pytest.raises(IntacctValueError, match="control character"):
        _request({"CUSTOMER": {"NAME": "bell\x07"}})


def test_bad_field_name_is_refused() -> None:
    with pytest.raises(IntacctValueError, match="field name"):
        _request({"CUSTOMER": {"NAME><X": "a"}})


def test_none_fields_are_omitted() -> None:
    assert b"PRINTAS" not in _request({"CUSTOMER": {"NAME": "a", "PRINTAS": None}})


def test_login_block_carries_location_for_an_entity() -> None:
    tree = render_function(FunctionCall("getAPISession", "s1", None), LA)
    body = build_request(
        sender_id="S",
        sender_password="P",
        control_id="c",
        functions=[tree],
        login={"userid": "u", "companyid": "c", "password": "p", "locationid": "US"},
        unique_id=False,
    )
    login = parse_xml(body)["request"]["operation"]["authentication"]["login"]
    assert login["locationid"] == "US"
    assert b"<getAPISession></getAPISession>" in body


_ONE_RECORD = b"""<?xml version="1.0" encoding="UTF-8"?>
<response>
  <control><status>success</status><controlid>c</controlid></control>
  <operation>
    <authentication><status>success</status><sessiontimeout>2024-01-02T10:00:00-08:00</sessiontimeout></authentication>
    <result>
      <status>success</status><function>query</function><controlid>q1</controlid>
      <data listtype="customer" count="1" totalcount="3" offset="0" numremaining="2">
        <customer><RECORDNO>00123</RECORDNO><NAME>  Spaced  </NAME><TOTALDUE>10.10</TOTALDUE>
          <WHENMODIFIED>07/24/2017 15:19:46</WHENMODIFIED><WHENDUE>08/01/2017</WHENDUE><MEGAENTITYID></MEGAENTITYID>
        </customer>
      </data>
    </result>
  </operation>
</response>"""


def test_one_record_parses_as_a_list_of_one() -> None:
    response = parse_response(_ONE_RECORD)
    assert len(response.results) == 1
    result = response.results[0]
    assert len(result.records) == 1
    assert result.attr_int("numremaining") == 2
    assert response.session_timeout == "2024-01-02T10:00:00-08:00"


def test_record_values_are_typed_money_dates_and_text() -> None:
    raw = parse_response(_ONE_RECORD).results[0].records[0]
    record = record_from_xml(raw, LA)
    assert record["RECORDNO"] == "00123"
    assert record["NAME"] == "  Spaced  "
    assert record["TOTALDUE"] == Decimal("10.10")
    assert record["WHENDUE"] == date(2017, 8, 1)
    assert record["WHENMODIFIED"] == datetime(2017, 7, 24, 22, 19, 46, tzinfo=UTC)
    assert record["MEGAENTITYID"] is None


def test_dot_notation_fields_are_typed_by_their_last_part() -> None:
    record = record_from_xml({"VENDOR.CREDITLIMIT": "500.00", "CUSTOMER.WHENMODIFIED": "01/02/2024 00:00:00"}, LA)
    assert record["VENDOR.CREDITLIMIT"] == Decimal("500.00")
    assert record["CUSTOMER.WHENMODIFIED"] == datetime(2024, 1, 2, 8, 0, tzinfo=UTC)


def test_whenmodified_is_read_in_the_company_timezone() -> None:
    assert parse_intacct_datetime("01/15/2024 09:00:00", ZoneInfo("Europe/London")) == datetime(
        2024, 1, 15, 9, 0, tzinfo=UTC
    )
    assert parse_intacct_datetime("07/15/2024 09:00:00", LA) == datetime(2024, 7, 15, 16, 0, tzinfo=UTC)


def test_line_items_are_lists_even_when_there_is_one() -> None:
    body = b"<r><APBILLITEMS><APBILLITEM><TRX_AMOUNT>1.00</TRX_AMOUNT></APBILLITEM></APBILLITEMS></r>"
    assert parse_xml(body)["r"]["APBILLITEMS"]["APBILLITEM"] == [{"TRX_AMOUNT": "1.00"}]


def test_lowercase_line_tags_are_lists_too() -> None:
    body = b"<r><ARINVOICEITEMS><arinvoiceitem><AMOUNT>1.00</AMOUNT></arinvoiceitem></ARINVOICEITEMS></r>"
    assert parse_xml(body)["r"]["ARINVOICEITEMS"]["arinvoiceitem"] == [{"AMOUNT": "1.00"}]


def test_errors_at_each_level_are_read() -> None:
    body = b"""<response><control><status>success</status></control><operation>
      <authentication><status>success</status></authentication>
      <result><status>failure</status><function>create</function><controlid>f1</controlid>
        <errormessage>
          <error><errorno>BL34000061</errorno><description></description>
            <description2>Another Customer with the given value(s) C1 already exists</description2>
            <correction>Use a unique value instead.</correction></error>
          <error><errorno>BL01001973</errorno><description>Could not create Customer record!</description></error>
        </errormessage></result>
    </operation></response>"""
    result = parse_response(body).results[0]
    assert [e.errorno for e in result.errors] == ["BL34000061", "BL01001973"]
    assert result.errors[0].correction == "Use a unique value instead."


def test_control_failure_has_no_operation() -> None:
    body = (
        b"<response><control><status>failure</status></control><errormessage><error>"
        b"<errorno>GW-0010</errorno><description>Rate limit</description></error></errormessage></response>"
    )
    response = parse_response(body)
    assert not response.control_ok
    assert response.control_errors[0].errorno == "GW-0010"
    assert response.results == ()


# ------------------------------------------------------------------------------ replies Intacct really sends


def _query_reply(name_xml: bytes) -> bytes:
    return (
        b"<response><control><status>success</status></control><operation>"
        b"<authentication><status>success</status></authentication><result><status>success</status>"
        b"<function>query</function><controlid>q1</controlid><data count='2' numremaining='0'>"
        b"<CUSTOMER><RECORDNO>7</RECORDNO><NAME>Plain Co</NAME></CUSTOMER>"
        b"<CUSTOMER><RECORDNO>8</RECORDNO><NAME>" + name_xml + b"</NAME></CUSTOMER>"
        b"</data></result></operation></response>"
    )


def test_a_raw_control_character_in_a_record_does_not_make_the_reply_unreadable() -> None:
    records = parse_response(_query_reply(b"Tab\x0bVert\x01Co")).results[0].records
    assert [r["NAME"] for r in records] == ["Plain Co", "Tab\x0bVert\x01Co"]  # kept byte for byte


def test_a_control_character_reference_is_read_as_the_character() -> None:
    records = parse_response(_query_reply(b"Bell&#x7;Co &#11;Ltd")).results[0].records
    assert records[1]["NAME"] == "Bell\x07Co \x0bLtd"


def test_a_truly_malformed_reply_says_where_parsing_stopped() -> None:
    with pytest.raises(IntacctXmlError, match="line 1, column") as caught:
        parse_response(_query_reply(b"Broken <Co"))
    assert caught.value.line == 1
    assert caught.value.column is not None


def test_a_far_future_date_time_is_read_as_the_latest_instant_not_an_overflow() -> None:
    la = ZoneInfo("America/Los_Angeles")
    record = record_from_xml({"RECORDNO": "7", "WHENMODIFIED": "12/31/9999 23:59:59", "WHENDUE": "12/31/9999"}, la)
    assert record["WHENMODIFIED"] == datetime.max.replace(tzinfo=UTC)
    assert record["WHENDUE"] == date(9999, 12, 31)


def test_an_impossible_date_raises_a_typed_error_naming_record_and_field() -> None:
    la = ZoneInfo("America/Los_Angeles")
    with pytest.raises(IntacctValueError, match="WHENDUE") as caught:
        record_from_xml({"RECORDNO": "7", "WHENDUE": "02/30/2026"}, la)
    assert caught.value.record_key == "RECORDNO 7"
    assert caught.value.field_name == "WHENDUE"
