"""What the harness does to the books from outside the product: the naive baseline and the 1% edits.

Both talk to the sandboxes with the sandboxes' own small clients (``include.sandbox.*.testing``),
never the product's hooks, so the baseline is what a person writes by hand against the raw APIs
and stays the same while the hooks change. The QuickBooks client starts a refresh-token chain of
its own (the sandbox's authorize route), so it never disturbs the token store the DAGs use.

The naive integration, per flow, in both directions, one record at a time:
- QuickBooks -> Intacct: for each QuickBooks record, one lookup (``readByQuery`` by the id it
  would have, ``QB-<Id>``), then one write (``update`` if found, else ``create``);
- Intacct -> QuickBooks: for each Intacct record it did not create, one lookup (a QuickBooks query
  by display name), then one write (sparse update if found, else create).
It reads the source lists in pages first, writes every record it visits (it keeps no state, so an
unchanged rerun costs the same), and retries a throttled call (HTTP 429) after a pause, as such
code must to finish at all.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from bench.flows import BenchFlow
from include.sandbox.intacct.testing import GatewayClient, function
from include.sandbox.qbo.testing import QboClient

PAGE = 1000
_BACKOFF_S = (1, 2, 4, 8, 16, 30, 30, 30)


def _qbo_call(client: QboClient, method: str, path: str, stats: Counter[str], **kw: Any) -> requests.Response:
    for pause in (*_BACKOFF_S, None):
        r = client.call(method, path, **kw)
        if r.status_code == 401:  # the access token expired (an hour): refresh and try again
            client.refresh()
            continue
        if r.status_code != 429 or pause is None:
            return r
        stats["throttled"] += 1
        time.sleep(pause)  # a client's backoff, not a timing device
    return r


def _qbo_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def qbo_records(client: QboClient, entity: str, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    """Every record of ``entity``, in pages of 1,000."""
    start = 1
    while True:
        r = _qbo_call(
            client,
            "GET",
            "query",
            stats,
            params={"query": f"select * from {entity} startposition {start} maxresults {PAGE}"},  # noqa: S608 - QuickBooks query language, no user input
        )
        r.raise_for_status()
        rows = client.json(r)["QueryResponse"].get(entity, [])
        yield from rows
        if len(rows) < PAGE:
            return
        start += PAGE


@dataclass
class Intacct:
    """A gateway session (one per entity, top level = ``""``) over the sandbox's small client."""

    client: GatewayClient
    sessions: dict[str, str] = field(default_factory=dict)

    def session(self, entity: str = "") -> str:
        if entity not in self.sessions:
            self.sessions[entity] = self.client.session(entity or None)
        return self.sessions[entity]

    def call(self, name: str, body: Any, stats: Counter[str], entity: str = "") -> dict[str, Any]:
        for pause in (*_BACKOFF_S, None):
            response = self.client.post_raw(
                self.client.envelope([function(name, body)], session_id=self.session(entity), uniqueid=True)
            )
            if response.status_code != 429 or pause is None:
                break
            stats["throttled"] += 1
            time.sleep(pause)  # a client's backoff, not a timing device
        response.raise_for_status()
        return self.client.parse(response)["operation"]["result"][0]

    def records(self, obj: str, fields: str, stats: Counter[str], query: str = "") -> Iterator[dict[str, Any]]:
        """Every record of ``obj`` (entity-owned ones too), readByQuery then readMore."""
        body: dict[str, Any] = {
            "object": obj,
            "fields": fields,
            "query": query,
            "pagesize": str(PAGE),
            "showprivate": "true",
        }
        result = self.call("readByQuery", body, stats)
        while True:
            data = result.get("data") or {}
            rows = data.get(obj.lower(), [])
            yield from rows if isinstance(rows, list) else [rows]
            if int(data.get("@numremaining", 0) or 0) == 0:
                return
            result = self.call("readMore", {"resultId": data["@resultId"]}, stats)


