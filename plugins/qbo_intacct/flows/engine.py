"""The sync engine: one run of any declared flow (:class:`~qbo_intacct.flows.declaration.FlowSpec`).

scope -> map + validate -> match -> plan -> load -> record -> report. Each ``*_step`` function is
one Airflow task's body (the DAG builder in :mod:`qbo_intacct.operators.sync_dag` wires them); the
pure functions below them (:func:`match`, :func:`plan`, :func:`record`) take frames and are what the
unit tests call. Frames travel between tasks as staged parquet; XCom carries paths and counts.

What the engine decides, for a finance reader (the flow module says which fields and keys):

- **Matching before creating.** A QuickBooks record without a link is looked for in Intacct by the
  keys the sync itself writes (the stored reference, the Intacct id derived from the QuickBooks id:
  decisive), then by the identifiers finance keys (tax ID, email: one unlinked hit links), then by
  name (never decisive: a review item listing the candidates).
- **Duplicates are held, not created.** Two records of the same system sharing a tax ID or email
  are both held, listing each other, until finance decides in the workbook's Record Links table or
  in the review DAG (Create new / Ignore / Link). So is an Intacct record that would be created in
  QuickBooks while a QuickBooks record already has its tax ID, email or name.
- **Held stays held.** A record with an open review item that lists candidates is held, whatever
  else changed (a candidate renamed, a candidate deleted), until finance decides.
- **One bad record never stops the run.** A record that cannot be mapped (an amount typed as words,
  a control character the other system cannot store) is held for review with the field and the
  reason; the others go on. So is any write a system refused (its message is in the review item).
- **A rebuilt link never overwrites.** After the ledger is lost, a pair found again by the keys
  the sync wrote has no record of which side changed; where its values differ they are held for
  review, not overwritten. Values the naming rules produced (a DisplayName cleaned of ``:`` or
  suffixed to be unique) are the same value, not an edit.
- **Cost follows the change.** Names in use are collected once per run; the decisions applied
  check and every lookup are sets built once: nothing is quadratic in the records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pandas as pd

from qbo_intacct.flows.declaration import FlowMappingError, FlowSpec, TakenNames, qbo_display_name
from qbo_intacct.flows.hashing import group_hashes
from qbo_intacct.flows.matching import MatchOutcome, StrongId, apply_decisions, match_records, normalize_name
from qbo_intacct.flows.planning import Action, Plan, PlannedAction, Side
from qbo_intacct.flows.runtime import (
    DEFAULT_OVERLAP,
    Window,
    compute_window,
    content_key,
    hold,
    last_window_end,
    plan_from_frame,
    stage,
    staged_records,
    writes_frame,
)
from qbo_intacct.flows.staging import read_staged
from qbo_intacct.flows.summary import RunSummary

log = logging.getLogger(__name__)

OVERLAP_VARIABLE = "qbo_intacct_window_overlap_minutes"
FAILURE_COLUMNS = ["system", "record_id", "reason_code", "detail", "fingerprint"]
#: Characters XML 1.0 cannot carry (Intacct's API is XML): C0 controls except tab, newline, return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# ------------------------------------------------------------------------------------ glue


def load_workbook_mappings() -> Any:
    from qbo_intacct.mappings.loader import load_mappings, mapping_workbook_path

    return load_mappings(mapping_workbook_path())


def open_ledger() -> Any:
    from qbo_intacct.ledger.repository import Ledger

    return Ledger.from_connection()


def id_pattern(spec: FlowSpec) -> str:
    from airflow.sdk import Variable

    return Variable.get(spec.id_pattern_variable, default=None) or spec.default_id_pattern


def lookup_records(lookups: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Staged lookup lists (entity -> staged file) as records (entity -> list of dicts)."""
    return {entity: staged_records(staged) for entity, staged in (lookups or {}).items()}


# ------------------------------------------------------------------------------------ frames


@dataclass
class MappedFrame:
    """One side in the shared vocabulary, plus the records that could not be mapped (held)."""

    frame: pd.DataFrame
    failures: list[dict[str, Any]]


