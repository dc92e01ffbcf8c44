"""Stage frames between tasks as parquet files; only paths and counts go through XCom.

The staging root is the Airflow Variable ``qbo_intacct_staging_root`` (any ``ObjectStoragePath``
URL: ``file:///shared/staging``, ``s3://bucket/prefix`` with an Airflow connection, ...), defaulting
to ``file://$AIRFLOW_HOME/staging``. With the Celery executor the root must be storage every
worker sees (a shared volume or an object store).

Exactness, which finance relies on:

- ``Decimal`` columns are stored as text and come back as the very same ``Decimal`` (``10.50``
  stays ``10.50``, not ``10.5`` and never a float). The parquet schema metadata lists them.
- Columns holding dicts or lists (raw API records, candidate lists, diffs) are stored as JSON text,
  with ``Decimal`` values kept exact, and come back as the same structures.

Paths are ``<root>/<flow>/<run id>/<name>.parquet``; a retried task overwrites its own file, so
staging is idempotent.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

STAGING_VARIABLE = "qbo_intacct_staging_root"
_META_KEY = b"qbo_intacct.columns"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StagingError(ValueError):
    """A frame cannot be staged exactly (e.g. a float in a money column)."""


@dataclass(frozen=True)
class StagedFrame:
    """What goes through XCom: where the frame is and how many rows it has."""

    path: str
    rows: int

    def as_xcom(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows}


def default_staging_root() -> str:
    home = Path(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow")))
    return (home / "staging").resolve().as_uri()


def staging_root(root: str | None = None) -> ObjectStoragePath:
    """The staging root: ``root`` if given, else the Airflow Variable, else ``$AIRFLOW_HOME/staging``."""
    from airflow.sdk import ObjectStoragePath, Variable

    if root is None:
        root = Variable.get(STAGING_VARIABLE, default=None) or default_staging_root()
    return ObjectStoragePath(root)


def _safe(part: str) -> str:
    """A run id like ``manual__2026-11-24T10:00:00+00:00`` as one portable path segment."""
    return _SAFE.sub("_", part).strip("_") or "_"


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    raise TypeError(f"cannot stage a {type(value).__name__}")


def _json_hook(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$dec"}:
        return Decimal(obj["$dec"])
    return obj


def _column_kind(series: pd.Series) -> str:
    if series.dtype != object:
        return "native"
    values = [v for v in series if v is not None and not (isinstance(v, float) and pd.isna(v))]
    if not values:
        return "native"
    if all(isinstance(v, Decimal) for v in values):
        return "decimal"
    if any(isinstance(v, Decimal) for v in values):
        raise StagingError(f"column {series.name!r} mixes Decimal with other types; amounts must all be Decimal")
    if any(isinstance(v, (dict, list, tuple)) for v in values):
        return "json"
    return "native"


def frame_to_table(frame: pd.DataFrame) -> pa.Table:
    """The Arrow table to write, with Decimal and JSON columns encoded as text and listed in metadata."""
    encoded = frame.copy()
    kinds: dict[str, str] = {}
    for column in frame.columns:
        kind = _column_kind(frame[column])
        if kind == "decimal":
            encoded[column] = [None if _missing(v) else str(v) for v in frame[column]]
        elif kind == "json":
            encoded[column] = [
                None if v is None else json.dumps(v, default=_json_default, sort_keys=True) for v in frame[column]
            ]
        if kind != "native":
            kinds[str(column)] = kind
    table = pa.Table.from_pandas(encoded, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[_META_KEY] = json.dumps(kinds).encode()
    return table.replace_schema_metadata(metadata)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, (str, bytes)) and bool(pd.isna(value)))


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    kinds: dict[str, str] = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    frame = table.to_pandas()
    for column, kind in kinds.items():
        if kind == "decimal":
            frame[column] = pd.Series(
                [None if _missing(v) else Decimal(v) for v in frame[column]], index=frame.index, dtype=object
            )
        elif kind == "json":
            frame[column] = pd.Series(
                [None if _missing(v) else json.loads(v, object_hook=_json_hook) for v in frame[column]],
                index=frame.index,
                dtype=object,
            )
    return frame


def stage_frame(
    frame: pd.DataFrame,
    *,
    flow: str,
    run_id: str,
    name: str,
    root: str | ObjectStoragePath | None = None,
    metadata: Mapping[str, str] | None = None,
) -> StagedFrame:
    """Write ``frame`` to ``<root>/<flow>/<run id>/<name>.parquet`` and return its path and row count."""
    base = root if root is not None and not isinstance(root, str) else staging_root(root)
    directory = base / _safe(flow) / _safe(run_id)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_safe(name)}.parquet"
    table = frame_to_table(frame)
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with path.open("wb") as handle:
        pq.write_table(table, handle)
    return StagedFrame(str(path), len(frame))


def read_staged(path: str | StagedFrame | Mapping[str, Any]) -> pd.DataFrame:
    """Read a staged frame back, Decimal and JSON columns restored exactly."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(path, StagedFrame):
        path = path.path
    elif isinstance(path, Mapping):
        path = str(path["path"])
    with ObjectStoragePath(path).open("rb") as handle:
        return table_to_frame(pq.read_table(handle))
