"""Trial-balance tie-out: the QuickBooks trial balance through the account mapping against Intacct's,
per entity and Intacct account, every difference explained or flagged. Pure pandas; no I/O.

Who uses it: the journal entries flow after each run (for the entities and months it posted into)
and the period-end reconciliation (``qbo_intacct.reconciliation``) for whole periods.

**Interface** (frames in, one frame out; money is ``Decimal`` everywhere, debit positive):

- ``qbo`` (:data:`QBO_COLUMNS`): ``entity, qbo_account, amount``: the QuickBooks TrialBalance report
  for the period (``qbo_intacct.operators.trial_balance.read_qbo_trial_balance`` reads it: one row
  per QuickBooks account, by full name, home currency) attributed to Intacct entities. The report
  has no entity (QuickBooks documents no class or department filter for it), so a caller gives each
  row its entity: :func:`allocate_to_entities` splits an account's balance by postings whose entity
  it knows (journal-entry lines routed by the *Entity Routing* sheet) and leaves the rest with the
  company's entity (the routing sheet's Default row).
- ``intacct`` (:data:`INTACCT_COLUMNS`): ``entity, account, amount``: Intacct's ``get_trialbalance``
  per entity for the same period (``read_intacct_trial_balance``; debits minus credits in the
  period, the entity's base currency).
- ``account_map``: the chart-of-accounts mapping, ``(QuickBooks account, entity) -> Intacct account
  or None``: a callable, a ``MappingWorkbook`` (its ``gl_account``: an entity's own row wins over
  the blank one) or a plain ``{qbo_account: intacct_account}`` dict.
- ``explained`` (:data:`EXPLAINED_COLUMNS`, optional): ``entity, account, amount, reason``: the
  differences the caller can account for, each with its reason in plain words, ``amount`` being
  its share of ``intacct - qbo`` (e.g. QuickBooks invoices a flow has not synced: minus their
  postings). :func:`map_accounts` turns rows keyed by QuickBooks account into this key space.

:func:`compare_trial_balances` answers one row per entity and Intacct account that is non-zero on
either side (:data:`RESULT_COLUMNS`): ``entity, account, qbo_accounts, qbo, intacct, difference,
explained, unexplained, status, reason``, where ``difference = intacct - qbo``, ``unexplained =
difference - explained`` and ``status`` is ``ties`` (no difference), ``explained`` (the difference
is exactly what the explanations account for) or ``differs`` (``unexplained`` is not zero: someone
must look). A QuickBooks account with no Intacct account is its own row, ``account`` =
``(unmapped) <QuickBooks account>``, so its balance is never folded silently into another. Amounts
are rounded to the cent before they are compared. One call compares one period; callers comparing
several add a ``period`` column to the concatenated results.

**Why explanations, not filters.** Both trial balances hold more than any one flow posts: QuickBooks
invoices, bills and payments post to the GL (and to accounts journal entries use too: expense, bank,
A/R, A/P), and Intacct holds its own AR/AP documents and journals keyed there. Filtering them out
would hide them; instead the caller names each known part (reading it from the systems' own reports)
and the comparison shows the full balances, the known part with its reason, and what is left. The
journal entries flow, for instance, explains the QuickBooks postings of other transaction types
(``GeneralLedger`` report by transaction type), the Intacct postings that are not its batches, and
the entries it holds for review; anything else (an entry it missed, a batch edited or posted by
hand with its reference) stays ``differs``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

QBO_COLUMNS = ("entity", "qbo_account", "amount")
INTACCT_COLUMNS = ("entity", "account", "amount")
EXPLAINED_COLUMNS = ("entity", "account", "amount", "reason")
RESULT_COLUMNS = ("entity", "account", "qbo_accounts", "qbo", "intacct", "difference", "explained", "unexplained",
                  "status", "reason")  # fmt: skip
UNMAPPED = "(unmapped) "
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

AccountMap = Callable[[str, str], "str | None"]


def cents(value: Any) -> Decimal:
    """Exact cents of a Decimal, int or decimal text (never a float: it is refused)."""
    if isinstance(value, float):
        raise TypeError(f"money must not be a float: {value!r}")
    return Decimal(str(value if value not in (None, "") else 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def as_account_map(account_map: Any) -> AccountMap:
    """A callable ``(qbo_account, entity) -> Intacct account`` from what callers have at hand."""
    if hasattr(account_map, "gl_account"):
        return lambda name, entity: account_map.gl_account(name, entity)
    if isinstance(account_map, Mapping):
        return lambda name, entity: account_map.get((name, entity)) or account_map.get(name)
    if callable(account_map):
        return account_map
    raise TypeError(f"account_map must be a callable, a MappingWorkbook or a dict, not {type(account_map).__name__}")


def mapped_account(account_map: AccountMap, qbo_account: str, entity: str) -> str:
    """The Intacct account a QuickBooks account maps to in ``entity``, or its ``(unmapped)`` label."""
    return account_map(qbo_account, entity) or f"{UNMAPPED}{qbo_account}"


def map_accounts(frame: pd.DataFrame, account_map: Any) -> pd.DataFrame:
    """Rows keyed by QuickBooks account (``entity, qbo_account, amount, ...``) keyed by Intacct
    account instead (``entity, account, amount, ...``; other columns kept)."""
    amap = as_account_map(account_map)
    out = frame.copy()
    out.insert(1, "account", [mapped_account(amap, str(q), str(e)) for e, q in zip(out["entity"], out["qbo_account"],
                                                                                  strict=True)])  # fmt: skip
    return out.drop(columns=["qbo_account"])


def frame(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """A frame with exactly ``columns`` (empty frames keep them), money as Decimal."""
    cols = list(columns)
    out = pd.DataFrame(list(rows), columns=cols)
    if "amount" in out.columns:
        out["amount"] = out["amount"].map(cents).astype(object)
    return out


def allocate_to_entities(balances: pd.DataFrame, known: pd.DataFrame, default_entity: str) -> pd.DataFrame:
    """Give a company-wide trial balance its entities.

    ``balances``: ``qbo_account, amount`` (the report). ``known``: ``entity, qbo_account, amount``,
    postings whose entity the caller knows (journal-entry lines through the routing sheet). Each
    account's known postings go to their entities and the rest of its balance to ``default_entity``,
    so the entities' rows always add up to the report, whatever the known postings say."""
    total: dict[str, Decimal] = defaultdict(Decimal)
    for row in balances.itertuples(index=False):
        total[str(row.qbo_account)] += cents(row.amount)
    placed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in known.itertuples(index=False):
        placed[(str(row.entity), str(row.qbo_account))] += cents(row.amount)
    rest = dict(total)
    for (_entity, account), amount in placed.items():
        rest[account] = rest.get(account, ZERO) - amount
    rows = [{"entity": e, "qbo_account": a, "amount": v} for (e, a), v in sorted(placed.items()) if v]
    rows += [{"entity": default_entity, "qbo_account": a, "amount": v} for a, v in sorted(rest.items()) if v]
    return frame(rows, QBO_COLUMNS)