def _typed(spec: FlowSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Money as Decimal objects and flags as bools: never let pandas turn an empty column into floats."""
    for column in spec.money_fields:
        frame[column] = pd.Series(
            [v if isinstance(v, Decimal) else None for v in frame[column]], index=frame.index, dtype=object
        )
    for column in spec.flag_fields:
        frame[column] = frame[column].astype(object)
    return frame


def _control_character(spec: FlowSpec, row: Mapping[str, Any]) -> tuple[str, str] | None:
    for name in spec.shared_fields:
        value = row.get(name)
        if isinstance(value, str):
            found = _CONTROL.search(value)
            if found:
                return name, f"U+{ord(found.group()):04X}"
    return None


def _failure(system: str, record_id: str, reason: str, detail: str, fingerprint: str) -> dict[str, Any]:
    return {"system": system, "record_id": record_id, "reason_code": reason, "detail": detail,
            "fingerprint": fingerprint}  # fmt: skip


def _held_row(columns: Sequence[str], ids: Mapping[str, Any], reason: str) -> dict[str, Any]:
    row = dict.fromkeys(columns)
    row.update(ids)
    row["hold_reason"] = reason
    return row


def _check_characters(spec: FlowSpec, row: dict[str, Any], system: str, rid: str, other: str) -> dict | None:
    bad = _control_character(spec, row)
    if bad is None:
        return None
    field_name, char = bad
    row["hold_reason"] = ";".join(filter(None, [row.get("hold_reason"), f"invalid_characters:{field_name}"]))
    return _failure(
        system, rid, f"invalid_characters:{field_name}",
        f"{spec.noun} {rid} field {field_name}: contains the control character {char}, which {other} cannot "
        f"store; remove it from the record in {'QuickBooks' if system == 'qbo' else 'Intacct'}",
        f"control:{field_name}",
    )  # fmt: skip


#: What a malformed record from an API raises in a flow's row builder (a field missing, of the wrong
#: type, or unparseable); like FlowMappingError it holds that record and the batch goes on.
_MALFORMED = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)


def _malformed(spec: FlowSpec, system: str, rid: str, exc: Exception, record: Mapping[str, Any]) -> str:
    """A specific sentence for a record the row builder could not read (never a bare traceback)."""
    where = "QuickBooks" if system == "qbo" else "Intacct"
    name = record.get("DisplayName") if system == "qbo" else record.get("NAME")
    rid = f"{rid} ({name})" if name and rid not in ("None", "") else (f"named {name!r}" if name else rid)
    if isinstance(exc, KeyError):
        return f"{spec.noun} {rid}: field {exc.args[0]} is missing from the {where} record; fill it in {where}"
    return f"{spec.noun} {rid}: the {where} record cannot be read ({type(exc).__name__}: {exc}); check it in {where}"


def _check_name(spec: FlowSpec, row: dict[str, Any], system: str, rid: str) -> dict | None:
    """A record without a name (a malformed reply) is held: it would create a nameless record on the other side."""
    if "name" not in spec.shared_fields or (isinstance(row.get("name"), str) and row["name"].strip()):
        return None
    field_name = "DisplayName" if system == "qbo" else "NAME"
    where = "QuickBooks" if system == "qbo" else "Intacct"
    row["hold_reason"] = ";".join(filter(None, [row.get("hold_reason"), "missing_field:name"]))
    return _failure(
        system, rid, "missing_field:name",
        f"{spec.noun} {rid}: field {field_name} is empty in {where}; give the {spec.noun} its name in {where}",
        "missing:name",
    )  # fmt: skip


def source_frame(spec: FlowSpec, records: Iterable[Mapping[str, Any]], context: Any, pattern: str) -> MappedFrame:
    """QuickBooks records in the shared vocabulary; one that cannot be mapped is held, not fatal."""
    columns = [*spec.source_columns, *spec.shared_fields]
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for record in records:
        rid = str(record.get("Id"))
        try:
            row = spec.qbo_row(record, context, pattern)
        except (FlowMappingError, *_MALFORMED) as exc:
            detail = str(exc) if isinstance(exc, FlowMappingError) else _malformed(spec, "qbo", rid, exc, record)
            log.warning("held for review: %s", detail)
            rows.append(_held_row(columns, {"source_id": rid, "sync_token": record.get("SyncToken")}, "cannot_map"))
            failures.append(_failure("qbo", rid, "cannot_map", detail, "cannot_map"))
            continue
        if row is None:
            continue
        bad = _check_characters(spec, row, "qbo", rid, "Intacct") or _check_name(spec, row, "qbo", rid)
        if bad:
            failures.append(bad)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=columns)
    return MappedFrame(_typed(spec, frame.reset_index(drop=True)), failures)


def target_frame(spec: FlowSpec, records: Iterable[Mapping[str, Any]]) -> MappedFrame:
    """Intacct records in the shared vocabulary; one that cannot be mapped is held, not fatal."""
    columns = [*spec.target_columns, *spec.shared_fields]
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for record in records:
        rid = str(record.get(spec.intacct_id_field) or record.get("RECORDNO"))
        try:
            row = spec.intacct_row(record)
        except (FlowMappingError, *_MALFORMED) as exc:
            detail = str(exc) if isinstance(exc, FlowMappingError) else _malformed(spec, "intacct", rid, exc, record)
            log.warning("held for review: %s", detail)
            ids = {"target_id": rid, "target_key": rid, "record_no": record.get("RECORDNO"),
                   "entity": record.get("MEGAENTITYID") or ""}  # fmt: skip
            rows.append(_held_row(columns, {k: v for k, v in ids.items() if k in columns}, "cannot_map"))
            failures.append(_failure("intacct", rid, "cannot_map", detail, "cannot_map"))
            continue
        bad = _check_characters(spec, row, "intacct", rid, "QuickBooks") or _check_name(spec, row, "intacct", rid)
        if bad:
            failures.append(bad)
        rows.append(row)
    return MappedFrame(_typed(spec, pd.DataFrame(rows, columns=columns)), failures)


# ------------------------------------------------------------------------------------ prepare


def prepare_step(spec: FlowSpec, context: Mapping[str, Any]) -> dict[str, Any]:
    """Check the workbook (a broken one fails here, before any read or write) and fix the run's window."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    from qbo_intacct.mappings.validate import MappingWorkbookError

    try:
        mappings = load_workbook_mappings()
    except MappingWorkbookError as exc:
        raise AirflowFailException(str(exc)) from None
    from qbo_intacct.mappings.loader import report_gaps

    report_gaps(mappings, log)
    setting = mappings.flow(spec.name)
    params = context.get("params") or {}
    ledger = open_ledger()
    configured = Variable.get(OVERLAP_VARIABLE, default=None)
    overlap = dt.timedelta(minutes=int(configured)) if configured else DEFAULT_OVERLAP
    window = compute_window(
        last_window_end(ledger.engine, spec.name),
        # Both APIs keep whole seconds: end on the next whole second so an edit saved in the same
        # second the run starts is read now (and, through the overlap, again next run: harmless).
        now=dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1),
        data_interval_start=context.get("data_interval_start"),
        overlap=overlap,
        full_refresh=bool(params.get("full_refresh")),
    )
    pattern = id_pattern(spec)
    try:
        spec.derive_target_id("1", pattern)  # a bad pattern fails now, not after reading both systems
    except FlowMappingError as exc:
        raise AirflowFailException(f"Airflow Variable {spec.id_pattern_variable}: {exc}") from None
    log.info(
        "%s run: window %s -> %s%s; dry run %s; workbook %s",
        spec.name,
        window.start.isoformat() if window.start else "(everything)",
        window.end.isoformat(),
        "" if window.start else " (first run or full refresh)",
        bool(params.get("dry_run")),
        mappings.path,
    )
    return {
        "window": window.as_xcom(),
        "dry_run": bool(params.get("dry_run")),
        "enabled": bool(setting and setting.enabled),
        "id_pattern": pattern,
    }


# ------------------------------------------------------------------------------------ scope


def _candidate_ids(candidates: Iterable[str], default_system: str) -> list[tuple[str, str]]:
    """Review-item candidates (``qbo:17``, ``intacct:C-1`` or a bare id of ``default_system``) as pairs."""
    out = []
    for candidate in candidates:
        system, _, rid = str(candidate).partition(":")
        out.append((system, rid) if rid and system in ("qbo", "intacct") else (default_system, str(candidate)))
    return out


def record_keys(spec: FlowSpec, row: Mapping[str, Any], system: str) -> list[tuple[str, str]]:
    """The (kind, normalised value) keys matching compares for one row in the shared vocabulary:
    every strong identifier of the flow on ``system``'s side, and the normalised name."""
    keys = []
    for strong in spec.strong_ids:
        value = strong.normalize(row.get(strong.source_column if system == "qbo" else strong.target_column))
        if value:
            keys.append((strong.name, value))
    name = normalize_name(row.get("name"))
    if name:
        keys.append(("name", name))
    return keys


def _directory_candidates(
    spec: FlowSpec, ledger: Any, system: str, rows: Sequence[Mapping[str, Any]]
) -> set[str] | None:
    """Ids of ``system``'s records sharing a key with ``rows`` (the other system's new records), from
    the ledger's directory; ``None`` when the directory does not hold ``system`` whole yet."""
    from qbo_intacct.ledger import directory

    if not directory.is_complete(ledger.engine, spec.name, system):
        return None
    other = "intacct" if system == "qbo" else "qbo"
    wanted = []
    for row in rows:
        for kind, value in record_keys(spec, row, other):
            wanted.append((kind, value))
    found = directory.find(ledger.engine, spec.name, system, wanted)
    return {rid for ids in found.values() for rid in ids}


def _new_rows(spec: FlowSpec, system: str, records: Sequence[Mapping[str, Any]], mappings: Any, pattern: str | None):
    """New records in the shared vocabulary, for their keys only (no lookups needed for those)."""
    if system == "intacct":
        return [spec.intacct_row(r) for r in records]
    context = spec.build_context({}, mappings)
    rows = [spec.qbo_row(r, context, pattern or spec.default_id_pattern) for r in records]
    return [row for row in rows if row is not None]


