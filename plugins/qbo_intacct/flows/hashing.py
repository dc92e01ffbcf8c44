"""Stable content hashes of a record's synced fields, one per field group.

The ledger stores, per link, the hash of each field group on each side as the sync last wrote or
read it. On the next run a side whose hash is unchanged was not edited by anyone, and in
particular a target whose hash equals what the sync itself wrote is not an edit to send back
(no echo). So the hash must depend only on meaning, never on representation:

- money: ``Decimal("10")``, ``Decimal("10.00")`` and the integer ``10`` hash alike (the value is
  normalised; a float is refused, because a float amount has already lost exactness; the map step
  turns text amounts into ``Decimal`` before hashing);
- text: surrounding whitespace and Unicode composition do not count; case does (a renamed
  customer "ACME" -> "Acme" is an edit finance wants synced);
- empty: ``None``, ``""``, NaN and NA all mean "no value";
- dates: ``date``/``datetime`` hash as ISO text.

Canonical form: JSON with sorted keys and no spaces, hashed with SHA-256 (first 32 hex digits).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

FieldGroups = Mapping[str, Sequence[str]]


class UnhashableValueError(TypeError):
    """A value whose meaning cannot be pinned down exactly (e.g. a float amount)."""


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(value is pd.NA or value is pd.NaT)
    except TypeError:  # pragma: no cover - exotic types
        return False


def canonical_value(value: Any, *, field_name: str = "") -> Any:
    """The JSON-ready canonical form of one field value."""
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnhashableValueError(f"field {field_name!r}: {value} is not a finite amount")
        normalized = value.normalize()
        return {"$dec": format(normalized, "f") if normalized != 0 else "0"}
    if isinstance(value, int):
        return {"$dec": str(value)}
    if isinstance(value, float):
        raise UnhashableValueError(f"field {field_name!r}: float {value!r}; amounts must be Decimal")
    if isinstance(value, str):
        text = unicodedata.normalize("NFC", value).strip()
        return text or None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v, field_name=f"{field_name}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_value(v, field_name=field_name) for v in value]
    raise UnhashableValueError(f"field {field_name!r}: cannot hash a {type(value).__name__}")


def canonical_json(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    """Canonical JSON of the named fields (a missing field counts as empty)."""
    body = {name: canonical_value(record.get(name), field_name=name) for name in fields}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    return hashlib.sha256(canonical_json(record, fields).encode()).hexdigest()[:32]


def group_hashes(record: Mapping[str, Any], groups: FieldGroups) -> dict[str, str]:
    """Field group -> hash of that group's fields."""
    return {group: content_hash(record, fields) for group, fields in groups.items()}


def frame_group_hashes(frame: pd.DataFrame, groups: FieldGroups) -> pd.Series:
    """One ``{group: hash}`` dict per row, aligned with ``frame``'s index."""
    records = frame.to_dict("records")
    return pd.Series([group_hashes(r, groups) for r in records], index=frame.index, dtype=object)


def values_equal(left: Any, right: Any) -> bool:
    """Whether two field values mean the same thing (the comparison the planner's diffs use)."""
    return canonical_value(left) == canonical_value(right)