def _sums(rows: Iterable[tuple[str, str, Any]]) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entity, account, amount in rows:
        out[(str(entity), str(account))] += cents(amount)
    return out


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def compare_trial_balances(
    qbo: pd.DataFrame, intacct: pd.DataFrame, account_map: Any, *, explained: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per entity and Intacct account: the mapped QuickBooks balance, Intacct's, the difference, the
    part the explanations account for and what is left (see the module docstring)."""
    amap = as_account_map(account_map)
    qbo_names: dict[tuple[str, str], set[str]] = defaultdict(set)
    qbo_rows = []
    for row in qbo.itertuples(index=False):
        key = (str(row.entity), mapped_account(amap, str(row.qbo_account), str(row.entity)))
        qbo_names[key].add(str(row.qbo_account))
        qbo_rows.append((*key, row.amount))
    q = _sums(qbo_rows)
    i = _sums((r.entity, r.account, r.amount) for r in intacct.itertuples(index=False))
    known: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    reasons: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    if explained is not None:
        for r in explained.itertuples(index=False):
            key = (str(r.entity), str(r.account))
            known[key] += cents(r.amount)
            reasons[key][str(r.reason)] += cents(r.amount)
    rows = []
    for key in sorted(set(q) | set(i) | {k for k, v in known.items() if v}):
        qv, iv, ev = q.get(key, ZERO), i.get(key, ZERO), known.get(key, ZERO)
        if not (qv or iv or ev):
            continue
        difference = iv - qv
        unexplained = difference - ev
        parts = [f"{reason}: {_money(amount)}" for reason, amount in sorted(reasons[key].items()) if amount]
        if not difference and not unexplained:
            status, reason = "ties", "; ".join(parts)
        elif not unexplained:
            status, reason = "explained", "; ".join(parts)
        else:
            status = "differs"
            reason = f"unexplained difference of {_money(unexplained)} (Intacct minus QuickBooks)"
            if key[1].startswith(UNMAPPED):
                reason += "; the QuickBooks account has no Intacct GL account (the Accounts sheet)"
            reason = "; ".join([reason, *parts])
        rows.append({"entity": key[0], "account": key[1], "qbo_accounts": ", ".join(sorted(qbo_names.get(key, ()))),
                     "qbo": qv, "intacct": iv, "difference": difference, "explained": ev,
                     "unexplained": unexplained, "status": status, "reason": reason})  # fmt: skip
    out = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    for column in ("qbo", "intacct", "difference", "explained", "unexplained"):
        out[column] = out[column].astype(object)
    return out


def differences(result: pd.DataFrame) -> pd.DataFrame:
    """The rows someone must look at (``status == "differs"``)."""
    return result[result["status"] == "differs"].reset_index(drop=True)


def describe(row: Mapping[str, Any]) -> str:
    """One line finance reads: where, both balances, and why they differ."""
    names = f" ({row['qbo_accounts']})" if row.get("qbo_accounts") else ""
    period = f"{row['period']} " if row.get("period") else ""
    return (f"{period}{row['entity']} account {row['account']}{names}: QuickBooks {_money(row['qbo'])}, "
            f"Intacct {_money(row['intacct'])}: {row['reason'] or row['status']}")  # fmt: skip


def as_text(result: pd.DataFrame) -> list[dict[str, str]]:
    """Rows with amounts as exact decimal text (for summaries, XCom and JSON)."""
    out = []
    for row in result.to_dict("records"):
        out.append({k: (f"{v:f}" if isinstance(v, Decimal) else str(v)) for k, v in row.items()})
    return out