def naive_sync(flow: BenchFlow, qbo: QboClient, intacct: Intacct, limit: int | None = None) -> dict[str, Any]:
    """Run the naive integration once (``limit`` records per direction at most); return its counts."""
    if flow.kind == "document":
        return naive_documents(flow, qbo, intacct, limit)
    stats: Counter[str] = Counter()
    created_ids: set[str] = set()
    for n, rec in enumerate(qbo_records(qbo, flow.qbo_entity, stats)):
        if limit is not None and n >= limit:
            break
        key = f"QB-{rec['Id']}"
        found = list(intacct.records(flow.intacct_object, "RECORDNO", stats, f"{flow.intacct_id_field} = '{key}'"))
        fields = {flow.intacct_id_field: key, "NAME": rec.get("DisplayName") or key}
        result = intacct.call("update" if found else "create", {flow.intacct_object: fields}, stats)
        stats["records" if result.get("status") == "success" else "failed"] += 1
        created_ids.add(key)
    intacct_rows = [
        r
        for r in intacct.records(flow.intacct_object, f"RECORDNO,{flow.intacct_id_field},NAME", stats)
        if r.get(flow.intacct_id_field) not in created_ids
    ]
    for n, rec in enumerate(intacct_rows):
        if limit is not None and n >= limit:
            break
        name = str(rec.get("NAME") or rec.get(flow.intacct_id_field))
        r = _qbo_call(
            qbo,
            "GET",
            "query",
            stats,
            params={"query": f"select * from {flow.qbo_entity} where DisplayName = '{_qbo_escape(name)}'"},  # noqa: S608 - QuickBooks query language, quotes escaped
        )
        r.raise_for_status()
        found = qbo.json(r)["QueryResponse"].get(flow.qbo_entity, [])
        body: dict[str, Any] = {"DisplayName": name}
        if found:
            body = {"Id": found[0]["Id"], "SyncToken": found[0]["SyncToken"], "sparse": True, "CompanyName": name}
        w = _qbo_call(qbo, "POST", flow.qbo_entity.lower(), stats, body=body)
        stats["records" if w.status_code == 200 else "failed"] += 1
    return dict(stats)


def _every_nth(rows: list[dict[str, Any]], fraction: float) -> list[dict[str, Any]]:
    """A deterministic, evenly spread ``fraction`` of ``rows`` (at least one)."""
    if not rows:
        return []
    wanted = max(1, round(len(rows) * fraction))
    step = len(rows) / wanted
    return [rows[int(i * step)] for i in range(wanted)]


def _raised_entry(rec: dict[str, Any]) -> dict[str, Any]:
    """A journal entry with its first debit and first credit line raised by 1.00 (a full update)."""
    body = {k: v for k, v in rec.items() if k not in ("MetaData", "TotalAmt")}
    for posting in ("Debit", "Credit"):
        line = next(x for x in body["Line"] if (x.get("JournalEntryLineDetail") or {}).get("PostingType") == posting)
        line["Amount"] = str(Decimal(str(line["Amount"])) + Decimal("1.00"))
    return body


