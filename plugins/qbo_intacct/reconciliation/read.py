"""Read both systems' documents for a period into frames of one shape, ready to compare.

Each check (:mod:`.checks`) reads, on each side, the documents dated in the period and the older
ones still open at the end of it (AR and AP balances need them), with the hooks' paging. Then the
partners the window missed are read by id: a QuickBooks document the ledger links to an Intacct
document dated outside the period, or an Intacct document carrying ``EXTERNALID = qbo:<Entity>:<Id>``
whose QuickBooks document is dated outside it (or deleted). So a date moved across the period end
is reported as a date difference, never as a document missing on both sides.

Both sides come out as one frame shape (:data:`COLUMNS`) with money as ``Decimal`` (exact,
staged as text): what :mod:`.compare` needs and nothing about either API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from qbo_intacct.reconciliation.checks import Check

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
COLUMNS: tuple[str, ...] = (
    "system",
    "record_id",
    "ref",
    "number",
    "party_id",
    "party",
    "entity",
    "currency",
    "date",
    "total",
    "paid",
    "open",
    "rate",
    "state",
    "base",
    "in_window",
)
_ID_CHUNK = 500


@dataclass(frozen=True)
class Period:
    """The period being closed, first and last day inclusive."""

    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}" if self.start.day == 1 else f"{self.start} to {self.end}"


def money(value: Any) -> Decimal:
    """An API amount as exact cents (QuickBooks JSON numbers arrive as Decimal or float-free text)."""
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(str(value)).quantize(CENT)
    except InvalidOperation:
        return ZERO


def rate(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal("1")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal("1")


def _day(value: Any) -> str:
    text = str(value or "")[:10]
    if "/" in text:  # Intacct's MM/DD/YYYY
        month, day, year = text.split("/")
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def records_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"in_window": bool}) if len(frame) else frame


# --- QuickBooks --------------------------------------------------------------------------------


def qbo_row(check: Check, record: Mapping[str, Any], route: Callable[[str], str], *, in_window: bool = True) -> dict:
    """One QuickBooks document in the common shape; ``route`` gives the Intacct entity of a department."""
    party = record.get(check.qbo_party_ref) or {}
    total = money(record.get("TotalAmt"))
    if check.kind == "payment":
        open_ = money(record.get("UnappliedAmt")) if check.qbo_entity == "Payment" else ZERO
    else:
        open_ = money(record.get("RemainingCredit") if check.qbo_entity == "CreditMemo" else record.get("Balance"))
    department = (record.get("DepartmentRef") or {}).get("name") or ""
    return {
        "system": "qbo",
        "record_id": f"{check.qbo_entity}:{record.get('Id')}",
        "ref": f"{check.qbo_entity}:{record.get('Id')}",
        "number": str(record.get(check.qbo_number) or ""),
        "party_id": str(party.get("value") or ""),
        "party": str(party.get("name") or ""),
        "entity": route(department) if department else "",
        "currency": str((record.get("CurrencyRef") or {}).get("value") or ""),
        "date": _day(record.get("TxnDate")),
        "total": total,
        "paid": total - open_,
        "open": open_,
        "rate": rate(record.get("ExchangeRate")),
        "state": "",
        "base": "",
        "in_window": in_window,
    }


def read_qbo(hook: Any, check: Check, period: Period, route: Callable[[str], str]) -> pd.DataFrame:
    """The period's QuickBooks documents of ``check`` and older ones still open at its end."""
    wheres = [f"TxnDate >= '{period.start.isoformat()}' AND TxnDate <= '{period.end.isoformat()}'"]
    if check.kind == "document":
        open_ = "RemainingCredit > '0'" if check.qbo_entity == "CreditMemo" else "Balance > '0'"
        wheres.append(f"TxnDate < '{period.start.isoformat()}' AND " + open_)
    rows = [qbo_row(check, r, route) for where in wheres for r in hook.iter_query(check.qbo_entity, where)]
    log.info("%s: read %d QuickBooks %s records", check.title, len(rows), check.qbo_entity)
    return records_frame(rows)


def read_qbo_by_id(hook: Any, check: Check, ids: Iterable[str], route: Callable[[str], str]) -> pd.DataFrame:
    """QuickBooks documents by Id (partners dated outside the period); deleted ones are simply absent."""
    wanted = sorted(set(ids), key=lambda x: (len(x), x))
    rows: list[dict[str, Any]] = []
    for i in range(0, len(wanted), _ID_CHUNK):
        quoted = ", ".join(f"'{x}'" for x in wanted[i : i + _ID_CHUNK] if x.isdigit())
        if quoted:
            found = hook.iter_query(check.qbo_entity, f"Id IN ({quoted})")
            rows += [qbo_row(check, r, route, in_window=False) for r in found]
    return records_frame(rows)


# --- Intacct -----------------------------------------------------------------------------------


def _source_ref(check: Check, record: Mapping[str, Any]) -> str:
    external = str(record.get("EXTERNALID") or "")
    if external.startswith("qbo:"):
        return external[4:]
    return ""


