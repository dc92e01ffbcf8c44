"""Find the target record for each source record before anything is created.

Order (first that decides wins):

1. **Link** in the ledger: the pair was synced before.
2. **Strong identifiers** (tax ID, email, external reference...): exactly one unlinked target shares
   one or more of them and no identifier points elsewhere -> ``match`` (link and update).
   Several targets, identifiers pointing at different targets, or a target already linked to
   another source -> ``candidates`` (a review item; nothing is created).
3. **Normalised name** only: ``candidates`` too. A name alone never links, because two different
   companies can share a name and merging them would mix two customers' balances.
4. Nothing: ``none`` (the planner creates the record).

Two source records that strongly match the same target are both held (``duplicate_source``): one of
them is probably a duplicate in the source system, and only a person can tell which.

Name normalisation: case, accents, punctuation and spacing ignored; ``&`` reads as ``and``; legal
suffixes (Inc, Incorporated, Ltd, Limited, LLC, LLP, LP, PLC, Corp, Corporation, Co, Company, GmbH,
AG, SA, SAS, BV, NV, Pty, PC) dropped at the end, so "Acme, Inc." and "ACME Incorporated" match.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported inside the functions that build frames: flow declarations
    import pandas as pd  # import this module when a DAG file is parsed, and must stay light

LEGAL_SUFFIXES: frozenset[str] = frozenset(
    {
        "inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "plc", "corp", "corporation", "co",
        "company", "gmbh", "ag", "sa", "sas", "bv", "nv", "pty", "pc",
    }
)  # fmt: skip
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _missing(value: object) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def normalize_name(name: object) -> str:
    """The comparable form of a company or person name ("" when there is none)."""
    if _missing(name):
        return ""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ")
    # Dotted abbreviations first ("l.l.c." -> "llc"), then everything else that is not a letter or digit.
    text = re.sub(r"\b((?:[a-z]\.){2,})", lambda m: m.group(1).replace(".", ""), text)
    words = [w for w in _NON_WORD.split(text) if w]
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def normalize_email(value: object) -> str:
    if _missing(value):
        return ""
    return str(value).strip().casefold()


def normalize_tax_id(value: object) -> str:
    """Digits and letters only, upper case: ``12-3456789`` and ``123456789`` are the same EIN."""
    if _missing(value):
        return ""
    return re.sub(r"[^0-9A-Za-z]", "", str(value)).upper()


def normalize_reference(value: object) -> str:
    if _missing(value):
        return ""
    return str(value).strip()


@dataclass(frozen=True)
class StrongId:
    """An identifier that, when equal on both sides, is enough to link two records."""

    name: str
    source_column: str
    target_column: str
    normalize: Callable[[object], str] = normalize_reference


class MatchOutcome(StrEnum):
    LINKED = "linked"
    MATCH = "match"
    CANDIDATES = "candidates"
    NONE = "none"


MATCH_COLUMNS = ["source_id", "outcome", "target_id", "matched_by", "candidates", "reason"]


def match_records(
    source: pd.DataFrame,
    target: pd.DataFrame,
    links: pd.DataFrame | None = None,
    *,
    strong_ids: Sequence[StrongId] = (),
    name_columns: tuple[str, str] | None = None,
    source_id_column: str = "source_id",
    target_id_column: str = "target_id",
) -> pd.DataFrame:
    """One row per source record: ``outcome``, ``target_id`` (match/linked), ``matched_by``, ``candidates``.

    ``links`` has ``source_id`` and ``target_id`` columns (the ledger's links for this flow).
    """
    import pandas as pd

    linked_target_of: dict[str, str] = {}
    linked_source_of: dict[str, str] = {}
    if links is not None and not links.empty:
        for s, t in zip(links["source_id"].astype(str), links["target_id"].astype(str), strict=True):
            linked_target_of[s] = t
            linked_source_of[t] = s

    target_ids = target[target_id_column].astype(str).tolist()
    index: dict[str, dict[str, list[str]]] = {}
    for strong in strong_ids:
        by_value: dict[str, list[str]] = defaultdict(list)
        for tid, raw in zip(target_ids, target[strong.target_column].tolist(), strict=True):
            value = strong.normalize(raw)
            if value:
                by_value[value].append(tid)
        index[strong.name] = by_value
    by_name: dict[str, list[str]] = defaultdict(list)
    if name_columns is not None:
        for tid, raw in zip(target_ids, target[name_columns[1]].tolist(), strict=True):
            value = normalize_name(raw)
            if value:
                by_name[value].append(tid)

    rows: list[dict[str, object]] = []
    strong_claims: dict[str, list[int]] = defaultdict(list)  # target id -> rows that matched it strongly
    for record in source.to_dict("records"):
        sid = str(record[source_id_column])
        if sid in linked_target_of:
            rows.append(_row(sid, MatchOutcome.LINKED, linked_target_of[sid], "link", (), ""))
            continue
        hits: dict[str, list[str]] = defaultdict(list)  # target id -> identifiers that point at it
        for strong in strong_ids:
            value = strong.normalize(record.get(strong.source_column))
            for tid in index[strong.name].get(value, []) if value else []:
                hits[tid].append(strong.name)
        if len(hits) == 1:
            (tid,) = hits
            if tid in linked_source_of:
                rows.append(
                    _row(sid, MatchOutcome.CANDIDATES, None, "+".join(hits[tid]), (tid,), "target_already_linked")
                )
            else:
                strong_claims[tid].append(len(rows))
                rows.append(_row(sid, MatchOutcome.MATCH, tid, "+".join(hits[tid]), (tid,), ""))
            continue
        if len(hits) > 1:
            matched_by = "+".join(sorted({n for names in hits.values() for n in names}))
            rows.append(_row(sid, MatchOutcome.CANDIDATES, None, matched_by, tuple(sorted(hits)), "several_strong"))
            continue
        names = by_name.get(normalize_name(record.get(name_columns[0]))) if name_columns else None
        if names:
            rows.append(_row(sid, MatchOutcome.CANDIDATES, None, "name", tuple(sorted(names)), "name_only"))
        else:
            rows.append(_row(sid, MatchOutcome.NONE, None, "", (), ""))

    for claimant_rows in strong_claims.values():
        if len(claimant_rows) > 1:
            for i in claimant_rows:
                rows[i] = {
                    **rows[i],
                    "outcome": MatchOutcome.CANDIDATES,
                    "target_id": None,
                    "reason": "duplicate_source",
                }
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def _row(
    source_id: str,
    outcome: MatchOutcome,
    target_id: str | None,
    matched_by: str,
    candidates: tuple[str, ...],
    reason: str,
) -> dict[str, object]:
    return {
        "source_id": source_id,
        "outcome": outcome,
        "target_id": target_id,
        "matched_by": matched_by,
        "candidates": list(candidates),
        "reason": reason,
    }


def apply_decisions(matches: pd.DataFrame, decisions: Mapping[str, tuple[str, str | None]]) -> pd.DataFrame:
    """Override match outcomes with finance's decisions: source id -> ("link"|"create"|"ignore", target id).

    A ``link`` becomes a match to the chosen target, ``create`` becomes ``none`` (create new),
    ``ignore`` drops the row from matching (the planner skips it).
    """
    out = matches.copy()
    keep = []
    for i, sid in zip(out.index, out["source_id"], strict=True):
        decision = decisions.get(sid)
        if decision is None or out.at[i, "outcome"] == MatchOutcome.LINKED:
            keep.append(i)
            continue
        kind, target_id = decision
        if kind == "ignore":
            continue
        if kind == "link":
            out.at[i, "outcome"], out.at[i, "target_id"], out.at[i, "matched_by"] = (
                MatchOutcome.MATCH,
                target_id,
                "decision",
            )
        elif kind == "create":
            out.at[i, "outcome"], out.at[i, "target_id"], out.at[i, "matched_by"] = MatchOutcome.NONE, None, "decision"
        out.at[i, "reason"] = ""
        keep.append(i)
    return out.loc[keep].reset_index(drop=True)
