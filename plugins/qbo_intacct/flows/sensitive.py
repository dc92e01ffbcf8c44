"""Bank account numbers never leave the systems that hold them: everything in between sees a token.

A token is ``****6789#<16 hex>``: the last four digits (what finance compares when approving a
change) and a keyed hash of the whole number (HMAC-SHA256 with the deployment's Airflow fernet
key), so two systems holding the same number give the same token and a change gives another one,
while the token cannot be turned back into the number (a plain hash of a 10-digit number could be).
The extract operators mask the numbers in every record before staging; plans, review items,
summaries and logs therefore only ever hold tokens. The load operators read the full number from
the source system at write time, check that its token is still the planned one (the number finance
approved) and only then send it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Where each system keeps numbers that are masked in every record an extract stages, whichever flow
#: reads it (the customers flow reads vendors too, for their DisplayNames).
MASKED_PATHS: dict[str, tuple[str, ...]] = {
    "Vendor": ("VendorPaymentBankDetail.BankAccountNumber",),
    "VENDOR": ("ACHACCOUNTNUMBER",),
}
TOKEN = re.compile(r"^\*{4}(?P<last4>[0-9A-Za-z]{0,4})#(?P<digest>[0-9a-f]{16})$")


def _key() -> bytes:
    key = os.environ.get("AIRFLOW__CORE__FERNET_KEY", "")
    if not key:
        try:
            from airflow.configuration import conf

            key = conf.get("core", "fernet_key", fallback="") or ""
        except Exception:  # outside Airflow (unit tests): a fixed key still masks
            key = ""
    return (key or "qbo-intacct-bank-detail-mask").encode()


def mask(value: object) -> str | None:
    """The token of a bank account number (``None`` for no number; a token stays as it is)."""
    if value is None:
        return None
    text = re.sub(r"\s+", "", str(value))
    if not text:
        return None
    if TOKEN.match(text):
        return text
    digest = hmac.new(_key(), text.encode(), hashlib.sha256).hexdigest()[:16]
    return f"****{text[-4:]}#{digest}"


def is_token(value: object) -> bool:
    return isinstance(value, str) and bool(TOKEN.match(value))


def last_four(value: object) -> str:
    """What finance sees of a number: ``****6789`` (or ``none``)."""
    if value is None or value == "":
        return "none"
    token = mask(value) or ""
    return token.split("#")[0] or "none"


def get_path(record: Mapping[str, Any], path: str) -> Any:
    node: Any = record
    if path in record:
        return record[path]
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    if path in record or "." not in path:
        record[path] = value
        return
    parts = path.split(".")
    node = record
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return
        node = child
    if parts[-1] in node:
        node[parts[-1]] = value


def mask_record(record: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """A copy of ``record`` with the number at each dotted path (flat or nested) replaced by its token."""
    import copy

    out = copy.deepcopy(dict(record))
    for path in paths:
        value = get_path(out, path)
        if value not in (None, ""):
            set_path(out, path, mask(value))
    return out