def scope(
    spec: FlowSpec,
    qbo_changed: Mapping[str, Any],
    intacct_changed: Mapping[str, Any],
    window: Mapping[str, Any],
    ledger: Any,
    mappings: Any = None,
    pattern: str | None = None,
) -> dict[str, Any]:
    """Which other records to read besides the changed ones: ids, ``"all"``, or nothing.

    Besides the partners of changed records, every record with an open review item, a decision
    not applied yet, or a Record Links row is read again, so finance's answers (and workbook fixes
    such as an enabled currency) take effect on the next run even if nobody edits the record.

    Cost follows the change: a linked record brings its partner (by id); a held record brings the
    candidates its review item lists, the target the decision names and the id the sync would
    give it (by id), since the search that held it already ran. A new, unlinked, undecided record
    brings the records of the other system that share a key with it (tax ID, email, name, the keys
    the sync writes), found in the ledger's directory (:mod:`qbo_intacct.ledger.directory`); only
    while the directory does not hold the other system whole yet is that system read whole.
    """
    from qbo_intacct.flows.review import SYSTEM_CODES
    from qbo_intacct.ledger.repository import ReviewStatus

    if window.get("start") is None:
        return {"qbo_ids": [], "intacct_ids": [], "names": "all"}
    intacct_window = staged_records(intacct_changed)
    staged_qbo = {str(r["Id"]) for r in staged_records(qbo_changed)}
    staged_intacct = {str(r[spec.intacct_id_field]) for r in intacct_window}
    qbo_ids, intacct_ids = set(staged_qbo), set(staged_intacct)
    known: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)  # held record -> what it needs read
    pending = [*ledger.review_items(spec.name, ReviewStatus.OPEN), *ledger.pending_decisions(spec.name)]
    for item in pending:
        system = "qbo" if item.record_system == "qbo" else "intacct"
        (qbo_ids if system == "qbo" else intacct_ids).add(item.record_id)
        other = "intacct" if system == "qbo" else "qbo"
        needs = known[(system, item.record_id)]
        needs.update(_candidate_ids(item.candidates, other))
        if getattr(item, "decision_target_id", None):
            needs.add((other, str(item.decision_target_id)))
    for link in mappings.links_for(spec.name) if mappings is not None else ():
        system = "qbo" if SYSTEM_CODES.get(link.source_system) == "qbo" else "intacct"
        (qbo_ids if system == "qbo" else intacct_ids).add(link.source_id)
        needs = known[(system, link.source_id)]
        if link.target_id:
            needs.add(("intacct" if system == "qbo" else "qbo", str(link.target_id)))
    links = ledger.links(spec.name)
    target_of = {link.source_id: link.target_id for link in links}
    source_of = {link.target_id: link.source_id for link in links}
    need: dict[str, set[str]] = {
        "intacct": {target_of[q] for q in qbo_ids if q in target_of} | intacct_ids,
        "qbo": {source_of[i] for i in intacct_ids if i in source_of} | qbo_ids,
    }
    read_all = {"qbo": False, "intacct": False}
    new: dict[str, list[str]] = {"qbo": [], "intacct": []}  # new unlinked records, to find candidates for
    for q in qbo_ids - set(target_of):
        if ("qbo", q) not in known:
            new["qbo"].append(q)
            if pattern:
                with contextlib.suppress(FlowMappingError):
                    need["intacct"].add(spec.derive_target_id(q, pattern))
            continue
        for system, rid in known[("qbo", q)]:
            need[system].add(rid)
        if pattern:
            with contextlib.suppress(FlowMappingError):
                need["intacct"].add(spec.derive_target_id(q, pattern))
    for i in intacct_ids - set(source_of):
        if ("intacct", i) not in known:
            new["intacct"].append(i)
            continue
        for system, rid in known[("intacct", i)]:
            need[system].add(rid)
    staged_by_id = {
        "qbo": {str(r["Id"]): r for r in staged_records(qbo_changed)},
        "intacct": {str(r[spec.intacct_id_field]): r for r in intacct_window},
    }
    for system, other in (("qbo", "intacct"), ("intacct", "qbo")):
        records = [staged_by_id[system][rid] for rid in new[system] if rid in staged_by_id[system]]
        if len(records) < len(new[system]):  # a new record we do not have in hand: search the old way
            read_all[other] = True
            continue
        if not records:
            continue
        try:
            found = _directory_candidates(spec, ledger, other, _new_rows(spec, system, records, mappings, pattern))
        except FlowMappingError:
            found = None
        if found is None:
            read_all[other] = True
        else:
            need[other] |= found
    need_qbo: set[str] | str = "all" if read_all["qbo"] else need["qbo"] - staged_qbo
    need_intacct: set[str] | str = "all" if read_all["intacct"] else need["intacct"] - staged_intacct
    log.info(
        "in scope: %d QuickBooks and %d Intacct %ss changed or held; partners to read: QuickBooks %s, Intacct %s",
        len(qbo_ids),
        len(intacct_ids),
        spec.noun,
        need_qbo if isinstance(need_qbo, str) else len(need_qbo),
        need_intacct if isinstance(need_intacct, str) else len(need_intacct),
    )
    decided_intacct = any(item.record_system != "qbo" for item in ledger.pending_decisions(spec.name)) or any(
        SYSTEM_CODES.get(link.source_system) != "qbo" for link in (mappings.links_for(spec.name) if mappings else ())
    )
    return {
        "qbo_ids": need_qbo if isinstance(need_qbo, str) else sorted(need_qbo),
        "intacct_ids": need_intacct if isinstance(need_intacct, str) else sorted(need_intacct),
        "names": "all" if decided_intacct else names_to_check(intacct_window),
    }


