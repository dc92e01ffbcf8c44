"""Scan everything a run leaves behind for the secret values the suite seeded.

Where secrets could leak: task logs (the ``dags test`` output, Airflow's log folder), XCom and
everything else in Airflow's metadata database, staged parquet files, workbooks, run summaries, the
ledger's review items and run records, and mails (the staging area's outbox, when a flow sends one).
Files are read as bytes; parquet and xlsx are opened and their text values scanned as well, since
compression could hide a value from a byte search.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Every QuickBooks access token the sandbox issues starts with this header (include/sandbox/qbo/oauth.py).
ACCESS_TOKEN_PREFIX = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.."  # noqa: S105 - a public header


def seeded_secrets(info: dict[str, Any], books: Path) -> dict[str, str]:
    """name -> value of each secret the sandboxes and the books hold (values under 8 characters skipped)."""
    found: dict[str, str] = {}
    qbo, intacct = info["qbo"], info["intacct"]
    found["qbo client secret"] = qbo["client_secret"]
    for realm_id, realm in qbo["realms"].items():
        found[f"qbo bootstrap refresh token {realm_id}"] = realm["refresh_token"]
    found["intacct sender password"] = intacct["sender_password"]
    found["intacct user password"] = intacct["user_password"]
    found["qbo access token (any)"] = ACCESS_TOKEN_PREFIX
    found.update(_bank_numbers(books))
    return {k: v for k, v in found.items() if v and len(v) >= 8}


def _bank_numbers(books: Path) -> dict[str, str]:
    """Full bank account numbers in the seeded books (any field whose name says account number)."""
    import json

    numbers: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for v in value:
                walk(v, path)
        elif isinstance(value, str) and any(tag in path.upper() for tag in ("ACCOUNTNUMBER", "ACCTNUM", "ACCOUNTNO")):
            digits = value.strip()
            if len(digits) >= 8 and digits.replace("-", "").isdigit():
                numbers[f"bank account number at {path.rsplit('.', 1)[-1]} ...{digits[-4:]}"] = digits

    for name in ("qbo.json", "intacct.json"):
        path = books / name
        if path.exists():
            walk(json.loads(path.read_text()), name)
    return numbers


def _texts(path: Path) -> Iterable[bytes]:
    data = path.read_bytes()
    yield data
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            yield str(table.to_pylist()).encode("utf-8", "replace")
        except Exception:  # noqa: S110 - an unreadable file is still byte-scanned above
            pass
    if path.suffix in (".xlsx", ".zip") or data[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield archive.read(member)
        except (zipfile.BadZipFile, OSError):
            pass


def scan(folders: Iterable[Path], secrets: dict[str, str]) -> dict[str, Any]:
    """``{"files": n, "bytes": n, "found": [{"secret": name, "file": path}]}`` over every file in ``folders``."""
    needles = {name: value.encode() for name, value in secrets.items()}
    files = size = 0
    found: list[dict[str, str]] = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if (path.suffix == ".json" and path.parent.name == "state") or path.name in ("sandbox.json",):
                continue  # the sandboxes' own credentials file and state snapshots hold them by design
            if "sandbox" in path.parts or path.name in ("qbo.json", "intacct.json"):
                continue
            files += 1
            for text in _texts(path):
                size += len(text)
                for name, needle in needles.items():
                    if needle in text:
                        found.append({"secret": name, "file": str(path)})
    unique = {(f["secret"], f["file"]) for f in found}
    return {
        "files": files,
        "bytes": size,
        "secrets": len(secrets),
        "found": [{"secret": s, "file": f} for s, f in sorted(unique)],
    }
