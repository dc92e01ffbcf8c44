"""The end state of a flow's books, and how two end states differ (what the suite counts).

The end state is read from outside the product only: each sandbox's whole state (``POST
/_sandbox/snapshot/save``) and the sync ledger (the ``qbo_intacct_state`` SQLite file the run used).
A record is compared by its content with what the systems assign themselves left out (ids, sync
tokens, record numbers, creation and change times), because a fault-free run and a faulted one may
create the same customer under another QuickBooks Id. Links are compared by what finance would
recognise: the QuickBooks DisplayName paired with the Intacct ID.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

#: What each system assigns on its own (never part of a record's identity across runs).
VOLATILE = frozenset(
    {"Id", "SyncToken", "MetaData", "domain", "sparse", "RECORDNO", "WHENMODIFIED", "WHENCREATED", "WHENDUE",
     "AUWHENCREATED"}  # transactions' creation time (GLBATCH, ARINVOICE, ...)
)  # fmt: skip
_SUFFIX = re.compile(r"\s*(\(\d+\)|-\d+)$")


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def fingerprint(record: dict[str, Any]) -> str:
    return json.dumps(_strip(record), sort_keys=True, default=str)


@dataclass
class EndState:
    """One flow's books after a run: its records in both systems, the ledger's links and open items."""

    qbo: list[dict[str, Any]]
    intacct: list[dict[str, Any]]
    links: set[tuple[str, str]] = field(default_factory=set)  # (QuickBooks DisplayName, Intacct ID)
    open_items: list[dict[str, str]] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)  # records neither linked nor held for review

    def summary(self) -> dict[str, int]:
        return {
            "qbo_records": len(self.qbo),
            "intacct_records": len(self.intacct),
            "links": len(self.links),
            "open_review_items": len(self.open_items),
            "unexplained": len(self.unexplained),
        }


def save_snapshot(admin_url: str, path: Path) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    requests.post(f"{admin_url}/snapshot/save", json={"path": str(path)}, timeout=120).raise_for_status()
    return json.loads(path.read_text())


def qbo_records(snapshot: dict[str, Any], entity: str) -> list[dict[str, Any]]:
    realm = next(iter(snapshot["realms"].values()))
    records = realm["records"].get(entity, [])
    return list(records.values()) if isinstance(records, dict) else list(records)


def intacct_records(snapshot: dict[str, Any], obj: str) -> list[dict[str, Any]]:
    records = snapshot["records"].get(obj, [])
    return list(records.values()) if isinstance(records, dict) else list(records)


def read_end_state(flow: Any, admins: dict[str, Any], state_db: Path, folder: Path) -> EndState:
    """Snapshot both sandboxes into ``folder`` and read the ledger of ``flow`` (a ``bench.flows.BenchFlow``)."""
    qbo = qbo_records(save_snapshot(admins["qbo"].url, folder / "qbo.json"), flow.qbo_entity)
    intacct = intacct_records(save_snapshot(admins["intacct"].url, folder / "intacct.json"), flow.intacct_object)
    state = EndState(qbo=qbo, intacct=intacct)
    name = flow.dag_id.removeprefix("qbo_intacct_")
    qbo_name = {str(r.get("Id")): _qbo_key(r) for r in qbo}
    intacct_ids = {str(r.get("RECORDNO")): str(r.get(flow.intacct_id_field)) for r in intacct}
    intacct_ids.update({str(r.get(flow.intacct_id_field)): str(r.get(flow.intacct_id_field)) for r in intacct})
    linked: set[tuple[str, str]] = set()
    held: set[tuple[str, str]] = set()
    if state_db.exists():
        with sqlite3.connect(state_db) as db:
            tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
            if "ledger_links" in tables:
                for src_sys, src, tgt_sys, tgt in db.execute(
                    "select source_system, source_id, target_system, target_id from ledger_links where flow = ?",
                    (name,),
                ):
                    pair = {src_sys: str(src), tgt_sys: str(tgt)}
                    qid = _bare(pair.get("qbo", ""), flow.qbo_entity)
                    iid = _bare(pair.get("intacct", ""), flow.intacct_object)
                    linked.add(("qbo", qid))
                    linked.add(("intacct", iid))
                    state.links.add((qbo_name.get(qid, f"missing QuickBooks {qid}"), intacct_ids.get(iid, iid)))
            if "ledger_review_items" in tables:
                for system, rid, reason, candidates in db.execute(
                    "select record_system, record_id, reason_code, candidates from ledger_review_items "
                    "where flow = ? and status = 'open'",
                    (name,),
                ):
                    held.add((system, _bare(str(rid), flow.qbo_entity if system == "qbo" else flow.intacct_object)))
                    state.open_items.append({"system": system, "record": str(rid), "reason": reason})
                    # A record named as a candidate of an open item is explained by it (finance decides both).
                    other = "intacct" if system == "qbo" else "qbo"
                    for candidate in json.loads(candidates or "[]"):
                        sys_name, _, cid = str(candidate).rpartition(":")
                        sys_name = sys_name.partition(":")[0]  # "intacct:ARINVOICE:7" names system and record
                        held.add((sys_name or other, cid))
    for r in qbo:
        rid = str(r.get("Id"))
        if ("qbo", rid) not in linked and ("qbo", rid) not in held:
            state.unexplained.append(f"QuickBooks {flow.qbo_entity} {_qbo_key(r)!r} (Id {rid})")
    for r in intacct:
        if not getattr(flow, "intacct_to_qbo", True) and not _written_by_sync(r):
            continue  # Intacct's own documents are none of a QuickBooks-to-Intacct flow's business
        keys = {str(r.get("RECORDNO")), str(r.get(flow.intacct_id_field))}
        if not any(("intacct", k) in linked or ("intacct", k) in held for k in keys):
            state.unexplained.append(f"Intacct {flow.intacct_object} {r.get(flow.intacct_id_field)}")
    return state


def _written_by_sync(record: dict[str, Any]) -> bool:
    """The marks the one-way flows write: EXTERNALID ``qbo:Invoice:17``, batch REFERENCENO ``QBO-JE-5``."""
    return str(record.get("EXTERNALID") or record.get("REFERENCENO") or "").lower().startswith("qbo")


def _bare(record_id: str, kind: str) -> str:
    """The record's own id: document flows key the ledger as ``Invoice:17`` / ``ARINVOICE:123``."""
    return record_id.removeprefix(f"{kind}:")


