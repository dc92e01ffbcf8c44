"""Safe parsing of gateway requests and exact rendering of gateway responses.

Parsing refuses any DOCTYPE or ENTITY declaration before the parser sees the body (no XXE, no
entity expansion bombs) and keeps text exactly as sent (no whitespace stripping), so a name such
as ``O'Brien & Sons <Ltd> "Intl"`` comes back byte for byte. Rendering escapes ``&``, ``<`` and
``>`` in text (and ``"`` in attributes), writes money as exact decimal strings, dates as
``MM/DD/YYYY`` and datetimes as ``MM/DD/YYYY HH:MM:SS`` in company local time.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import xmltodict

from include.sandbox.intacct.state import IntacctErrorDetail, ObjectSpec, Record, format_date, format_datetime

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class XmlRequestError(ValueError):
    """The body is not XML the gateway accepts (becomes control failure XL03000003)."""


def parse_request(body: bytes) -> dict[str, Any]:
    """The request as nested dicts; raises XmlRequestError for declarations or malformed XML."""
    if _DECLARATION.search(body):
        raise XmlRequestError("DOCTYPE and ENTITY declarations are not allowed")
    try:
        parsed = xmltodict.parse(body, strip_whitespace=False, disable_entities=True)
    except Exception as exc:  # expat raises several types; all mean "not XML we accept"
        raise XmlRequestError(str(exc).split("\n")[0]) from None
    return _clean(parsed)


def _clean(node: Any) -> Any:
    """Drop whitespace-only text between child elements (kept only where it is the value)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "#text" and isinstance(value, str) and not value.strip() and len(node) > 1:
                continue
            out[key] = _clean(value)
        if list(out) == ["#text"]:
            return out["#text"]
        return out
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def text_of(value: Any) -> str:
    """Element text; an element that only carries attributes has its text under ``#text``."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return str(value.get("#text", ""))
    return str(value)


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_attr(text: str) -> str:
    return esc(text).replace('"', "&quot;")


def render_scalar(spec: ObjectSpec | None, name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if spec is not None and text:
        if spec.is_datetime(name):
            return format_datetime(text)
        if spec.is_date(name):
            return format_date(text)
    return esc(text)


def render_value(spec: ObjectSpec | None, name: str, value: Any, out: list[str]) -> None:
    """``<NAME>value</NAME>``; dicts nest, lists repeat the element."""
    if isinstance(value, dict):
        out.append(f"<{name}>")
        for key, inner in value.items():
            if not key.startswith(("_", "@", "#")):
                render_value(None, key, inner, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        for item in value:
            render_value(spec, name, item, out)
    else:
        out.append(f"<{name}>{render_scalar(spec, name, value)}</{name}>")


def render_record(
    spec: ObjectSpec,
    rec: Record,
    tag: str,
    fields: list[str] | None,
    out: list[str],
    *,
    with_lines: bool = False,
) -> None:
    """One record element; ``fields`` None = every held field (RECORDNO first)."""
    from include.sandbox.intacct.query import field_value

    out.append(f"<{tag}>")
    if fields is None:
        out.append(f"<RECORDNO>{rec.get('RECORDNO', '')}</RECORDNO>")
        for key, value in rec.items():
            if key == "RECORDNO" or key.startswith("_"):
                continue
            if spec.line_key and key == spec.line_key:
                if with_lines:
                    line_tag = (spec.line_tag or key).lower()
                    out.append(f"<{key}>")
                    for line in value:
                        render_value(spec, line_tag, line, out)
                    out.append(f"</{key}>")
                continue
            render_value(spec, key, value, out)
    else:
        for name in fields:
            value = rec[name] if name in rec else field_value(rec, name)  # "COUNT.RECORDNO" is flat
            if isinstance(value, dict | list):
                render_value(spec, name, value, out)
            else:
                out.append(f"<{name}>{render_scalar(spec, name.rsplit('.', 1)[-1], value)}</{name}>")
    out.append(f"</{tag}>")


def render_errors(errors: list[IntacctErrorDetail], out: list[str]) -> None:
    out.append("<errormessage>")
    for e in errors:
        out.append(
            f"<error><errorno>{esc(e.errorno)}</errorno><description>{esc(e.description)}</description>"
            f"<description2>{esc(e.description2)}</description2><correction>{esc(e.correction)}</correction></error>"
        )
    out.append("</errormessage>")


def render_control(control: dict[str, str], status: str, out: list[str]) -> None:
    out.append(f"<control><status>{status}</status>")
    for key in ("senderid", "controlid", "uniqueid", "dtdversion"):
        out.append(f"<{key}>{esc(control.get(key, ''))}</{key}>")
    out.append("</control>")


XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def gateway_error(errorno: str, description: str) -> bytes:
    """A gateway-level failure (429 GW-0010, 5xx): control failure plus one error, no operation."""
    out = [XML_HEAD, "<response><control><status>failure</status></control>"]
    render_errors([IntacctErrorDetail(errorno, description, "", "")], out)
    out.append("</response>")
    return "".join(out).encode("utf-8")
