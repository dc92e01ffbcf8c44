"""Rebuild lost links from the two systems themselves, creating no duplicate.

Every record the sync creates carries its origin: the target gets a deterministic key derived from
the source id (e.g. an Intacct ``CUSTOMERID`` made from the QuickBooks id) and/or a stored
reference to the source id (an external-id field). So if the ledger database is lost, reading both
systems gives the links back. This module is the pure part: frames in, links out. The command that
reads both systems through the hooks calls :func:`rebuild_links` and then :func:`apply_rebuild`.

What a finance reader should know: a rebuilt link has no "last synced" hashes, so the next run
compares the two records field by field; where they differ, the system-of-record settings decide
(or a review item is opened), exactly as for any record edited on both sides. Records that two
targets claim are not linked at all; they are reported as conflicts for a person to decide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from qbo_intacct.ledger.repository import Ledger, LinkConflictError, LinkRecord


@dataclass(frozen=True)
class RebuildConflict:
    source_id: str | None
    target_ids: tuple[str, ...]
    reason: str


@dataclass
class RebuildResult:
    links: list[LinkRecord] = field(default_factory=list)
    # Target records that carry no reference to any source: created by hand in the target system.
    unclaimed_targets: list[str] = field(default_factory=list)
    conflicts: list[RebuildConflict] = field(default_factory=list)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def rebuild_links(
    flow: str,
    *,
    source_system: str,
    target_system: str,
    sources: pd.DataFrame,
    targets: pd.DataFrame,
    source_id_col: str = "source_id",
    target_id_col: str = "target_id",
    target_source_ref_col: str | None = "source_ref",
    target_key_col: str | None = "target_key",
    deterministic_key: Callable[[str], str] | None = None,
    source_target_ref_col: str | None = None,
) -> RebuildResult:
    """Links implied by stored references and deterministic keys.

    A target claims a source when its stored source reference equals the source id, or when its
    key equals ``deterministic_key(source id)``. A source record may also claim a target through
    ``source_target_ref_col`` (records the sync created in the source system for a target-first
    record). A pair is linked only when exactly one target claims the source and the claims agree.
    """
    source_ids = [s for s in (_text(v) for v in sources[source_id_col]) if s]
    known_sources = set(source_ids)
    key_to_source = {deterministic_key(s): s for s in source_ids} if deterministic_key else {}
    claims: dict[str, set[str]] = defaultdict(set)
    result = RebuildResult()

    for _, row in targets.iterrows():
        target_id = _text(row[target_id_col])
        if target_id is None:
            continue
        ref = _text(row[target_source_ref_col]) if target_source_ref_col and target_source_ref_col in row else None
        key = _text(row[target_key_col]) if target_key_col and target_key_col in row else None
        by_ref = ref if ref in known_sources else None
        by_key = key_to_source.get(key) if key else None
        if by_ref and by_key and by_ref != by_key:
            result.conflicts.append(
                RebuildConflict(
                    None, (target_id,), f"reference says {by_ref} but key {key} says {by_key}; not linking either"
                )
            )
            continue
        claimed = by_ref or by_key
        if claimed is None:
            result.unclaimed_targets.append(target_id)
            continue
        claims[claimed].add(target_id)

    if source_target_ref_col and source_target_ref_col in sources.columns:
        known_targets = {t for t in (_text(v) for v in targets[target_id_col]) if t}
        for _, row in sources.iterrows():
            source_id, ref = _text(row[source_id_col]), _text(row[source_target_ref_col])
            if source_id and ref in known_targets:
                claims[source_id].add(ref)  # type: ignore[arg-type]
                if ref in result.unclaimed_targets:
                    result.unclaimed_targets.remove(ref)  # type: ignore[arg-type]

    target_keys = {}
    if target_key_col and target_key_col in targets.columns:
        target_keys = {_text(t): _text(k) for t, k in zip(targets[target_id_col], targets[target_key_col], strict=True)}
    claimed_by: dict[str, list[str]] = defaultdict(list)
    for source_id, target_ids in claims.items():
        for target_id in target_ids:
            claimed_by[target_id].append(source_id)
    for source_id in sorted(claims):
        target_ids = claims[source_id]
        if len(target_ids) > 1:
            result.conflicts.append(
                RebuildConflict(source_id, tuple(sorted(target_ids)), "several target records claim this source")
            )
            continue
        (target_id,) = target_ids
        if len(claimed_by[target_id]) > 1:
            result.conflicts.append(
                RebuildConflict(source_id, (target_id,), "this target is claimed by several source records")
            )
            continue
        result.links.append(
            LinkRecord(
                flow=flow,
                source_system=source_system,
                source_id=source_id,
                target_system=target_system,
                target_id=target_id,
                target_key=target_keys.get(target_id),
            )
        )
    return result


def apply_rebuild(ledger: Ledger, result: RebuildResult, *, run_id: str | None = None) -> list[RebuildConflict]:
    """Store the rebuilt links; links already in the ledger stay as they are (their hashes too).

    Returns conflicts between the rebuild and links already stored, which are left untouched.
    """
    conflicts: list[RebuildConflict] = []
    for link in result.links:
        existing = ledger.link_for_source(link.flow, link.source_system, link.source_id)
        if existing is not None and existing.target_id == link.target_id:
            continue
        try:
            ledger.upsert_link(replace(link, run_id=run_id))
        except LinkConflictError as exc:
            conflicts.append(RebuildConflict(link.source_id, (link.target_id,), str(exc)))
    return conflicts