def _qbo_key(record: dict[str, Any]) -> str:
    """What finance knows a QuickBooks record by: a name (lists), else a document number, else its Id."""
    return str(record.get("DisplayName") or record.get("DocNumber") or record.get("Id"))


def _name(record: dict[str, Any], system: str, id_field: str) -> str:
    value = _qbo_key(record) if system == "qbo" else record.get("NAME") or record.get(id_field)
    return _SUFFIX.sub("", str(value or "")).strip().casefold()


def compare(flow: Any, expected: EndState, got: EndState) -> dict[str, Any]:
    """What differs between the fault-free books and a run's: each count is zero when they are the same.

    - ``duplicates``: records sharing a name (suffixes such as `` (2)`` ignored) beyond the fault-free books;
    - ``lost``: records of the fault-free books with no record of the same key (DisplayName / ID);
    - ``differing``: records of the same key whose content (amounts, fields, references) differs;
    - ``extra``: records that are not in the fault-free books at all;
    - ``links_missing`` / ``links_extra``: ledger links (DisplayName, Intacct ID) not as in the fault-free run;
    - ``unexplained``: records neither linked nor held by an open review item.
    """
    out: dict[str, Any] = {"details": {}}
    dup = lost = differing = extra = 0
    for system in ("qbo", "intacct"):
        base = getattr(expected, system)
        now = getattr(got, system)

        def key_of(r: dict[str, Any], system: str = system) -> str:
            return _qbo_key(r) if system == "qbo" else str(r.get(flow.intacct_id_field))

        names_base = Counter(_name(r, system, flow.intacct_id_field) for r in base)
        names_now = Counter(_name(r, system, flow.intacct_id_field) for r in now)
        dup += sum(max(0, n - names_base.get(k, 0)) for k, n in names_now.items() if n > 1)
        by_key_base = {key_of(r): fingerprint(r) for r in base}
        by_key_now = {key_of(r): fingerprint(r) for r in now}
        missing = sorted(set(by_key_base) - set(by_key_now))
        added = sorted(set(by_key_now) - set(by_key_base))
        changed = sorted(k for k in set(by_key_base) & set(by_key_now) if by_key_base[k] != by_key_now[k])
        lost += len(missing)
        extra += len(added)
        differing += len(changed)
        out["details"][system] = {"lost": missing[:20], "extra": added[:20], "differing": changed[:20]}
    out.update(
        {
            "duplicates": dup,
            "lost": lost,
            "differing": differing,
            "extra": extra,
            "links_missing": len(expected.links - got.links),
            "links_extra": len(got.links - expected.links),
            "unexplained": len(got.unexplained),
            "records": len(got.qbo) + len(got.intacct),
        }
    )
    out["details"]["links_missing"] = sorted(expected.links - got.links)[:20]
    out["details"]["links_extra"] = sorted(got.links - expected.links)[:20]
    out["details"]["unexplained"] = got.unexplained[:20]
    out["converged"] = all(
        out[k] == 0 for k in ("duplicates", "lost", "differing", "extra", "links_missing", "links_extra")
    )
    return out