def intacct_row(check: Check, record: Mapping[str, Any], *, in_window: bool = True) -> dict:
    sign = -1 if check.intacct_object.endswith("ADJUSTMENT") else 1  # adjustments carry credits as negatives
    total = money(record.get("TRX_TOTALENTERED")) * sign
    open_ = money(record.get("TRX_TOTALDUE")) * sign
    paid = money(record.get("TRX_TOTALPAID")) * sign if check.kind == "payment" else total - open_
    return {
        "system": "intacct",
        "record_id": f"{check.intacct_object}:{record.get('RECORDNO')}",
        "ref": _source_ref(check, record),
        "number": str(record.get(check.intacct_number) or ""),
        "party_id": str(record.get(check.party_id_field) or ""),
        "party": str(record.get(check.party_name_field) or ""),
        "entity": str(record.get("MEGAENTITYID") or ""),
        "currency": str(record.get("CURRENCY") or ""),
        "date": _day(record.get(check.intacct_date)),
        "total": total,
        "paid": paid,
        "open": open_,
        "rate": rate(record.get("EXCHANGE_RATE")),
        "state": str(record.get("STATE") or ""),
        "base": str(record.get("BASECURR") or ""),
        "in_window": in_window,
    }


def read_intacct(hook: Any, check: Check, period: Period, entities: Sequence[str] = ()) -> pd.DataFrame:
    """The period's Intacct documents of ``check`` (every entity, or ``entities``) and older open ones."""
    from qbo_intacct.hooks.intacct import Filter

    window = [Filter.at_least(check.intacct_date, period.start), Filter.at_most(check.intacct_date, period.end)]
    filters = [Filter.all_of(*window)]
    if check.kind == "document":
        filters.append(
            Filter.all_of(Filter.less_than(check.intacct_date, period.start), Filter.greater_than("TRX_TOTALDUE", 0))
        )
    rows: list[dict[str, Any]] = []
    for flt in filters:
        if entities:
            flt = Filter.all_of(flt, Filter.one_of("MEGAENTITYID", list(entities)))
        records = hook.iter_query(
            check.intacct_object, list(check.intacct_fields), flt, entity_id="", show_private=True
        )
        rows += [intacct_row(check, r) for r in records]
    log.info("%s: read %d Intacct %s records", check.title, len(rows), check.intacct_object)
    return records_frame(rows)


def read_intacct_by_id(hook: Any, check: Check, record_ids: Iterable[str]) -> pd.DataFrame:
    """Intacct documents by ``<OBJECT>:<RECORDNO>`` (linked partners dated outside the period)."""
    from qbo_intacct.hooks.intacct import Filter

    numbers = sorted({r.split(":", 1)[1] for r in record_ids if ":" in r and r.split(":", 1)[1].isdigit()}, key=int)
    rows: list[dict[str, Any]] = []
    for i in range(0, len(numbers), _ID_CHUNK):
        chunk = [int(n) for n in numbers[i : i + _ID_CHUNK]]
        records = hook.iter_query(
            check.intacct_object,
            list(check.intacct_fields),
            Filter.one_of("RECORDNO", chunk),
            entity_id="",
            show_private=True,
        )
        rows += [intacct_row(check, r, in_window=False) for r in records]
    return records_frame(rows)


def links_frame(links: Iterable[Any], check: Check) -> pd.DataFrame:
    """The ledger's document links for ``check``: QuickBooks ``<Entity>:<Id>`` -> Intacct ``<OBJECT>:<RECORDNO>``."""
    rows = [
        {"qbo": link.source_id, "intacct": link.target_id}
        for link in links
        if link.source_system == "qbo"
        and str(link.source_id).startswith(f"{check.qbo_entity}:")
        and str(link.target_id).startswith(f"{check.intacct_object}:")
    ]
    return pd.DataFrame(rows, columns=["qbo", "intacct"])


def party_links(links: Iterable[Any]) -> dict[str, str]:
    """QuickBooks party Id -> Intacct party id, from the customers and vendors flows' links."""
    out: dict[str, str] = {}
    for link in links:
        if link.source_system == "qbo":
            out[str(link.source_id)] = str(link.target_key or link.target_id)
        elif link.target_system == "qbo":
            out[str(link.target_id)] = str(link.source_id)
    return out


def missing_partner_ids(qbo: pd.DataFrame, intacct: pd.DataFrame, links: pd.DataFrame) -> tuple[set[str], set[str]]:
    """Partners the window missed: (QuickBooks refs to read by Id, Intacct record ids to read)."""
    have_q, have_i = set(qbo["record_id"]), set(intacct["record_id"])
    in_scope_links = links[links["qbo"].isin(have_q) | links["intacct"].isin(have_i)]
    want_i = set(in_scope_links.loc[~in_scope_links["intacct"].isin(have_i), "intacct"])
    want_q = set(in_scope_links.loc[~in_scope_links["qbo"].isin(have_q), "qbo"])
    refs = set(intacct.loc[intacct["ref"] != "", "ref"])
    want_q |= refs - have_q
    return want_q, want_i