def edit_fraction(flow: BenchFlow, qbo: QboClient, intacct: Intacct, fraction: float) -> dict[str, int]:
    """Change ``fraction`` of the flow's records on each side as a user would (a new phone number).

    Returns how many were edited per side. The calls land in the sandboxes' counters, so the
    harness resets those afterwards."""
    stats: Counter[str] = Counter()
    if flow.kind == "document":
        return edit_documents(flow, qbo, fraction, stats)
    qbo_rows = sorted(qbo_records(qbo, flow.qbo_entity, stats), key=lambda r: int(r["Id"]))
    for i, rec in enumerate(_every_nth(qbo_rows, fraction)):
        body = {"Id": rec["Id"], "SyncToken": rec["SyncToken"], "sparse": True,
                "PrimaryPhone": {"FreeFormNumber": f"+1 555 010 {i:04d}"}}  # fmt: skip
        if flow.qbo_edit == "amount":
            body = _raised_entry(rec)
        r = _qbo_call(qbo, "POST", flow.qbo_entity.lower(), stats, body=body)
        if r.status_code != 200:
            raise RuntimeError(
                f"QuickBooks refused the benchmark's edit of {flow.qbo_entity} {rec['Id']}: {r.text[:300]}"
            )
    if flow.one_way:  # documents flow one way: nobody edits the Intacct side
        return {"qbo": len(_every_nth(qbo_rows, fraction)), "intacct": 0}
    id_field = flow.intacct_id_field
    ia_rows = sorted(
        intacct.records(flow.intacct_object, f"RECORDNO,{id_field},MEGAENTITYID", stats),
        key=lambda r: int(r["RECORDNO"]),
    )
    edited = _every_nth(ia_rows, fraction)
    for i, rec in enumerate(edited):
        fields = {id_field: rec[id_field], "DISPLAYCONTACT": {"PHONE1": f"+1 555 020 {i:04d}"}}
        result = intacct.call("update", {flow.intacct_object: fields}, stats, entity=rec.get("MEGAENTITYID") or "")
        if result.get("status") != "success":
            raise RuntimeError(
                f"Intacct refused the benchmark's edit of {flow.intacct_object} {rec[id_field]}: {result}"
            )
    return {"qbo": len(_every_nth(qbo_rows, fraction)), "intacct": len(edited)}


# ----------------------------------------------------------------------------------- documents (one way)


def naive_documents(flow: BenchFlow, qbo: QboClient, intacct: Intacct, limit: int | None = None) -> dict[str, Any]:
    """The naive document integration: per QuickBooks document, look its number up in Intacct and post
    it alone (one request each; lines to one account, customer by a derived id), no ledger."""
    stats: Counter[str] = Counter()
    for n, rec in enumerate(qbo_records(qbo, flow.qbo_entity, stats)):
        if limit is not None and n >= limit:
            break
        number = str(rec.get("DocNumber") or f"QB-{rec['Id']}").replace("'", "")
        found = list(intacct.records(flow.intacct_object, "RECORDNO", stats, f"{flow.intacct_id_field} = '{number}'"))
        if found:
            stats["records"] += 1
            continue
        day = str(rec.get("TxnDate") or "2026-10-01")
        date = {"year": day[:4], "month": day[5:7], "day": day[8:10]}
        body = {"customerid": f"QB-{(rec.get('CustomerRef') or {}).get('value')}", "datecreated": date,
                "datedue": date, "invoiceno": number,
                "invoiceitems": {"lineitem": [{"glaccountno": "40000", "amount": str(rec.get("TotalAmt")),
                                               "memo": "naive"}]}}  # fmt: skip
        result = intacct.call("create_invoice", body, stats)
        stats["records" if result.get("status") == "success" else "failed"] += 1
    return dict(stats)


def edit_documents(flow: BenchFlow, qbo: QboClient, fraction: float, stats: Counter[str]) -> dict[str, int]:
    """Change ``fraction`` of the QuickBooks documents as a user would (a new private memo); documents
    flow one way, so Intacct is not edited."""
    rows = sorted(qbo_records(qbo, flow.qbo_entity, stats), key=lambda r: int(r["Id"]))
    prefs = qbo.json(_qbo_call(qbo, "GET", "preferences", stats))["Preferences"]
    closed = str((prefs.get("AccountingInfoPrefs") or {}).get("BookCloseDate") or "")

    def editable(r: dict[str, Any]) -> bool:  # not in a closed period, not voided
        return str(r.get("TxnDate") or "") > closed and not str(r.get("PrivateNote") or "").startswith("Voided")

    edited = _every_nth([r for r in rows if editable(r)], fraction)
    for i, rec in enumerate(edited):
        body = {"Id": rec["Id"], "SyncToken": rec["SyncToken"], "sparse": True, "PrivateNote": f"benchmark edit {i}"}
        r = _qbo_call(qbo, "POST", flow.qbo_entity.lower(), stats, body=body)
        if r.status_code != 200:
            raise RuntimeError(
                f"QuickBooks refused the benchmark's edit of {flow.qbo_entity} {rec['Id']}: {r.text[:300]}"
            )
    return {"qbo": len(edited), "intacct": 0}
