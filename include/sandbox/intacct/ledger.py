"""The general ledger the Intacct sandbox derives from its documents, and ``get_trialbalance``.

Each posted document posts double-entry lines in its entity's base currency (the lines' AMOUNT):

- ARINVOICE: credit each line's account, debit A/R. ARADJUSTMENT: the same with the line's sign
  (a credit memo's negative lines debit revenue and credit A/R).
- ARPYMT: debit the financial entity's GL account (or UNDEPOSITEDACCOUNTNO) with the cash plus any
  overpayment, credit A/R. Credits applied by a payment (memos, advances, earlier overpayments)
  move nothing in the GL; a discount (TRX_TOTALDISCOUNTTOAPPLY) debits the discount account.
- ARADVANCE: debit the bank, credit each line's account (A/R when a line names none).
- APBILL: debit each line's account, credit A/P; APADJUSTMENT the same with the line's sign.
  APPYMT: debit A/P with the cash, credit the bank (debit memos applied move nothing).
- GLBATCH: its own entries (TR_TYPE 1 debit, -1 credit).

Drafts, and documents awaiting approval, post nothing. Sandbox choices (Intacct's AR/AP
configuration is not modelled): the control accounts are the company's ``ar_account``,
``ap_account`` and ``discount_account`` numbers (11000, 20000, 49000 in the default chart).

``get_trialbalance`` (I-TB) answers one ``<trialbalance>`` element per account with lowercase
children ``glaccountno, startbalance, debits, credits, adjdebits, adjcredits, endbalance,
reportingbook, currency`` (I-TB shows no response; these are the names third-party readers use,
api-facts-documents.md E6). Balances are debit-positive. In a company whose entities have
different base currencies it needs a ``locationid`` (or an entity session), as I-TB says;
``reportingperiodname`` and the dimension filters other than locationid are refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from include.sandbox.intacct.state import (
    UNSETTLED_STATES,
    ZERO,
    IntacctBusinessError,
    IntacctState,
    Record,
    cents,
    generic_error,
)

AR_ACCOUNT = "11000"
AP_ACCOUNT = "20000"
DISCOUNT_ACCOUNT = "49000"

Posting = tuple[str, str, Decimal]  # (posting date ISO, account number, base amount; debit positive)


def _posted(rec: Record) -> bool:
    return rec.get("STATE") not in UNSETTLED_STATES or rec.get("STATE") in ("Reversed", "Reversal")


def _bank_account(state: IntacctState, rec: Record) -> str:
    bank = state.find("CHECKINGACCOUNT", str(rec.get("FINANCIALENTITY", "")))
    if bank is not None:
        return str(bank.get("GLACCOUNTNO", ""))
    return str(rec.get("UNDEPOSITEDACCOUNTNO", ""))


def postings(state: IntacctState, entity: str) -> Iterator[Posting]:
    """Every GL line of the documents owned by ``entity`` ("" = top level)."""

    def mine(object_name: str) -> Iterator[Record]:
        return (r for r in state.all(object_name) if r.get("MEGAENTITYID", "") == entity and _posted(r))

    for object_name, sign, control in (("ARINVOICE", -1, AR_ACCOUNT), ("ARADJUSTMENT", -1, AR_ACCOUNT)):
        for rec in mine(object_name):
            when = rec.get("WHENPOSTED") or rec.get("WHENCREATED", "")
            total = ZERO
            for line in rec.get(f"{object_name}ITEMS", []):
                amount = line.get("AMOUNT", ZERO)
                yield when, str(line.get("ACCOUNTNO", "")), sign * amount
                total += amount
            yield when, control, -sign * total
    for object_name in ("APBILL", "APADJUSTMENT"):
        for rec in mine(object_name):
            when = rec.get("WHENPOSTED") or rec.get("WHENCREATED", "")
            total = ZERO
            for line in rec.get(f"{object_name}ITEMS", []):
                yield when, str(line.get("ACCOUNTNO", "")), line.get("AMOUNT", ZERO)
                total += line.get("AMOUNT", ZERO)
            yield when, AP_ACCOUNT, -total
    for rec in mine("ARPYMT"):
        rate = rec.get("EXCHANGE_RATE", Decimal(1))
        received = rec.get("TOTALENTERED", ZERO)
        discounts = (d.get("TRX_TOTALDISCOUNTTOAPPLY") or ZERO for d in rec.get("ARPYMTDETAILS", []))
        discount = cents(sum(discounts, ZERO) * rate)
        # a reversed payment posts on its date and is undone on the reversal date
        dated = [(rec.get("RECEIPTDATE", ""), 1)]
        if rec.get("STATE") == "Reversed":
            dated.append((rec.get("REVERSEDDATE", ""), -1))
        for when, sign in dated:
            if received:
                yield when, _bank_account(state, rec), sign * received
            if discount:
                yield when, DISCOUNT_ACCOUNT, sign * discount
            if received + discount:
                yield when, AR_ACCOUNT, -sign * (received + discount)
    for rec in mine("ARADVANCE"):
        when = rec.get("RECEIPTDATE", "")
        total = ZERO
        for line in rec.get("ARADVANCEITEMS", []):
            yield when, str(line.get("ACCOUNTNO") or AR_ACCOUNT), -line.get("AMOUNT", ZERO)
            total += line.get("AMOUNT", ZERO)
        yield when, _bank_account(state, rec), total
    for rec in mine("APPYMT"):
        when = rec.get("PAYMENTDATE", "")
        paid = rec.get("TOTALENTERED", ZERO)
        yield when, AP_ACCOUNT, paid
        yield when, _bank_account(state, rec), -paid
    for rec in mine("GLBATCH"):
        if rec.get("STATE") == "Draft":
            continue
        for line in rec.get("ENTRIES", []):
            side = 1 if str(line.get("TR_TYPE")) == "1" else -1
            yield rec.get("BATCH_DATE", ""), str(line.get("ACCOUNTNO", "")), side * line.get("AMOUNT", ZERO)


def trial_balance(state: IntacctState, start: str, end: str, *, entity: str, show_zero: bool) -> list[dict[str, Any]]:
    """Per account: balance before ``start``, debits and credits in [start, end], balance at ``end``."""
    opening: dict[str, Decimal] = defaultdict(Decimal)
    debits: dict[str, Decimal] = defaultdict(Decimal)
    credits: dict[str, Decimal] = defaultdict(Decimal)
    for when, account, amount in postings(state, entity):
        if when > end or not amount:
            continue
        if when < start:
            opening[account] += amount
        elif amount > 0:
            debits[account] += amount
        else:
            credits[account] += -amount
    ent = state.entity(entity) if entity else None
    currency = ent["CURRENCY"] if ent else "USD"
    rows = []
    for account in sorted(state.all("GLACCOUNT"), key=lambda a: str(a["ACCOUNTNO"])):
        number = str(account["ACCOUNTNO"])
        start_balance, dr, cr = opening.get(number, ZERO), debits.get(number, ZERO), credits.get(number, ZERO)
        if not show_zero and not (start_balance or dr or cr):
            continue
        rows.append(
            {
                "glaccountno": number,
                "startbalance": cents(start_balance),
                "debits": cents(dr),
                "credits": cents(cr),
                "adjdebits": cents(ZERO),
                "adjcredits": cents(ZERO),
                "endbalance": cents(start_balance + dr - cr),
                "reportingbook": "ACCRUAL",
                "currency": currency,
            }
        )
    return rows


def check_entity(state: IntacctState, entity: str) -> None:
    """A trial balance mixes no base currencies: at top level of such a company, one entity is needed."""
    currencies = {e["CURRENCY"] for e in state.entities()}
    if not entity and len(currencies) > 1:
        raise IntacctBusinessError(
            [
                generic_error(
                    "locationid is required: this company's entities have different base currencies.",
                    "Give <locationid> or call from an entity session.",
                )
            ]
        )
