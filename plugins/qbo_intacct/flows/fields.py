"""Field readers and writers every flow module shares: text, flags, refs, contacts, addresses, terms, ids.

Flow modules (``customers.py``, ``vendors.py``) say which QuickBooks and Intacct fields make up
their shared vocabulary; how a value is read (an empty string is no value, a float amount is
refused) and how a contact block or a term is written is the same for every flow, so it lives here.
Imported when DAG files are parsed: nothing heavy at module level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from qbo_intacct.flows.declaration import FlowMappingError

if TYPE_CHECKING:
    from qbo_intacct.mappings.loader import MappingWorkbook

#: Shared address field -> (QuickBooks BillAddr key, Intacct MAILADDRESS key).
ADDRESS: dict[str, tuple[str, str]] = {
    "bill_line1": ("Line1", "ADDRESS1"),
    "bill_line2": ("Line2", "ADDRESS2"),
    "bill_city": ("City", "CITY"),
    "bill_state": ("CountrySubDivisionCode", "STATE"),
    "bill_postal_code": ("PostalCode", "ZIP"),
    "bill_country": ("Country", "COUNTRY"),
}
ADDRESS_FIELDS: list[str] = list(ADDRESS)
INTACCT_ADDRESS_FIELDS: list[str] = [f"DISPLAYCONTACT.MAILADDRESS.{ia}" for _, ia in ADDRESS.values()]


def missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def text(value: object) -> str | None:
    """Stripped text, or ``None`` for no value (None, NaN, blank)."""
    if missing(value):
        return None
    out = str(value).strip()
    return out or None


def flag(value: object, default: bool) -> bool:
    if missing(value) or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "t")


def ref(value: object, key: str) -> str | None:
    """``value[key]`` of a QuickBooks reference or sub-object (``{"value": "3"}``), as text."""
    return text(value.get(key)) if isinstance(value, Mapping) else None


def money(value: object, *, noun: str, record: str, field_name: str, error: type[FlowMappingError]) -> Decimal | None:
    """An exact amount, or ``None``; a float or text that is not a number names record and field."""
    if missing(value) or value == "":
        return None
    if isinstance(value, float):
        raise error(f"{noun} {record} field {field_name}: float {value!r}; amounts must be exact")
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError as exc:
        raise error(f"{noun} {record} field {field_name}: {value!r} is not an amount") from exc
    if not amount.is_finite():
        raise error(f"{noun} {record} field {field_name}: {value!r} is not an amount")
    return amount


def derive_id(
    qbo_id: str, pattern: str, *, noun: str, id_name: str, max_length: int, error: type[FlowMappingError]
) -> str:
    """The Intacct id of a record created from QuickBooks ``qbo_id``: the pattern with the id in it."""
    if "{qbo_id" not in pattern:
        raise error(f"{noun} id pattern {pattern!r} must contain {{qbo_id}}")
    derived = pattern.format(qbo_id=qbo_id)
    if not derived or len(derived) > max_length or "," in derived:
        raise error(
            f"{noun} {qbo_id}: {id_name} {derived!r} from pattern {pattern!r} is empty, has a comma "
            f"or is longer than {max_length} characters"
        )
    return derived


def intacct_contact(record: Mapping[str, Any], name: str) -> Any:
    """``DISPLAYCONTACT.<name>`` of an Intacct record, flat (query) or nested (read)."""
    if f"DISPLAYCONTACT.{name}" in record:
        return record.get(f"DISPLAYCONTACT.{name}")
    node: Any = record.get("DISPLAYCONTACT")
    for part in name.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def qbo_address(record: Mapping[str, Any], key: str = "BillAddr") -> dict[str, str | None]:
    address = record.get(key) if isinstance(record.get(key), Mapping) else {}
    return {shared: text(address.get(qbo_key)) for shared, (qbo_key, _) in ADDRESS.items()}


def intacct_address(record: Mapping[str, Any]) -> dict[str, str | None]:
    return {shared: text(intacct_contact(record, f"MAILADDRESS.{ia}")) for shared, (_, ia) in ADDRESS.items()}


def qbo_address_body(values: Mapping[str, Any]) -> dict[str, str]:
    return {qbo: values.get(shared) or "" for shared, (qbo, _) in ADDRESS.items()}


def intacct_contact_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """The DISPLAYCONTACT fields every update of identity, contact or address sends together."""
    return {
        "COMPANYNAME": values.get("company_name") or "",
        "EMAIL1": values.get("email") or "",
        "PHONE1": values.get("phone") or "",
        "MAILADDRESS": {ia: values.get(shared) or "" for shared, (_, ia) in ADDRESS.items()},
    }


def qbo_contact_body(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "PrimaryEmailAddr": {"Address": values.get("email") or ""},
        "PrimaryPhone": {"FreeFormNumber": values.get("phone") or ""},
    }


def intacct_party_body(
    values: Mapping[str, Any], *, id_field: str, record_id: str, groups: set[str], print_as: str | None = None
) -> dict[str, Any]:
    """What every Intacct party (CUSTOMER, VENDOR) body holds: id, name, DISPLAYCONTACT, currency, status.

    Contact and address live in one DISPLAYCONTACT block, so an identity, contact or address update
    sends the whole block (company name, email, phone and address) to keep the others as they are.
    """
    body: dict[str, Any] = {id_field: record_id}
    contact: dict[str, Any] = {}
    if "identity" in groups:
        body["NAME"] = values.get("name") or record_id
        contact["PRINTAS"] = print_as or values.get("name") or record_id
    if groups & {"identity", "contact", "address"}:
        contact.update(intacct_contact_body(values))
    if contact:
        body["DISPLAYCONTACT"] = contact
    add_currency_and_status(body, values, groups, qbo=False)
    return body


def qbo_party_body(
    values: Mapping[str, Any],
    *,
    groups: set[str],
    display_name: str | None,
    qbo_id: str | None,
    sync_token: str | None,
) -> dict[str, Any]:
    """What every QuickBooks party (Customer, Vendor) body holds: names, contact, address, currency, status."""
    body = qbo_body_start(qbo_id, sync_token)
    if "identity" in groups:
        body["DisplayName"] = display_name or values.get("name")
        body["CompanyName"] = values.get("company_name") or ""
    if "contact" in groups:
        body.update(qbo_contact_body(values))
    if "address" in groups:
        body["BillAddr"] = qbo_address_body(values)
    add_currency_and_status(body, values, groups, qbo=True)
    return body


def qbo_body_start(qbo_id: str | None, sync_token: str | None) -> dict[str, Any]:
    """A sparse update names the object and the SyncToken it was read at; a create names neither."""
    return {} if qbo_id is None else {"Id": qbo_id, "SyncToken": sync_token or "0"}


def add_currency_and_status(body: dict[str, Any], values: Mapping[str, Any], groups: set[str], *, qbo: bool) -> None:
    """Currency (only ever set, never cleared) and active status, in either system's words."""
    if "currency" in groups and values.get("currency"):
        if qbo:
            body["CurrencyRef"] = {"value": values["currency"]}
        else:
            body["CURRENCY"] = values["currency"]
    if "status" in groups:
        active = bool(values.get("active", True))
        if qbo:
            body["Active"] = active
        else:
            body["STATUS"] = "active" if active else "inactive"


