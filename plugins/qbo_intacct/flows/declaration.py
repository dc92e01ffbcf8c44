"""What a flow declares so the shared engine can run it: :class:`FlowSpec`.

A flow module (``customers.py``, ``vendors.py``) holds only its accounting: the field map both ways
into the shared vocabulary, field groups, strong and duplicate identifiers, the target-key pattern,
each system's naming rules and the flows it depends on. It ends with one ``SPEC = FlowSpec(...)``.
The engine (:mod:`qbo_intacct.flows.engine`) runs scope -> map + validate -> match -> plan -> load
-> record -> report for any spec, and :func:`qbo_intacct.operators.sync_dag.build_sync_dag` builds
the DAG from it.

This module is imported when a DAG file is parsed, so it (and every flow module) imports nothing
heavy at module level: no pandas, no workbook reader, no Great Expectations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qbo_intacct.flows.matching import StrongId

#: QuickBooks' DisplayName limit (customers, vendors and employees share one namespace).
QBO_DISPLAY_NAME_MAX = 500


class FlowMappingError(ValueError):
    """A record cannot be expressed in the other system; the message names the record and the field."""


class TakenNames:
    """The QuickBooks DisplayNames in use, compared case-insensitively, built once per run.

    QuickBooks keeps DisplayName unique across customers, vendors and employees. Building this set
    once and adding each name the run gives keeps naming linear in the records created.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._taken: set[str] = {self._key(n) for n in names if n}

    @staticmethod
    def _key(name: str) -> str:
        return str(name).strip().casefold()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._taken

    def add(self, name: str) -> None:
        self._taken.add(self._key(name))

    def discard(self, name: str) -> None:
        self._taken.discard(self._key(name))

    def __len__(self) -> int:
        return len(self._taken)


def clean_display_name(name: str, fallback: str) -> str:
    """The name with ``:`` replaced by ``-`` (QuickBooks forbids colons) and spacing collapsed."""
    return re.sub(r"\s+", " ", str(name).replace(":", "-")).strip() or fallback


def qbo_display_name(name: str, record_id: str, names_in_use: TakenNames | Iterable[str]) -> str:
    """A DisplayName QuickBooks accepts: no ``:``, unique across customers, vendors and employees.

    A name already in use gets `` (<Intacct id>)`` appended, so the QuickBooks name still says which
    Intacct record it is. ``names_in_use`` should be a :class:`TakenNames` built once per run; any
    other iterable is turned into one (fine for a single call, quadratic in a loop).
    """
    taken = names_in_use if isinstance(names_in_use, TakenNames) else TakenNames(names_in_use)
    base = clean_display_name(name, record_id)
    candidate = base[:QBO_DISPLAY_NAME_MAX]
    if candidate in taken:
        suffix = f" ({record_id})"
        candidate = base[: QBO_DISPLAY_NAME_MAX - len(suffix)] + suffix
    return candidate


def display_name_variants(name: str | None, record_id: str) -> set[str]:
    """Every DisplayName :func:`qbo_display_name` can give ``name``: a rebuilt link compares with these,
    so the naming rules' own transformations never read as an edit."""
    if not name:
        return set()
    base = clean_display_name(name, record_id)
    suffix = f" ({record_id})"
    return {name.strip(), base[:QBO_DISPLAY_NAME_MAX], base[: QBO_DISPLAY_NAME_MAX - len(suffix)] + suffix}


def same_display_name(field_name: str, qbo_value: Any, intacct_value: Any, intacct_id: str) -> bool:
    """A flow's ``same_value`` for named parties: a QuickBooks DisplayName the naming rules made from
    the Intacct name (``:`` -> ``-``, a `` (ID)`` suffix, cut to length) is the same name, not an edit
    to copy back."""
    return (
        field_name == "name"
        and isinstance(qbo_value, str)
        and qbo_value in display_name_variants(intacct_value if isinstance(intacct_value, str) else None, intacct_id)
    )


@dataclass(frozen=True)
class FlowSpec:
    """One flow, declared. The engine reads nothing else about the flow.

    Source system is QuickBooks (``source_id`` = QuickBooks ``Id``), target Intacct (``target_id``
    = the Intacct id field). Rows in the shared vocabulary carry, besides the shared fields,
    ``source_columns`` (QuickBooks side) or ``target_columns`` (Intacct side) and ``hold_reason``.
    """

    name: str  # flow name: ledger, workbook Flow Settings, staging folder ("customers")
    noun: str  # one record, as finance says it ("customer")
    qbo_entity: str  # "Customer"
    intacct_object: str  # "CUSTOMER"
    intacct_id_field: str  # "CUSTOMERID"
    intacct_fields: tuple[str, ...]  # what the Intacct extract selects (query has no "*")
    field_groups: Mapping[str, Sequence[str]]
    key_ids: tuple[StrongId, ...]  # keys the sync itself writes (stored reference, derived id): decisive
    data_ids: tuple[StrongId, ...]  # identifiers finance keys (tax ID, email): link when unique
    duplicate_ids: tuple[tuple[str, Callable[[object], str]], ...]  # same company keyed twice in one system
    id_pattern_variable: str  # Airflow Variable overriding the Intacct id pattern
    default_id_pattern: str  # "QB-{qbo_id}"
    derive_target_id: Callable[[str, str], str]  # (qbo id, pattern) -> Intacct id
    build_context: Callable[[Mapping[str, list[dict[str, Any]]], Any], Any]  # (lookup records, workbook) -> context
    qbo_row: Callable[[Mapping[str, Any], Any, str], dict[str, Any] | None]  # None: not synced (e.g. a job)
    intacct_row: Callable[[Mapping[str, Any]], dict[str, Any]]
    intacct_body: Callable[..., dict[str, Any]]  # (values, *, record_id, groups, context)
    qbo_body: Callable[..., dict[str, Any]]  # (values, *, groups, context, record, display_name, intacct_id, ...)
    source_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    qbo_lookups: tuple[str, ...] = ()  # small QuickBooks lists read whole each run ("Term")
    qbo_name_entities: tuple[str, ...] = ()  # other entities sharing DisplayName ("Vendor", "Employee")
    money_fields: tuple[str, ...] = ()  # kept as Decimal objects in frames
    flag_fields: tuple[str, ...] = ()  # kept as Python bools in frames
    #: Field groups a change to which on a linked record is held for finance by default (bank details),
    #: unless the workbook's Field Groups sheet names a system of record for the group.
    protected_groups: tuple[str, ...] = ()
    #: Shared field -> (QuickBooks path, Intacct path) of numbers that are masked from extract to load
    #: (see :mod:`qbo_intacct.flows.sensitive`); the load step reads the full number from the source.
    sensitive: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # flows that must have run first (e.g. invoices on customers)
    #: (field, QuickBooks value, Intacct value, Intacct id) -> the same value written by each system's
    #: rules (e.g. a DisplayName cleaned of colons); such a difference is never an edit to copy back.
    same_value: Callable[[str, Any, Any, str], bool] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shared_fields(self) -> list[str]:
        return [f for fields in self.field_groups.values() for f in fields]

    @property
    def strong_ids(self) -> tuple[StrongId, ...]:
        return (*self.key_ids, *self.data_ids)

    @property
    def dag_id(self) -> str:
        return f"qbo_intacct_{self.name}"