def names_to_check(intacct_records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The QuickBooks DisplayNames this run may give (its Intacct records' names, as the naming rules
    clean them), to look up by name instead of reading every customer, vendor and employee.

    Only a record in the window can be created in QuickBooks or renamed there this run; a held one
    waits for a decision, and a run that applies a decision about an Intacct record reads every name.
    """
    from qbo_intacct.flows.declaration import clean_display_name

    names = {clean_display_name(str(r.get("NAME") or ""), "") for r in intacct_records}
    return sorted(n for n in names if n)


def scope_step(spec: FlowSpec, qbo: Mapping[str, Any], intacct: Mapping[str, Any], run: Mapping[str, Any]) -> dict:
    return scope(spec, qbo, intacct, run["window"], open_ledger(), load_workbook_mappings(), run.get("id_pattern"))


# ------------------------------------------------------------------------------------ map + validate


def _merge(id_field: str, staged: Iterable[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in staged:
        for record in staged_records(item):
            out[str(record.get(id_field))] = record
    return list(out.values())


def map_and_validate(
    spec: FlowSpec,
    *,
    run_id: str,
    mappings: Any,
    pattern: str,
    qbo: Sequence[Mapping[str, Any] | None],
    intacct: Sequence[Mapping[str, Any] | None],
    lookups: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Both sides in the shared vocabulary; rows failing a check are marked held with the check's name."""
    from qbo_intacct.flows.review import drafts_from_validation
    from qbo_intacct.validation import checks
    from qbo_intacct.validation.runner import validate_frame

    context = spec.build_context(lookup_records(lookups), mappings)
    source = source_frame(spec, _merge("Id", qbo), context, pattern)
    target = target_frame(spec, _merge(spec.intacct_id_field, intacct))
    failures = [*source.failures, *target.failures]
    enabled = mappings.enabled_currencies
    for mapped, key, system in ((source, "source_id", "qbo"), (target, "target_id", "intacct")):
        frame = mapped.frame
        unmapped = frame["hold_reason"].astype(str).str.startswith("cannot_map")
        outcome = validate_frame(
            frame[~unmapped] if unmapped.any() else frame,
            [*checks.keys_present_and_unique(key), checks.currency_in_set("currency", enabled)],
            key,
            name=f"{spec.name}_{system}",
            required_columns=spec.shared_fields,
        )
        for draft in drafts_from_validation(spec.name, outcome, record_system=system):
            failures.append(_failure(system, draft.record_id, draft.reason_code, draft.detail, draft.fingerprint))
        failed = outcome.failed_keys
        if failed:
            held = frame[key].astype(str).isin(failed)
            frame.loc[held, "hold_reason"] = [
                ";".join(filter(None, [str(h) if isinstance(h, str) else "", "failed_check"]))
                for h in frame.loc[held, "hold_reason"]
            ]
    whole_qbo = any(bool(item and item.get("complete")) for item in qbo)
    whole_intacct = any(bool(item and item.get("complete")) for item in intacct)
    return {
        "source": {**stage(source.frame, flow=spec.name, run_id=run_id, name="mapped_qbo"), "complete": whole_qbo},
        "target": {
            **stage(target.frame, flow=spec.name, run_id=run_id, name="mapped_intacct"),
            "complete": whole_intacct,
        },
        "failures": stage(
            pd.DataFrame(failures, columns=FAILURE_COLUMNS), flow=spec.name, run_id=run_id, name="validation_failures"
        ),
    }


def validate_step(
    spec: FlowSpec,
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    qbo: Sequence[Mapping[str, Any] | None],
    intacct: Sequence[Mapping[str, Any] | None],
    lookups: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return map_and_validate(
        spec, run_id=context["run_id"], mappings=load_workbook_mappings(), pattern=run["id_pattern"],
        qbo=qbo, intacct=intacct, lookups=lookups,
    )  # fmt: skip


# ------------------------------------------------------------------------------------ match


def duplicate_groups(spec: FlowSpec, frame: pd.DataFrame, id_column: str) -> dict[str, list[str]]:
    """Record id -> other ids of the same system sharing a duplicate identifier (tax ID, email) with it."""
    by_value: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in frame.to_dict("records"):
        for name, normalize in spec.duplicate_ids:
            value = normalize(record.get(name))
            if value:
                by_value[(name, value)].append(str(record[id_column]))
    others: dict[str, set[str]] = defaultdict(set)
    for ids in by_value.values():
        if len(ids) > 1:
            for rid in ids:
                others[rid].update(i for i in ids if i != rid)
    return {rid: sorted(ids) for rid, ids in others.items()}


def match(
    spec: FlowSpec,
    source: pd.DataFrame,
    target: pd.DataFrame,
    links: pd.DataFrame,
    decisions: Mapping[str, tuple[str, str | None]],
) -> pd.DataFrame:
    """Match outcomes per QuickBooks record (see the module docstring), finance's decisions applied."""
    first = match_records(source, target, links, strong_ids=spec.key_ids)
    keyed = first[first["outcome"] == MatchOutcome.MATCH]
    settled = first[first["outcome"].isin([MatchOutcome.LINKED, MatchOutcome.MATCH])]
    rest = source[~source["source_id"].astype(str).isin(set(settled["source_id"]))]
    claimed = pd.concat(
        [links[["source_id", "target_id"]] if not links.empty else None, keyed[["source_id", "target_id"]]],
        ignore_index=True,
    )
    second = match_records(rest, target, claimed, strong_ids=spec.data_ids, name_columns=("name", "name"))
    duplicates = duplicate_groups(spec, source, "source_id")
    settled_ids = set(settled["source_id"])
    for i, row in second.iterrows():
        others = [o for o in duplicates.get(str(row["source_id"]), []) if o not in settled_ids]
        if others and row["outcome"] == MatchOutcome.NONE:
            second.at[i, "outcome"] = MatchOutcome.CANDIDATES
            second.at[i, "candidates"] = [f"qbo:{o}" for o in others]
            second.at[i, "reason"] = "duplicate_in_source"
    # Finance's decisions apply to what matching could not settle: a link or a key the sync itself
    # wrote (e.g. QB-31 for QuickBooks 31) already says which record is which.
    second = apply_decisions(second, decisions)
    return pd.concat([settled, second], ignore_index=True)


def decisions(spec: FlowSpec, ledger: Any, mappings: Any, system: str) -> dict[str, tuple[str, str | None]]:
    from qbo_intacct.flows.review import decisions_for
    from qbo_intacct.ledger.repository import ReviewStatus

    resolved = [i for i in ledger.review_items(spec.name) if i.status is not ReviewStatus.OPEN]
    return decisions_for(spec.name, mappings.links_for(spec.name), resolved, source_system=system)


def match_step(spec: FlowSpec, context: Mapping[str, Any], mapped: Mapping[str, Any]) -> dict[str, Any]:
    ledger = open_ledger()
    matches = match(
        spec,
        read_staged(mapped["source"]),
        read_staged(mapped["target"]),
        ledger.links_frame(spec.name),
        decisions(spec, ledger, load_workbook_mappings(), "qbo"),
    )
    counts = matches["outcome"].astype(str).value_counts().to_dict()
    log.info("match outcomes: %s", counts)
    return {**stage(matches, flow=spec.name, run_id=context["run_id"], name="matches"), "outcomes": counts}


# ------------------------------------------------------------------------------------ plan


def _target_holds(
    spec: FlowSpec,
    plan_: Plan,
    source: pd.DataFrame,
    target: pd.DataFrame,
    target_decisions: Mapping[str, tuple[str, str | None]],
) -> Plan:
    """Hold QuickBooks creates of Intacct records that look like one already in QuickBooks (or each other)."""
    duplicates = duplicate_groups(spec, target, "target_id")
    creating = {str(a.target_id) for a in plan_.actions if a.action is Action.CREATE and a.write_to is Side.SOURCE}
    creating_frame = target[target["target_id"].astype(str).isin(creating)]
    reverse = match_records(
        creating_frame.rename(columns={"target_id": "rid"}).assign(source_id=lambda f: f["rid"]),
        source.assign(target_id=source["source_id"]),
        None,
        strong_ids=[StrongId(s.name, s.target_column, s.target_column, s.normalize) for s in spec.data_ids],
        name_columns=("name", "name"),
    )
    hits = {str(r["source_id"]): r for r in reverse.to_dict("records")}
    actions: list[PlannedAction] = []
    for action in plan_.actions:
        if action.action is Action.CREATE and action.write_to is Side.SOURCE:
            tid = str(action.target_id)
            decision = target_decisions.get(tid)
            if decision and decision[0] == "ignore":
                actions.append(PlannedAction(Action.SKIP, None, tid, reason="ignored_by_decision"))
                continue
            if not decision or decision[0] != "create":
                hit = hits.get(tid)
                if hit is not None and hit["outcome"] != MatchOutcome.NONE:
                    reason = f"matches_quickbooks_{spec.noun}" if hit["outcome"] == MatchOutcome.MATCH else "name_only"
                    actions.append(hold(action, reason, candidates=[f"qbo:{c}" for c in hit["candidates"]]))
                    continue
                if duplicates.get(tid):
                    actions.append(
                        hold(action, "duplicate_in_target", candidates=[f"intacct:{o}" for o in duplicates[tid]])
                    )
                    continue
        actions.append(action)
    return Plan(actions)


BANK_REVIEW = "bank_details_changed"
APPROVED = "approved_by:"


def change_fingerprint(record_id: str, diffs: Iterable[Any]) -> str:
    """Which change finance approves: the record and the new values (tokens), nothing else."""
    import hashlib

    text = "|".join([record_id, *sorted(f"{d.field}={d.after}" for d in diffs)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def protect_groups(
    plan_: Plan,
    protected: Sequence[str],
    links: pd.DataFrame,
    approvals: Mapping[tuple[str, str], str],
) -> Plan:
    """Hold every update of a protected group (bank details) for finance, unless finance approved
    exactly this change; the other groups of the same update go ahead.

    ``approvals``: (record id, change fingerprint) -> who approved. The held group's ledger hashes
    stay as they were, so the same change is asked about again until it is decided.
    """
    if not protected:
        return plan_
    last: dict[str, tuple[Mapping[str, str], Mapping[str, str]]] = {}
    if links is not None and not links.empty:
        for r in links[["source_id", "source_hashes", "target_hashes"]].to_dict("records"):
            last[str(r["source_id"])] = (r.get("source_hashes") or {}, r.get("target_hashes") or {})
    actions: list[PlannedAction] = []
    for action in plan_.actions:
        held_groups = [g for g in action.groups if g in protected]
        if action.action is not Action.UPDATE or not held_groups:
            actions.append(action)
            continue
        held_diffs = [d for d in action.diffs if d.group in held_groups]
        record_id = str(action.source_id)
        fingerprint = change_fingerprint(record_id, held_diffs)
        approver = approvals.get((record_id, fingerprint))
        if approver is not None:
            actions.append(replace(action, reason=f"{APPROVED}{approver}", fingerprint=fingerprint))
            continue
        last_source, last_target = last.get(record_id, ({}, {}))
        keep = tuple(g for g in action.groups if g not in held_groups)
        source_hashes = {**(action.source_hashes or {}), **{g: last_source.get(g, "") for g in held_groups}}
        target_hashes = {**(action.target_hashes or {}), **{g: last_target.get(g, "") for g in held_groups}}
        if keep:
            actions.append(replace(action, groups=keep, diffs=tuple(d for d in action.diffs if d.group in keep),
                                   source_hashes=source_hashes, target_hashes=target_hashes))  # fmt: skip
        actions.append(
            PlannedAction(Action.REVIEW, action.source_id, action.target_id, write_to=action.write_to,
                          groups=tuple(held_groups), diffs=tuple(held_diffs), reason=BANK_REVIEW,
                          fingerprint=fingerprint)
        )  # fmt: skip
    return Plan(actions)


def bank_approvals(resolved_items: Iterable[Any]) -> dict[tuple[str, str], str]:
    """Bank-detail changes finance approved (Link or Create new in the review DAG): (record, fingerprint) -> who."""
    out: dict[tuple[str, str], str] = {}
    for item in resolved_items:
        decision = getattr(item.decision, "value", item.decision)
        if item.reason_code == BANK_REVIEW and decision in ("link", "create"):
            out[(item.record_id, item.fingerprint)] = str(item.resolved_by or "finance")
    return out


def _masked(value: Any) -> str:
    from qbo_intacct.flows.sensitive import is_token, last_four

    return last_four(value) if is_token(value) else ("none" if value in (None, "") else str(value))


def bank_review_draft(flow: str, action: PlannedAction, names: Mapping[str, str]) -> Any:
    """The review item of a held bank-detail change: last four digits only, and where to approve it."""
    from qbo_intacct.ledger.repository import ReviewDraft

    into = "Intacct" if action.write_to is Side.TARGET else "QuickBooks"
    came = "QuickBooks" if action.write_to is Side.TARGET else "Intacct"
    changes = "; ".join(f"{d.field}: {_masked(d.before)} -> {_masked(d.after)}" for d in action.diffs)
    name = names.get(str(action.source_id)) or str(action.source_id)
    detail = (f"bank details of vendor {name!r} (QuickBooks {action.source_id}, Intacct {action.target_id}) changed "
              f"in {came}: {changes}. Not copied to {into} until finance approves: confirm the change with the "
              f"vendor by phone, then approve (Link) or reject (Ignore) in the qbo_intacct_review DAG")  # fmt: skip
    return ReviewDraft(flow, "qbo", str(action.source_id), BANK_REVIEW, detail,
                       candidates=[str(action.target_id)], fingerprint=action.fingerprint)  # fmt: skip


def _held_reasons(frame: pd.DataFrame, id_column: str) -> dict[str, str]:
    return {
        str(r[id_column]): str(r["hold_reason"])
        for r in frame[[id_column, "hold_reason"]].to_dict("records")
        if isinstance(r["hold_reason"], str) and r["hold_reason"]
    }


@dataclass(frozen=True)
class OpenHold:
    """An open review item that waits for finance's decision (it lists candidates)."""

    reason: str
    candidates: tuple[str, ...]


def sticky_holds(
    open_items: Iterable[Any],
    source_decisions: Mapping[str, Any],
    target_decisions: Mapping[str, Any],
) -> dict[tuple[str, str], OpenHold]:
    """(system, record id) -> the open item that keeps the record held until finance decides.

    Only items with candidates need a decision; a record finance decided (workbook row or the
    review DAG) is released even while its item is still marked open.
    """
    holds: dict[tuple[str, str], OpenHold] = {}
    for item in open_items:
        if not item.candidates or str(item.reason_code).startswith("write_failed"):
            continue  # a refused write is retried by the next run, not held for a decision
        decided = source_decisions if item.record_system == "qbo" else target_decisions
        if item.record_id in decided:
            continue
        holds.setdefault((item.record_system, item.record_id), OpenHold(item.reason_code, tuple(item.candidates)))
    return holds


def _sticky(action: PlannedAction, holds: Mapping[tuple[str, str], OpenHold]) -> OpenHold | None:
    """The open item holding this action's record, if the action would create or newly link it."""
    if not holds or not (action.action is Action.CREATE or action.link):
        return None
    if action.source_id is not None and ("qbo", str(action.source_id)) in holds:
        return holds[("qbo", str(action.source_id))]
    if action.source_id is None and action.target_id is not None:
        return holds.get(("intacct", str(action.target_id)))
    return None


def plan(
    spec: FlowSpec,
    *,
    run_id: str,
    mappings: Any,
    source: pd.DataFrame,
    target: pd.DataFrame,
    matches: pd.DataFrame,
    links: pd.DataFrame,
    target_decisions: Mapping[str, tuple[str, str | None]],
    lookups: Mapping[str, list[dict[str, Any]]],
    names_in_use: TakenNames,
    pattern: str,
    dry_run: bool,
    holds: Mapping[tuple[str, str], OpenHold] | None = None,
    approvals: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """The plan (staged with field-level diffs) and the write lists for both systems (empty in a dry run)."""
    from qbo_intacct.flows.planning import plan_sync
    from qbo_intacct.flows.review import sync_policy

    policy = sync_policy(mappings, spec.name, {g: list(f) for g, f in spec.field_groups.items()})
    if policy is None:
        log.info("the %s flow is disabled on the workbook's Flow Settings sheet; nothing to do", spec.name)
        result = Plan([])
    else:
        result = plan_sync(
            source, target, matches, links, policy,
            same_value=spec.same_value, rebuilt_by={s.name for s in spec.key_ids},
        )  # fmt: skip
        result = _target_holds(spec, result, source, target, target_decisions)
        protected = [g for g in spec.protected_groups if policy.system_of_record.get(g) is None]
        result = protect_groups(result, protected, links, approvals or {})
    held_source = _held_reasons(source, "source_id")
    held_target = _held_reasons(target, "target_id")
    context = spec.build_context(lookups, mappings)
    sources = {str(r["source_id"]): _clean(r) for r in source.to_dict("records")}
    targets = {str(r["target_id"]): _clean(r) for r in target.to_dict("records")}
    actions: list[PlannedAction] = []
    intacct_writes: list[dict[str, Any]] = []
    qbo_writes: list[dict[str, Any]] = []
    for action in result.actions:
        sticky = _sticky(action, holds or {})
        if sticky is not None:
            actions.append(hold(action, sticky.reason, candidates=sticky.candidates))
            continue
        if action.action in (Action.CREATE, Action.UPDATE):
            reason = held_source.get(str(action.source_id)) if action.source_id else None
            reason = reason or (held_target.get(str(action.target_id)) if action.target_id else None)
            if reason:
                actions.append(hold(action, reason.split(";")[0]))
                continue
            try:
                write = _reveal(
                    spec, action, _write_for(spec, action, sources, targets, context, names_in_use, pattern)
                )
            except FlowMappingError as exc:
                log.warning("held for review: %s", exc)
                actions.append(hold(action, "cannot_map"))
                continue
            if _says_nothing(spec, write):  # e.g. a currency Intacct leaves blank: nothing to send
                actions.append(
                    replace(action, action=Action.SKIP, write_to=None, reason="nothing_to_write", link=True,
                            source_hashes=group_hashes(sources[str(action.source_id)], spec.field_groups),
                            target_hashes=group_hashes(targets[str(action.target_id)], spec.field_groups))
                )  # fmt: skip
                continue
            (intacct_writes if action.write_to is Side.TARGET else qbo_writes).append(
                {**write, "write_key": str(len(actions))}
            )
        actions.append(action)
    final = Plan(actions)
    if dry_run:
        intacct_writes, qbo_writes = [], []
    counts = final.counts()
    log.info("plan: %s; writes: Intacct %d, QuickBooks %d", counts, len(intacct_writes), len(qbo_writes))
    return {
        "plan": stage(final.frame(), flow=spec.name, run_id=run_id, name="plan"),
        "intacct_writes": stage(writes_frame(intacct_writes), flow=spec.name, run_id=run_id, name="intacct_writes"),
        "qbo_writes": stage(writes_frame(qbo_writes), flow=spec.name, run_id=run_id, name="qbo_writes"),
        "counts": counts,
    }


def _says_nothing(spec: FlowSpec, write: Mapping[str, Any]) -> bool:
    """An update whose body names only the record: sending it would write nothing but a new version."""
    if write["operation"] != "update":
        return False
    keys = set(write["body"])
    return keys <= {"Id", "SyncToken", "sparse"} or keys <= {spec.intacct_id_field, "RECORDNO"}


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """A staged row with every empty value (NaN, NA, None) as ``None``."""
    return {k: (None if not isinstance(v, (list, dict, str)) and pd.isna(v) else v) for k, v in row.items()}


def _names_field(spec: FlowSpec, groups: Iterable[str]) -> bool:
    return any("name" in spec.field_groups.get(g, ()) for g in groups)


def _reveal(spec: FlowSpec, action: PlannedAction, write: dict[str, Any]) -> dict[str, Any]:
    """Note where the load step must put each full number in place of its token, and where to read it."""
    from qbo_intacct.flows.sensitive import get_path, is_token

    reveal = []
    for qbo_path, intacct_path in spec.sensitive.values():
        if action.write_to is Side.TARGET:
            body_path, source = intacct_path, ("qbo", spec.qbo_entity, "Id", str(action.source_id), qbo_path)
        else:
            body_path, source = qbo_path, ("intacct", spec.intacct_object, spec.intacct_id_field,
                                           str(action.target_id), intacct_path)  # fmt: skip
        token = get_path(write["body"], body_path)
        if is_token(token):
            system, obj, id_field, rid, path = source
            reveal.append({"body_path": body_path, "system": system, "object": obj, "id_field": id_field,
                           "id": rid, "source_path": path, "token": token})  # fmt: skip
    return {**write, "reveal": reveal or None}


def _write_for(
    spec: FlowSpec,
    action: PlannedAction,
    sources: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Mapping[str, Any]],
    context: Any,
    names: TakenNames,
    pattern: str,
) -> dict[str, Any]:
    flow, all_groups = spec.name, list(spec.field_groups)
    if action.write_to is Side.TARGET:
        values = sources[str(action.source_id)]
        if action.action is Action.CREATE:
            rid = spec.derive_target_id(str(action.source_id), pattern)
            body = spec.intacct_body(values, record_id=rid, groups=all_groups, context=context)
            return {"operation": "create", "object": spec.intacct_object, "record_key": rid, "entity": "",
                    "body": body, "idempotency_key": f"{flow}:create:intacct:{rid}:{content_key(body)}"}  # fmt: skip
        current = targets[str(action.target_id)]
        body = spec.intacct_body(values, record_id=str(action.target_id), groups=action.groups, context=context)
        return {"operation": "update", "object": spec.intacct_object, "record_key": str(action.target_id),
                "entity": current.get("entity") or "", "body": body,
                "idempotency_key": f"{flow}:update:intacct:{action.target_id}:{content_key(body)}"}  # fmt: skip
    values = targets[str(action.target_id)]
    tid = str(action.target_id)
    if action.action is Action.CREATE:
        display = qbo_display_name(str(values.get("name") or ""), tid, names)
        names.add(display)
        body = spec.qbo_body(values, groups=all_groups, context=context, record=tid, display_name=display,
                             intacct_id=tid)  # fmt: skip
        return {"operation": "create", "object": spec.qbo_entity, "record_key": tid, "entity": "",
                "body": body, "idempotency_key": f"{flow}:create:qbo:{tid}:{content_key(body)}"}  # fmt: skip
    current = sources[str(action.source_id)]
    display = None
    if _names_field(spec, action.groups):
        own = str(current.get("name") or "")
        names.discard(own)
        display = qbo_display_name(str(values.get("name") or ""), tid, names)
        names.add(own)
        names.add(display)
    sid = str(action.source_id)
    body = spec.qbo_body(values, groups=action.groups, context=context, record=sid, display_name=display,
                         qbo_id=sid, sync_token=current.get("sync_token"))  # fmt: skip
    key = f"{flow}:update:qbo:{action.source_id}:{current.get('sync_token')}:{content_key(body)}"
    return {"operation": "update", "object": spec.qbo_entity, "record_key": str(action.source_id), "entity": "",
            "body": body, "idempotency_key": key}  # fmt: skip


def names_in_use(source: pd.DataFrame, name_lists: Iterable[Mapping[str, Any] | None]) -> TakenNames:
    """Every QuickBooks DisplayName this run can see (the flow's own and those sharing its namespace), once."""
    taken = TakenNames(str(n) for n in source["name"] if isinstance(n, str))
    for staged in name_lists:
        for record in staged_records(staged):
            if record.get("DisplayName"):
                taken.add(str(record["DisplayName"]))
    return taken


def plan_step(
    spec: FlowSpec,
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    mapped: Mapping[str, Any],
    matches: Mapping[str, Any],
    lookups: Mapping[str, Any] | None,
    name_lists: Sequence[Mapping[str, Any] | None],
) -> dict[str, Any]:
    from qbo_intacct.ledger.repository import ReviewStatus

    ledger = open_ledger()
    mappings = load_workbook_mappings()
    source = read_staged(mapped["source"])
    source_decisions = decisions(spec, ledger, mappings, "qbo")
    target_decisions = decisions(spec, ledger, mappings, "intacct")
    planned = plan(
        spec,
        run_id=context["run_id"],
        mappings=mappings,
        source=source,
        target=read_staged(mapped["target"]),
        matches=read_staged(matches),
        links=ledger.links_frame(spec.name),
        target_decisions=target_decisions,
        lookups=lookup_records(lookups),
        names_in_use=names_in_use(source, name_lists),
        pattern=run["id_pattern"],
        dry_run=bool(run["dry_run"]),
        holds=sticky_holds(ledger.review_items(spec.name, ReviewStatus.OPEN), source_decisions, target_decisions),
        approvals=bank_approvals(i for i in ledger.review_items(spec.name) if i.status is not ReviewStatus.OPEN),
    )
    if not run["dry_run"]:
        open_matching_holds(spec, ledger, planned["plan"], mapped, mappings, run_id=context["run_id"])
    return planned


def open_matching_holds(
    spec: FlowSpec,
    ledger: Any,
    plan_staged: Mapping[str, Any],
    mapped: Mapping[str, Any],
    mappings: Any,
    *,
    run_id: str,
) -> int:
    """Open the review items of records held for finance to say which is which, before any load.

    ``record`` opens every item after the load; these are opened already here because a hold must
    outlive a run that dies between its load and ``record``: the load may rename a candidate (the
    evidence that held the record), and without the item the rerun would see no candidate and
    create the record without finance's decision. ``record`` finds the same items again.
    """
    from qbo_intacct.flows.review import MATCHING_REASONS, RecordBook, describe_drafts, drafts_from_plan

    plan_ = plan_from_frame(read_staged(plan_staged))
    drafts = [d for d in drafts_from_plan(spec.name, plan_) if d.record_id not in ("None", "")
              and d.reason_code.partition(":")[0] in MATCHING_REASONS and d.candidates]  # fmt: skip
    if not drafts:
        return 0
    book = RecordBook.from_frames(read_staged(mapped["source"]), read_staged(mapped["target"]), noun=spec.noun)
    for draft in describe_drafts(drafts, book, mappings=mappings):
        ledger.open_review_item(draft, run_id=run_id)
    log.info("%d %s(s) held for finance to say which record is which (review items opened before the load)",
             len(drafts), spec.noun)  # fmt: skip
    return len(drafts)


# ------------------------------------------------------------------------------------ record


def _results(staged: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not staged or not staged.get("path"):
        return {}
    return {str(r["write_key"]): r for r in read_staged(staged).to_dict("records")}


def record(
    spec: FlowSpec,
    *,
    run_id: str,
    ledger: Any,
    plan_staged: Mapping[str, Any],
    intacct_results: Mapping[str, Any] | None,
    qbo_results: Mapping[str, Any] | None,
    failures_staged: Mapping[str, Any],
    source_rows: int,
    target_rows: int,
    window_end: str,
    dry_run: bool,
    pattern: str,
    context: Any,
    names: Mapping[str, str] | None = None,
    source_staged: Mapping[str, Any] | None = None,
    target_staged: Mapping[str, Any] | None = None,
    mappings: Any = None,
) -> RunSummary:
    """Store links (with the hashes of what was written), open review items, record the run.

    With the mapped frames (``source_staged`` / ``target_staged``) every review item names the
    record and its candidates as finance knows them, and the log lists each held record.
    """
    from qbo_intacct.flows.review import RecordBook, describe_drafts, drafts_from_plan, item_line
    from qbo_intacct.ledger.repository import LinkRecord, ReviewDraft, ReviewStatus

    flow = spec.name
    plan_ = plan_from_frame(read_staged(plan_staged))
    results = {**_results(intacct_results), **_results(qbo_results)}
    summary = RunSummary.from_plan(flow, run_id, plan_, read=source_rows + target_rows, dry_run=dry_run)
    if dry_run:
        ledger.record_run(summary.as_run_stats("dry_run"))
        return summary

    links: list[LinkRecord] = []
    drafts: list[ReviewDraft] = []
    bank_changes: list[dict[str, Any]] = []
    names = names or {}
    failed = {Action.CREATE: 0, Action.UPDATE: 0}
    for index, action in enumerate(plan_.actions):
        result = results.get(str(index))
        if action.action in (Action.CREATE, Action.UPDATE):
            if result is None or result["status"] != "ok":
                failed[action.action] += 1
                system = "intacct" if action.write_to is Side.TARGET else "qbo"
                code = (result or {}).get("error_code") or "not_sent"
                record_system, record_id = (
                    ("qbo", action.source_id) if action.source_id else ("intacct", action.target_id)
                )
                # The pair the write was for is the item's candidate, so the next run reads it again
                # (else an update refused mid-batch turns into a create: a duplicate). Not sticky.
                partner = ("intacct", action.target_id) if record_system == "qbo" else ("qbo", action.source_id)
                candidates = (f"{partner[0]}:{partner[1]}",) if action.source_id and action.target_id else ()
                drafts.append(ReviewDraft(flow, record_system, str(record_id or ""),
                                          f"write_failed:{system}", (result or {}).get("error") or "not written",
                                          candidates=candidates, fingerprint=str(code)))  # fmt: skip
                continue
            source_id, target_id = action.source_id, action.target_id
            source_hashes, target_hashes = action.source_hashes, action.target_hashes
            if action.write_to is Side.SOURCE:
                written = spec.qbo_row(result["record"], context, pattern) or {}
                source_id = str(result["new_id"])
                source_hashes = group_hashes(written, spec.field_groups)
            else:
                target_id = target_id or str(result["new_id"])
            origin = None
            if action.action is Action.CREATE:
                origin = "qbo" if action.write_to is Side.TARGET else "intacct"
            if spec.protected_groups and any(d.group in spec.protected_groups for d in action.diffs):
                bank_changes.append(_bank_audit(spec, action, run_id, source_id, target_id, names))
            links.append(
                LinkRecord(flow, "qbo", str(source_id), "intacct", str(target_id), target_key=str(target_id),
                           source_hashes=source_hashes, target_hashes=target_hashes, origin=origin, run_id=run_id)
            )  # fmt: skip
        elif action.action is Action.SKIP and action.link and action.source_id and action.target_id:
            links.append(
                LinkRecord(flow, "qbo", action.source_id, "intacct", action.target_id, target_key=action.target_id,
                           source_hashes=action.source_hashes, target_hashes=action.target_hashes, run_id=run_id)
            )  # fmt: skip
        elif action.action is Action.REVIEW and action.reason == BANK_REVIEW:
            drafts.append(bank_review_draft(flow, action, names))
        elif action.action is Action.REVIEW and not action.source_id and action.target_id:
            drafts.append(
                ReviewDraft(flow, "intacct", action.target_id, action.reason or "candidates",
                            f"held: {action.reason}; candidates: {', '.join(action.candidates) or 'none'}",
                            candidates=list(action.candidates))
            )  # fmt: skip
    # A record held by a failed check or a mapping error already has the item that names the field.
    own_items = ("failed_check", "cannot_map")
    drafts += [
        d
        for d in drafts_from_plan(flow, plan_)
        if d.record_id not in ("None", "") and d.reason_code not in (*own_items, BANK_REVIEW)
        and not d.reason_code.startswith("invalid_characters")
    ]  # fmt: skip
    for row in read_staged(failures_staged).to_dict("records"):
        drafts.append(ReviewDraft(flow, row["system"], row["record_id"], row["reason_code"], row["detail"],
                                  fingerprint=row["fingerprint"] or ""))  # fmt: skip

    if source_staged is not None or target_staged is not None:
        book = RecordBook.from_frames(
            read_staged(source_staged) if source_staged else None,
            read_staged(target_staged) if target_staged else None,
            noun=spec.noun,
        )
        drafts = describe_drafts(drafts, book, mappings=mappings)
    ledger.upsert_links(links, relink=True)
    opened = [ledger.open_review_item(d, run_id=run_id) for d in drafts]
    held = [i for i in opened if i.status is ReviewStatus.OPEN]
    if held:
        log.info("%d %s(s) held for review:", len(held), spec.noun)
        for item in held:
            log.info("  %s", item_line(item))
    acted = {str(a.source_id) for a in plan_.actions if a.action is not Action.REVIEW} | {
        str(a.target_id) for a in plan_.actions if a.action is not Action.REVIEW and not a.source_id
    }  # built once: the check below is one set lookup per pending decision
    ledger.mark_applied([item.id for item in ledger.pending_decisions(flow) if item.record_id in acted], run_id)
    summary.failed = failed[Action.CREATE] + failed[Action.UPDATE]
    summary.created -= failed[Action.CREATE]
    summary.updated -= failed[Action.UPDATE]
    open_items = sum(1 for i in opened if i.status is ReviewStatus.OPEN)
    stats = summary.as_run_stats("success")
    ledger.record_run(
        replace(
            stats,
            detail={**stats.detail, "window_end": window_end, "open_review_items": open_items,
                    "target_rows": target_rows, "source_rows": source_rows,
                    **({"bank_changes": bank_changes} if bank_changes else {})},
        )
    )  # fmt: skip
    return summary


def _bank_audit(
    spec: FlowSpec,
    action: PlannedAction,
    run_id: str,
    source_id: Any,
    target_id: Any,
    names: Mapping[str, str],
) -> dict[str, Any]:
    """One audited bank-detail change as the ledger keeps it: who, when, which run, masked values only."""
    approved = action.reason[len(APPROVED) :] if action.reason.startswith(APPROVED) else None
    return {
        "vendor": names.get(str(action.source_id)) or names.get(str(source_id)) or str(source_id),
        "qbo_id": str(source_id),
        "intacct_id": str(target_id),
        "written_to": "intacct" if action.write_to is Side.TARGET else "qbo",
        "action": action.action.value,
        "run_id": run_id,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "approved_by": approved or ("new vendor" if action.action is Action.CREATE else "system of record"),
        "changes": [
            {"field": d.field, "before": _masked(d.before), "after": _masked(d.after)}
            for d in action.diffs
            if d.group in spec.protected_groups
        ],
    }


def resolve_workbook_decisions(spec: FlowSpec, ledger: Any, mappings: Any) -> int:
    """Mark open review items that finance decided in the workbook's Record Links table as resolved."""
    from qbo_intacct.flows.review import SYSTEM_CODES

    count = 0
    for link in mappings.links_for(spec.name):
        system = SYSTEM_CODES.get(link.source_system, "qbo")
        decision = {"Link": "link", "Create new": "create", "Ignore": "ignore"}[link.decision.value]
        count += len(
            ledger.resolve_record(spec.name, system, link.source_id, decision=decision,
                                  by=link.decided_by or "workbook", target_id=link.target_id,
                                  note="Record Links row in the mapping workbook")
        )  # fmt: skip
    return count


def _names(mapped: Mapping[str, Any]) -> dict[str, str]:
    """QuickBooks id -> name, as finance knows the record (for review items and the audit)."""
    frame = read_staged(mapped["source"])
    return {str(r["source_id"]): str(r["name"]) for r in frame[["source_id", "name"]].to_dict("records")
            if isinstance(r["name"], str)}  # fmt: skip


def held_lines(ledger: Any, flow: str) -> list[str]:
    """Every record still held for review, by name, with the reason and where to fix it."""
    from qbo_intacct.flows.review import item_line
    from qbo_intacct.ledger.repository import ReviewStatus

    return [item_line(item) for item in ledger.review_items(flow, ReviewStatus.OPEN)]


def remember_keys(spec: FlowSpec, ledger: Any, mapped: Mapping[str, Any]) -> None:
    """Keep the ledger's directory current with the keys of every record this run read (the whole
    system's part is rebuilt when the run read that system whole)."""
    from qbo_intacct.ledger import directory

    for system, side, id_column in (("qbo", "source", "source_id"), ("intacct", "target", "target_id")):
        frame = read_staged(mapped[side])
        if frame.empty and not mapped[side].get("complete"):
            continue
        records = {
            str(row[id_column]): record_keys(spec, row, system)
            for row in frame.to_dict("records")
            if not _is_missing(row.get(id_column))
        }
        rows = directory.remember(
            ledger.engine, spec.name, system, records, complete=bool(mapped[side].get("complete"))
        )
        log.debug("directory: %d %s keys of %d records", rows, system, len(records))


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def record_step(
    spec: FlowSpec,
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    mapped: Mapping[str, Any],
    planned: Mapping[str, Any],
    intacct_results: Mapping[str, Any] | None,
    qbo_results: Mapping[str, Any] | None,
    lookups: Mapping[str, Any] | None,
) -> dict[str, Any]:
    ledger = open_ledger()
    mappings = load_workbook_mappings()
    if not run["dry_run"]:
        resolve_workbook_decisions(spec, ledger, mappings)
    summary = record(
        spec,
        run_id=context["run_id"],
        ledger=ledger,
        plan_staged=planned["plan"],
        intacct_results=intacct_results,
        qbo_results=qbo_results,
        failures_staged=mapped["failures"],
        source_rows=int(mapped["source"]["rows"]),
        target_rows=int(mapped["target"]["rows"]),
        window_end=Window.from_xcom(run["window"]).end.isoformat(),
        dry_run=bool(run["dry_run"]),
        pattern=run["id_pattern"],
        context=spec.build_context(lookup_records(lookups), mappings),
        names=_names(mapped),
        source_staged=mapped["source"],
        target_staged=mapped["target"],
        mappings=mappings,
    )
    if not run["dry_run"]:
        remember_keys(spec, ledger, mapped)
    data = summary.as_dict()
    data["held"] = held_lines(ledger, spec.name)
    data["read_qbo"] = int(mapped["source"]["rows"])
    data["read_intacct"] = int(mapped["target"]["rows"])
    data["window"] = run["window"]
    data["plan_path"] = planned["plan"]["path"]
    return data


# ------------------------------------------------------------------------------------ report


SUMMARY_FIELDS = ("flow", "run_id", "dry_run", "read", "created", "updated", "skipped", "held_for_review",
                  "failed", "reasons")  # fmt: skip
ASSET_FIELDS = ("read", "created", "updated", "skipped", "held_for_review", "failed", "dry_run")


def run_api_usage(context: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """What every task of this run spent on the APIs (their ``api_calls`` XComs, added up)."""
    from qbo_intacct.hooks import usage

    ti = context["ti"]
    others = [task_id for task_id in context["dag"].task_ids if task_id != ti.task_id]
    parts = ti.xcom_pull(task_ids=others, key=usage.XCOM_KEY) if others else []
    return usage.add_up(parts if isinstance(parts, list) else [parts])


def report_step(spec: FlowSpec, context: Mapping[str, Any], data: Mapping[str, Any], asset: Any) -> str:
    """Print the summary (with what the run spent on each API), write it for the demo and UI, and
    attach it to the asset event."""
    from qbo_intacct.hooks import usage

    summary = RunSummary.from_dict({k: data[k] for k in SUMMARY_FIELDS})
    window = data.get("window") or {}
    spent = run_api_usage(context)
    text = "\n".join(
        [
            summary.render(),
            f"  read from QuickBooks {data.get('read_qbo', 0)}, from Intacct {data.get('read_intacct', 0)}; "
            f"window {'everything' if not window.get('start') else window['start'] + ' -> ' + window['end']}",
            f"  {usage.render(spent)}",
        ]
    )
    held = list(data.get("held") or [])
    if held:
        text += (
            f"\n  open review items ({len(held)}; answer them in the qbo_intacct_review DAG "
            "or on the workbook's Record Links sheet):"
        )
        text += "".join(f"\n  - {line}" for line in held)
    counts = {k: v for k, v in data.items() if k != "held"}
    return publish_summary(context, asset, text, {**counts, "api_calls": spent}, ASSET_FIELDS)


def publish_summary(
    context: Mapping[str, Any], asset: Any, text: str, counts: Mapping[str, Any], asset_fields: Sequence[str]
) -> str:
    """Every flow's last step: print the summary to the task log, write it (text and counts) for the
    demo and the UI, and attach ``asset_fields`` of the counts plus what the run spent on each API
    (``counts["api_calls"]``) to the asset event. Returns the summary file's path."""
    from qbo_intacct.hooks import usage
    from qbo_intacct.summaries import write_summary

    print(text)
    spent = counts.get("api_calls") or {}
    path = write_summary(context["dag"].dag_id, context["run_id"], text, {"summary": dict(counts)})
    outlet_events = context.get("outlet_events")
    if outlet_events is not None:
        outlet_events[asset].extra = {
            **{k: counts[k] for k in asset_fields},
            "qbo_requests": usage.calls(spent, "qbo"),
            "intacct_requests": usage.calls(spent, "intacct"),
            "intacct_api_transactions": int(spent.get("intacct", {}).get("api_transactions", 0)),
        }
    return path