@dataclass(frozen=True)
class TermLookup:
    """QuickBooks terms (id <-> name) and the workbook's term mapping, both ways."""

    qbo_name_by_id: Mapping[str, str]
    qbo_id_by_name: Mapping[str, str]
    intacct_by_qbo_name: Mapping[str, str]
    qbo_names_by_intacct: Mapping[str, tuple[str, ...]]

    @classmethod
    def build(cls, qbo_terms: Iterable[Mapping[str, Any]], mappings: MappingWorkbook) -> TermLookup:
        by_id = {str(t["Id"]): str(t.get("Name", "")) for t in qbo_terms}
        reverse: dict[str, list[str]] = {}
        for m in mappings.terms:
            reverse.setdefault(m.intacct_term, []).append(m.qbo_term)
        return cls(
            qbo_name_by_id=by_id,
            qbo_id_by_name={name: tid for tid, name in by_id.items()},
            intacct_by_qbo_name={m.qbo_term: m.intacct_term for m in mappings.terms},
            qbo_names_by_intacct={k: tuple(v) for k, v in reverse.items()},
        )

    def intacct_term(self, term_ref: object) -> tuple[str | None, str | None]:
        """(Intacct term, hold reason) for a QuickBooks term reference; an unmapped term holds the record."""
        term_id = ref(term_ref, "value")
        if not term_id:
            return None, None
        qbo_term = self.qbo_name_by_id.get(term_id) or ref(term_ref, "name")
        term_name = self.intacct_by_qbo_name.get(qbo_term or "")
        return term_name, None if term_name is not None else f"unmapped_term:{qbo_term or term_id}"

    def qbo_ref(self, intacct_term: str, *, noun: str, record: str, error: type[FlowMappingError]) -> dict[str, str]:
        """The QuickBooks term reference for an Intacct term: exactly one QuickBooks term must map to it."""
        names = self.qbo_names_by_intacct.get(str(intacct_term), ())
        if len(names) != 1 or names[0] not in self.qbo_id_by_name:
            reason = "no QuickBooks term maps to it" if not names else f"QuickBooks terms {list(names)} map to it"
            raise error(f"{noun} {record} field term: Intacct term {intacct_term!r}: {reason}")
        return {"value": self.qbo_id_by_name[names[0]], "name": names[0]}
