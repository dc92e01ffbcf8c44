"""QuickBooks journal entries into Intacct GLBATCH: the accounting (frames and records in, batches out).

What a finance reader should know:

- **Where a line lands.** Each line's entity, location, department and class come from the workbook's
  *Entity Routing* sheet (the line's QuickBooks department, else its class, else the default row);
  its account from the *Accounts* sheet (an entity's own row wins over the blank one). Debits and
  credits go to Intacct as the direction flag (``TR_TYPE`` 1 / -1) and the absolute amount. The
  journal comes from the *Journals* sheet (per entity, or the blank row for every entity).
- **Held whole, never posted in part.** An entry with any line whose account is unmapped, whose
  entity cannot be decided, that would post to an Intacct account closed to direct posting (A/R,
  A/P) without a *Clearing Accounts* row, whose currency is not enabled, or whose lines do not
  balance per entity after mapping and rounding (Intacct refuses an entry that does not balance
  within one entity) is held as one review item naming the line. The next run reads it again and
  posts it once the workbook is fixed.
- **Anyone can find it in both systems.** Each batch's ``REFERENCENO`` is ``QBO-JE-<Id>`` (a summary:
  ``QBO-JE-SUM-<entity>-<period>``) and its title holds the QuickBooks number (``DocNumber``).
- **Detailed mode** posts one batch per entry (per entity the entry touches: one, unless finance
  routes lines to several entities that each balance). An edit posts a reversing batch of what was
  posted (same date, lines with the direction flipped) and the new version; a delete posts the
  reversal only. Intacct documents no reverse function for GLBATCH (api-facts-documents.md E4), and
  an update of a posted batch is undocumented, so reversal batches are the auditable choice.
- **Summarized mode** posts one batch per entity and period (Month, or Day) once the period has
  ended, with lines summed by account, location, department, class and currency. The ledger keeps,
  per QuickBooks entry, the lines the GL holds for it and the batches that hold them, so a later
  edit, add or delete produces one adjusting batch for the difference in that period, never a
  re-post. Foreign-currency lines are summed per entry (never netted across rates) so each entry's
  rounding to the base currency stays exactly what a detailed batch would post.
- **Exactly once.** Batch keys are derived from the entry (or entity and period), the ledger's count
  of batches already posted for it and a hash of the lines, and become the Intacct function controlid
  (``uniqueid=true``): a task retried after a kill, before the ledger was written, sends the same
  controlids and Intacct answers from its memory instead of posting twice.

Money is ``Decimal`` throughout; amounts in the ledger are strings of exact decimals.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FLOW = "journal_entries"
NOUN = "journal entry"
QBO_ENTITY = "JournalEntry"
CENT = Decimal("0.01")
ZERO = Decimal("0")
REFERENCE_PREFIX = "QBO-JE-"
#: Reason codes of the review items this flow raises (plain words in :func:`explain_hold`).
REASONS = ("unmapped_account", "no_entity", "control_account", "no_journal", "currency_not_enabled", "unbalanced",
           "unbalanced_after_rounding", "closed_period", "intacct_refused")  # fmt: skip


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class GlLine:
    """One Intacct GL line as the flow plans it: ``amount`` signed (debit positive), in ``currency``;
    ``rate`` is the exchange rate to the entity's base currency as text ("" = base currency, or
    Intacct's own rate type), ``base`` the amount in the base currency (None when Intacct decides)."""

    entity: str
    account: str
    location: str | None
    department: str | None
    class_id: str | None
    currency: str
    rate: str
    amount: Decimal
    memo: str = ""
    base: Decimal | None = None
    entry: str = ""  # QuickBooks entry id; kept on foreign-currency lines so summaries never net them

    @property
    def net_key(self) -> tuple[str, ...]:
        """What lines are summed by: account and dimensions (and the entry, for foreign-currency lines)."""
        return (self.entity, self.account, self.location or "", self.department or "", self.class_id or "",
                self.currency, self.rate, self.entry if self.rate else "")  # fmt: skip

    def as_json(self) -> list[Any]:
        return [self.entity, self.account, self.location, self.department, self.class_id, self.currency, self.rate,
                str(self.amount), self.memo, None if self.base is None else str(self.base), self.entry]  # fmt: skip

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> GlLine:
        entity, account, location, department, class_id, currency, rate, amount, memo, base, entry = row
        return cls(entity, account, location, department, class_id, currency, rate, Decimal(amount), memo,
                   None if base is None else Decimal(base), entry)  # fmt: skip


def lines_json(lines: Iterable[GlLine]) -> str:
    return json.dumps([line.as_json() for line in lines], separators=(",", ":"))


def lines_from_json(text: str | None) -> list[GlLine]:
    return [GlLine.from_json(row) for row in json.loads(text or "[]")]


def lines_hash(lines: Iterable[GlLine]) -> str:
    rows = sorted(json.dumps(line.as_json()) for line in lines)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Entry:
    """A QuickBooks journal entry mapped to Intacct lines (``deleted``: gone from QuickBooks)."""

    id: str
    number: str
    date: dt.date
    memo: str
    lines: tuple[GlLine, ...] = ()
    deleted: bool = False

    @property
    def label(self) -> str:
        return f"journal entry {self.number or '(no number)'} (QuickBooks Id {self.id}) of {self.date.isoformat()}"


@dataclass(frozen=True)
class Hold:
    """An entry held whole: which line, why, and where finance fixes it."""

    entry_id: str
    number: str
    date: str
    reason_code: str
    line: int | None
    detail: str
    fix: str
    amount: Decimal = ZERO

    @property
    def fingerprint(self) -> str:
        return f"{self.reason_code}:{self.line or 0}"


@dataclass
class JournalContext:
    """Everything mapping needs, read once per run: the workbook and both systems' small lists."""

    mappings: Any  # MappingWorkbook
    accounts: Mapping[str, Mapping[str, Any]]  # QuickBooks Account Id -> Account
    classes: Mapping[str, str]  # QuickBooks Class Id -> name
    departments: Mapping[str, str]  # QuickBooks Department Id -> name
    closed_accounts: frozenset[str]  # Intacct accounts closed to direct posting (SUBLEDGERCONTROLON)
    base_currency: Mapping[str, str]  # Intacct entity -> base currency
    home_currency: str = "USD"


# ------------------------------------------------------------------------------------ mapping


def _ref(value: Any) -> str | None:
    return str(value["value"]) if isinstance(value, Mapping) and value.get("value") not in (None, "") else None


#: Dates outside these are typos (0026 for 2026, a 9999 placeholder), never a real entry's date: held.
DATE_FLOOR, DATE_CEILING = dt.date(1900, 1, 1), dt.date(2099, 12, 31)


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def account_name(ctx: JournalContext, ref: Any) -> str:
    """The QuickBooks account's full name (what the Accounts sheet lists), else the name on the line."""
    account = ctx.accounts.get(_ref(ref) or "") or {}
    name = account.get("FullyQualifiedName") or account.get("Name")
    return str(name or (ref or {}).get("name") or _ref(ref) or "")


def _account_row(ctx: JournalContext, name: str) -> str:
    row = (ctx.mappings.unmapped_rows.get("AccountMap") or {}).get(name)
    return f"the Accounts sheet, row {row}" if row else "the Accounts sheet (add a row)"


def map_entry(record: Mapping[str, Any], ctx: JournalContext) -> Entry | Hold:
    """One QuickBooks JournalEntry as Intacct lines, or the reason it is held (first problem found)."""
    rid = str(record.get("Id"))
    number = str(record.get("DocNumber") or "")
    try:
        when = _date(record.get("TxnDate"))
    except ValueError:
        when = None
    if str(record.get("status", "")).lower() == "deleted":
        return Entry(rid, number, when or dt.date.min, "", (), deleted=True)
    if when is None or not DATE_FLOOR <= when <= DATE_CEILING:
        shown = str(record.get("TxnDate") or "(none)")
        problem = "is not a date" if when is None else "is outside 1900-2099 (a typo?)"
        return Hold(rid, number, shown[:10], "bad_date", None, f"the entry's date {shown!r} {problem}",
                    "the entry's date in QuickBooks")  # fmt: skip
    try:
        return _map_lines(record, ctx, rid, number, when)
    except _BadValueError as bad:
        return Hold(rid, number, when.isoformat(), "cannot_map", bad.line, str(bad), "the entry in QuickBooks")


class _BadValueError(ValueError):
    """A value QuickBooks should never send (an amount that is not a number, a line neither debit nor credit)."""

    def __init__(self, line: int | None, text: str) -> None:
        super().__init__(text)
        self.line = line


def _amount(value: Any, line: int) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except (ArithmeticError, ValueError):
        raise _BadValueError(line, f"line {line}: Amount {value!r} is not an amount") from None
    if not amount.is_finite():
        raise _BadValueError(line, f"line {line}: Amount {value!r} is not an amount")
    return amount


def _map_lines(record: Mapping[str, Any], ctx: JournalContext, rid: str, number: str, when: dt.date) -> Entry | Hold:
    memo = str(record.get("PrivateNote") or "")
    currency = _ref(record.get("CurrencyRef")) or ctx.home_currency
    try:
        qbo_rate = Decimal(str(record.get("ExchangeRate") or 1))
    except ArithmeticError:
        raise _BadValueError(None, f"exchange rate {record.get('ExchangeRate')!r} is not a number") from None
    if not qbo_rate.is_finite() or qbo_rate <= 0:
        raise _BadValueError(None, f"exchange rate {record.get('ExchangeRate')!r} is not above zero")

    def held(reason: str, line: int | None, detail: str, fix: str, amount: Decimal = ZERO) -> Hold:
        return Hold(rid, number, when.isoformat(), reason, line, detail, fix, amount)

    if currency != ctx.home_currency:
        setting = ctx.mappings.currency(currency)
        if setting is None or not setting.enabled:
            return held("currency_not_enabled", None, f"the entry is in {currency}, which is not enabled",
                        "the Currencies sheet (mark it Enabled once Intacct has it)")  # fmt: skip
    header_department = _ref(record.get("DepartmentRef"))
    lines: list[GlLine] = []
    for index, line in enumerate(record.get("Line") or [], start=1):
        detail = line.get("JournalEntryLineDetail")
        if not isinstance(detail, Mapping):
            continue  # a description-only line posts nothing
        amount = _amount(line.get("Amount"), index)
        if not amount:
            continue
        if detail.get("PostingType") not in ("Debit", "Credit"):
            raise _BadValueError(
                index, f"line {index}: PostingType {detail.get('PostingType')!r} is neither Debit nor Credit"
            )
        name = account_name(ctx, detail.get("AccountRef"))
        klass = ctx.classes.get(_ref(detail.get("ClassRef")) or "")
        department = ctx.departments.get(_ref(detail.get("DepartmentRef")) or header_department or "")
        route = ctx.mappings.route(klass, department)
        if route is None:
            return held("no_entity", index, f"line {index} ({name}, {amount}): department {department or '(none)'} "
                        f"and class {klass or '(none)'} decide no single Intacct entity",
                        "the Entity Routing sheet", amount)  # fmt: skip
        account = ctx.mappings.gl_account(name, route.entity)
        if not account:
            return held("unmapped_account", index, f"line {index} posts {amount} to QuickBooks account '{name}', "
                        f"which has no Intacct GL account", _account_row(ctx, name), amount)  # fmt: skip
        if account in ctx.closed_accounts:
            clearing = ctx.mappings.clearing_account(account, route.entity)
            if not clearing:
                return held("control_account", index, f"line {index} posts {amount} to Intacct account {account} "
                            f"('{name}'), which Intacct closes to direct posting (a subledger control account)",
                            "the Clearing Accounts sheet (name a clearing account for "
                            f"{account}), or move the line to another account in QuickBooks", amount)  # fmt: skip
            account = clearing
        if ctx.mappings.journal_setting(route.entity) is None:
            return held("no_journal", index, f"line {index}: entity {route.entity} has no journal",
                        "the Journals sheet (a row for the entity, or a blank-entity row)", amount)  # fmt: skip
        base = ctx.base_currency.get(route.entity, ctx.home_currency)
        if currency == base:
            rate, base_amount = "", amount
        elif base == ctx.home_currency:
            rate, base_amount = format(qbo_rate, "f"), cents(amount * qbo_rate)
        else:  # QuickBooks' rate is to its home currency, not this entity's: Intacct's rate type decides
            rate, base_amount = "", None
        sign = 1 if detail.get("PostingType") == "Debit" else -1
        lines.append(
            GlLine(route.entity, account, route.location, route.department, route.intacct_class, currency, rate,
                   sign * amount, str(line.get("Description") or memo)[:400],
                   None if base_amount is None else sign * base_amount, rid if rate else "")
        )  # fmt: skip
    problem = _imbalance(lines)
    if problem is not None:
        reason, entity, text = problem
        first = next(i for i, line in enumerate(lines, start=1) if line.entity == entity)
        return held(reason, first, text, "the entry in QuickBooks (or the Entity Routing sheet, if its lines "
                    "should land in one entity)")  # fmt: skip
    return Entry(rid, number, when, memo, tuple(lines))


def _imbalance(lines: Sequence[GlLine]) -> tuple[str, str, str] | None:
    """Intacct refuses an entry that does not balance within one entity, in its currency and its base."""
    by_entity: dict[str, list[GlLine]] = defaultdict(list)
    for line in lines:
        by_entity[line.entity].append(line)
    for entity, own in sorted(by_entity.items()):
        debit = sum((x.amount for x in own if x.amount > 0), ZERO)
        credit = -sum((x.amount for x in own if x.amount < 0), ZERO)
        if debit != credit:
            others = sorted(set(by_entity) - {entity})
            return (
                "unbalanced",
                entity,
                f"after mapping, the lines in entity {entity} do not balance: debits "
                f"{debit} and credits {credit}" + (f" (other lines land in {', '.join(others)})" if others else ""),
            )
        if all(x.base is not None for x in own):
            bd = sum((x.base for x in own if x.base and x.base > 0), ZERO)  # type: ignore[misc]
            bc = -sum((x.base for x in own if x.base and x.base < 0), ZERO)  # type: ignore[misc]
            if bd != bc:
                return ("unbalanced_after_rounding", entity, f"converted to {entity}'s base currency and rounded to "
                        f"the cent, debits {bd} and credits {bc} differ")  # fmt: skip
    return None


def net_lines(lines: Iterable[GlLine]) -> list[GlLine]:
    """Lines summed by account and dimensions; lines that sum to zero are dropped."""
    totals: dict[tuple[str, ...], GlLine] = {}
    for line in lines:
        key = line.net_key
        old = totals.get(key)
        if old is None:
            totals[key] = replace(line, memo="")
        else:
            base = None if old.base is None or line.base is None else old.base + line.base
            totals[key] = replace(old, amount=old.amount + line.amount, base=base)
    return [line for key, line in sorted(totals.items()) if line.amount]


# ------------------------------------------------------------------------------------ ledger state


@dataclass
class Posted:
    """One batch as far as one entry is concerned: its key, entity, date and the entry's lines in it."""

    key: str
    entity: str
    date: str
    lines: list[GlLine]

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "entity": self.entity, "date": self.date, "lines": [x.as_json() for x in self.lines]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Posted:
        return cls(data["key"], data["entity"], data["date"], [GlLine.from_json(x) for x in data["lines"]])


@dataclass
class EntryState:
    """What the ledger keeps per QuickBooks entry (in ``ledger_links``, see :func:`state_to_link`)."""

    entry_id: str
    number: str = ""
    date: str = ""
    mode: str = "Detailed"
    want: list[GlLine] = field(default_factory=list)  # the mapped lines the GL should hold
    posted: list[Posted] = field(default_factory=list)  # batches holding the entry's lines (net of reversals)
    batches: list[str] = field(default_factory=list)  # every batch key written for the entry, in order
    deleted: bool = False

    @property
    def posted_lines(self) -> list[GlLine]:
        return [line for p in self.posted for line in p.lines]


def state_to_link(state: EntryState, run_id: str | None) -> Any:
    """The ledger row of an entry: source = the QuickBooks entry, target = its key in Intacct
    (``QBO-JE-<Id>``), ``source_hashes`` = what it should be, ``target_hashes`` = what the GL holds."""
    from qbo_intacct.ledger.repository import LinkRecord

    return LinkRecord(
        flow=FLOW, source_system="qbo", source_id=state.entry_id, target_system="intacct",
        target_id=f"{REFERENCE_PREFIX}{state.entry_id}", target_key=state.batches[-1] if state.batches else None,
        source_hashes={"content": lines_hash(state.want), "want": lines_json(state.want), "number": state.number,
                       "date": state.date, "mode": state.mode, "deleted": "1" if state.deleted else ""},
        target_hashes={"posted": json.dumps([p.as_json() for p in state.posted], separators=(",", ":")),
                       "batches": json.dumps(state.batches)},
        origin="qbo", run_id=run_id,
    )  # fmt: skip


def state_from_link(link: Any) -> EntryState:
    source = link.source_hashes or {}
    target = link.target_hashes or {}
    return EntryState(
        entry_id=link.source_id, number=source.get("number", ""), date=source.get("date", ""),
        mode=source.get("mode", "Detailed"), want=lines_from_json(source.get("want")),
        posted=[Posted.from_json(p) for p in json.loads(target.get("posted") or "[]")],
        batches=list(json.loads(target.get("batches") or "[]")), deleted=bool(source.get("deleted")),
    )  # fmt: skip


# ------------------------------------------------------------------------------------ planning


@dataclass
class Batch:
    """One GLBATCH to create; ``members`` are the QuickBooks entries it carries lines of."""

    key: str
    kind: str  # "entry" | "reversal" | "summary" | "adjustment"
    entity: str
    date: str
    title: str
    reference: str
    journal: str
    lines: list[GlLine]
    members: list[str]


@dataclass
class Effect:
    """What one batch (or, with ``batch`` None, no write at all) changes in an entry's ledger state:
    the record step applies it only if the batch posted, so a batch Intacct refused changes nothing."""

    entry_id: str
    batch: str | None
    remove: list[str] = field(default_factory=list)  # keys of Posted entries the batch undoes
    add: list[Posted] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "batch": self.batch, "remove": self.remove,
                "add": [p.as_json() for p in self.add]}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Effect:
        return cls(data["entry_id"], data["batch"], list(data["remove"]), [Posted.from_json(p) for p in data["add"]])


@dataclass
class JournalPlan:
    batches: list[Batch]
    states: dict[str, EntryState]  # entries whose ledger facts (want, number, date, mode) change
    effects: list[Effect]  # in order; applied by the record step for the batches that posted
    unchanged: int = 0
    pending: int = 0  # summarized entries waiting for their period to end


def apply_effects(state: EntryState, effects: Iterable[Effect], posted_ok: set[str]) -> tuple[EntryState, list[str]]:
    """The entry's state after the batches that posted (in plan order); returns it and the batch keys
    that did not post (the record step holds the entry with Intacct's reason)."""
    posted = list(state.posted)
    batches = list(state.batches)
    missing = []
    for effect in effects:
        if effect.batch is not None and effect.batch not in posted_ok:
            missing.append(effect.batch)
            continue
        posted = [p for p in posted if p.key not in effect.remove] + list(effect.add)
        if effect.batch is not None and effect.batch not in batches:
            batches.append(effect.batch)
    return replace(state, posted=posted, batches=batches), missing


def period_of(day: dt.date, period: str) -> tuple[str, dt.date]:
    """(period key, last day): ``2026-05`` and May 31 for Month, the day itself for Day."""
    if period == "Day":
        return day.isoformat(), day
    last = calendar.monthrange(day.year, day.month)[1]
    return f"{day.year:04d}-{day.month:02d}", dt.date(day.year, day.month, last)


def _title(text: str) -> str:
    return text[:80]


def _negated(line: GlLine) -> GlLine:
    return replace(line, amount=-line.amount, base=None if line.base is None else -line.base)


def plan_journal(
    entries: Sequence[Entry],
    states: Mapping[str, EntryState],
    mappings: Any,
    *,
    today: dt.date,
) -> JournalPlan:
    """The batches that make Intacct hold what QuickBooks says, from the entries read this run and the
    ledger (``states``: every entry the flow has seen, so summarized entries whose period has just
    ended are posted without being read again)."""
    plan = JournalPlan([], {}, [])
    in_scope = {e.id for e in entries}
    summarized: list[EntryState] = []
    for entry in entries:
        old = states.get(entry.id) or EntryState(entry.id)
        mode = _mode(mappings, entry, old)
        state = EntryState(entry.id, entry.number or old.number, entry.date.isoformat(), mode,
                           [] if entry.deleted else list(entry.lines), list(old.posted), list(old.batches),
                           entry.deleted)  # fmt: skip
        if state.want != old.want or state.number != old.number or state.deleted != old.deleted or mode != old.mode:
            plan.states[entry.id] = state
        if mode == "Summarized":
            summarized.append(state)
        elif lines_hash(state.want) == lines_hash(old.posted_lines):
            plan.unchanged += 1
        else:
            _detailed(entry, state, mappings, plan)
    for entry_id, old in states.items():  # summarized entries the GL does not hold yet (period not ended)
        waiting = lines_hash(old.want) != lines_hash(old.posted_lines)
        if entry_id not in in_scope and old.mode == "Summarized" and waiting:
            summarized.append(old)
    _summarize(summarized, states, mappings, today, plan)
    return plan


def _mode(mappings: Any, entry: Entry, old: EntryState) -> str:
    entity = entry.lines[0].entity if entry.lines else (old.posted[0].entity if old.posted else "")
    setting = mappings.journal_setting(entity) if entity else None
    if setting is None:
        return old.mode
    return "Summarized" if setting.mode == "Summarized" else "Detailed"


def _journal(mappings: Any, entity: str) -> str:
    setting = mappings.journal_setting(entity)
    return setting.journal_symbol if setting is not None else "GJ"


def _detailed(entry: Entry, state: EntryState, mappings: Any, plan: JournalPlan) -> None:
    """Reverse what the GL holds for the entry (if anything) and post what it should hold."""
    generation = len(state.batches)
    for posted in state.posted:
        key = f"je-rev:{posted.key}"
        plan.batches.append(
            Batch(key, "reversal", posted.entity, posted.date,
                  _title(f"Reversal of QuickBooks JE {state.number or entry.id} (edited or deleted)"),
                  f"{REFERENCE_PREFIX}{entry.id}-R{generation}", _journal(mappings, posted.entity),
                  [_negated(x) for x in posted.lines], [entry.id])
        )  # fmt: skip
        plan.effects.append(Effect(entry.id, key, remove=[posted.key]))
    by_entity: dict[str, list[GlLine]] = defaultdict(list)
    for line in state.want:
        by_entity[line.entity].append(line)
    for entity, lines in sorted(by_entity.items()):
        key = f"je:{entry.id}:{entity}:{generation}:{lines_hash(lines)}"
        plan.batches.append(
            Batch(key, "entry", entity, entry.date.isoformat(),
                  _title(f"QuickBooks JE {entry.number or '(no number)'} (Id {entry.id}) {entry.memo}".strip()),
                  f"{REFERENCE_PREFIX}{entry.id}", _journal(mappings, entity), list(lines), [entry.id])
        )  # fmt: skip
        plan.effects.append(Effect(entry.id, key, add=[Posted(key, entity, entry.date.isoformat(), list(lines))]))


def _summarize(members: Sequence[EntryState], states: Mapping[str, EntryState], mappings: Any, today: dt.date,
               plan: JournalPlan) -> None:  # fmt: skip
    """One batch per entity and ended period for the difference between what the GL holds for the
    changed entries and what it should hold: the first is the period's summary, later ones adjust it."""

    def period(entity: str, day: str) -> tuple[str, dt.date]:
        setting = mappings.journal_setting(entity)
        return period_of(dt.date.fromisoformat(day), (setting.summary_period if setting else None) or "Month")

    want: dict[tuple[str, str], list[tuple[str, GlLine]]] = defaultdict(list)
    have: dict[tuple[str, str], list[tuple[str, Posted]]] = defaultdict(list)
    ends: dict[tuple[str, str], dt.date] = {}
    for state in members:
        slots = [(line.entity, *period(line.entity, state.date)) for line in state.want]
        if any(end >= today for _, _, end in slots):
            plan.pending += 1  # its period has not ended: wait (the ledger keeps the lines; no re-read)
            continue
        for (entity, key, end), line in zip(slots, state.want, strict=True):
            want[(entity, key)].append((state.entry_id, line))
            ends[(entity, key)] = end
        for posted in state.posted:
            key, end = period(posted.entity, posted.date)
            have[(posted.entity, key)].append((state.entry_id, posted))
            ends.setdefault((posted.entity, key), end)
    history: dict[tuple[str, str], int] = defaultdict(int)  # batches already posted per entity and period
    for state in states.values():
        for batch_key in state.batches:
            if batch_key.startswith("je-sum:"):
                _, entity, key, n, _ = batch_key.split(":")
                history[(entity, key)] = max(history[(entity, key)], int(n) + 1)
    for slot in sorted(set(want) | set(have)):
        entity, key = slot
        delta = net_lines([*(line for _, line in want.get(slot, [])),
                           *(_negated(line) for _, p in have.get(slot, []) for line in p.lines)])  # fmt: skip
        entry_ids = sorted({e for e, _ in want.get(slot, [])} | {e for e, _ in have.get(slot, [])})
        batch_key = None
        if delta:
            n = history[slot]
            batch_key = f"je-sum:{entity}:{key}:{n}:{lines_hash(delta)}"
            kind = "summary" if n == 0 else "adjustment"
            title = (f"QuickBooks journal entries {key}, {entity}" if kind == "summary"
                     else f"Adjustment {n} to QuickBooks journal entries {key}, {entity}")  # fmt: skip
            plan.batches.append(
                Batch(batch_key, kind, entity, ends[slot].isoformat(), _title(title),
                      f"{REFERENCE_PREFIX}SUM-{entity}-{key}" + (f"-A{n}" if n else ""), _journal(mappings, entity),
                      delta, entry_ids)
            )  # fmt: skip
        for entry_id in entry_ids:
            mine = [line for e, line in want.get(slot, []) if e == entry_id]
            add = [Posted(f"je-sum:{entity}:{key}#{entry_id}", entity, ends[slot].isoformat(), mine)] if mine else []
            remove = [p.key for e, p in have.get(slot, []) if e == entry_id]
            if add and remove == [a.key for a in add] and batch_key is None and _same(have, slot, entry_id, mine):
                continue  # nothing changed for this entry here
            plan.effects.append(Effect(entry_id, batch_key, remove=remove, add=add))


def _same(have: Mapping[tuple[str, str], list[tuple[str, Posted]]], slot: tuple[str, str], entry_id: str,
          mine: list[GlLine]) -> bool:  # fmt: skip
    held = [line for e, p in have.get(slot, []) if e == entry_id for line in p.lines]
    return lines_hash(held) == lines_hash(mine)


# ------------------------------------------------------------------------------------ Intacct body


def _intacct_date(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"


def batch_body(batch: Batch) -> dict[str, Any]:
    """The GLBATCH as Intacct's generic create takes it (api-facts.md B11 GLBATCH; I-JE)."""
    entries = []
    for line in batch.lines:
        entry: dict[str, Any] = {
            "ACCOUNTNO": line.account,
            "TR_TYPE": "1" if line.amount > 0 else "-1",
            "TRX_AMOUNT": format(abs(line.amount), "f"),
            "DESCRIPTION": line.memo or batch.title,
            "LOCATION": line.location,
            "DEPARTMENT": line.department,
            "CLASSID": line.class_id,
            "CURRENCY": line.currency,
        }
        if line.rate:
            entry["EXCHANGE_RATE"] = line.rate
        entries.append({k: v for k, v in entry.items() if v not in (None, "")})
    return {
        "JOURNAL": batch.journal,
        "BATCH_DATE": _intacct_date(batch.date),
        "BATCH_TITLE": batch.title,
        "REFERENCENO": batch.reference,
        "STATE": "Posted",
        "ENTRIES": {"GLENTRY": entries},
    }


# ------------------------------------------------------------------------------------ review items


def closed_period_hold(state_or_entry: Any, message: str, batch: Batch) -> Hold:
    """A batch Intacct refused: the period is closed, or another refusal, in Intacct's words."""
    closed = "closed" in message.lower() and "period" in message.lower()
    return Hold(
        entry_id=str(getattr(state_or_entry, "entry_id", getattr(state_or_entry, "id", ""))),
        number=str(getattr(state_or_entry, "number", "")),
        date=batch.date,
        reason_code="closed_period" if closed else "intacct_refused",
        line=None,
        detail=(f"Intacct refused the {batch.kind} batch {batch.reference} of {batch.date} in entity {batch.entity}: "
                f"{message}"),
        fix=("reopen the period in Intacct, or re-date the entry in QuickBooks into an open period" if closed
             else "the entry in QuickBooks or the workbook, as Intacct's message says"),
    )  # fmt: skip


PLAIN_WORDS = {
    "unmapped_account": "A line posts to a QuickBooks account that has no Intacct GL account.",
    "no_entity": "The line's QuickBooks department and class decide no single Intacct entity.",
    "control_account": "A line would post to an Intacct control account, which is closed to direct posting.",
    "no_journal": "The workbook names no Intacct journal for the entity.",
    "currency_not_enabled": "The entry's currency is not enabled for the sync.",
    "unbalanced": "After mapping, the entry's lines do not balance within one Intacct entity.",
    "unbalanced_after_rounding": "Converted to the entity's base currency and rounded, the entry does not balance.",
    "closed_period": "Intacct's period for the entry's date is closed.",
    "intacct_refused": "Intacct refused the batch.",
}


def hold_draft(hold: Hold) -> Any:
    """The review item finance reads: the entry by number, date and amount, the line, why, where to fix."""
    from qbo_intacct.ledger.repository import ReviewDraft

    fields = [["Number", hold.number or "(no number)"], ["Date", hold.date]]
    if hold.line:
        fields.append(["Line", str(hold.line)])
    if hold.amount:
        fields.append(["Amount", f"{hold.amount:,.2f}"])
    card = {"system": "qbo", "id": hold.entry_id, "name": f"Journal entry {hold.number or hold.entry_id}",
            "fields": fields}  # fmt: skip
    context = {"noun": NOUN, "record": card, "partner": None, "candidates": [],
               "reason": f"{PLAIN_WORDS.get(hold.reason_code, hold.reason_code)} {hold.detail}.",
               "fix": f"Fix it in {hold.fix}; the next run posts the whole entry."}  # fmt: skip
    return ReviewDraft(FLOW, "qbo", hold.entry_id, hold.reason_code, hold.detail, (), hold.fingerprint, context)


# ------------------------------------------------------------------------------------ trial-balance tie-out

#: What the QuickBooks GeneralLedger report calls this flow's source transactions.
JOURNAL_TXN_TYPE = "Journal Entry"


def routed_lines(record: Mapping[str, Any], ctx: JournalContext) -> list[dict[str, Any]]:
    """Every posting line of a QuickBooks entry with the entity the routing sheet gives it ("" when
    it decides none) and its QuickBooks account and home-currency amount (debit positive, rounded
    per line as QuickBooks rounds its reports). Held entries included: the tie-out explains them."""
    rid, number = str(record.get("Id")), str(record.get("DocNumber") or "")
    currency = _ref(record.get("CurrencyRef")) or ctx.home_currency
    rate = _number(record.get("ExchangeRate") or 1) if currency != ctx.home_currency else Decimal(1)
    header_department = _ref(record.get("DepartmentRef"))
    out = []
    for line in record.get("Line") or []:
        detail = line.get("JournalEntryLineDetail")
        amount = _number(line.get("Amount") or 0)
        if not isinstance(detail, Mapping) or not amount or not rate:
            continue  # nothing posts, or a value mapping holds the entry for (QuickBooks posts no such line)
        klass = ctx.classes.get(_ref(detail.get("ClassRef")) or "")
        department = ctx.departments.get(_ref(detail.get("DepartmentRef")) or header_department or "")
        route = ctx.mappings.route(klass, department)
        sign = 1 if detail.get("PostingType") == "Debit" else -1
        out.append({"entry_id": rid, "number": number, "entity": route.entity if route else "",
                    "qbo_account": account_name(ctx, detail.get("AccountRef")),
                    "amount": sign * cents(amount * rate)})  # fmt: skip
    return out


def _number(value: Any) -> Decimal:
    """A finite Decimal, or zero for a value that is not a number (mapping holds such entries)."""
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        return ZERO
    return number if number.is_finite() else ZERO


def journal_tie_out(
    *,
    qbo_tb: Any,
    qbo_postings: Any,
    intacct_tb: Any,
    flow_batches: Any,
    routed: Any,
    held: Mapping[str, str],
    ctx: JournalContext,
    entities: Sequence[str],
    default_entity: str,
    pending: Iterable[str] = (),
) -> Any:
    """One period's tie-out (:func:`qbo_intacct.flows.trial_balance.compare_trial_balances`) in the
    entities this flow posted into: QuickBooks' TrialBalance report, split by entity with the routed
    journal-entry lines (the rest stays with ``default_entity``), against Intacct's trial balance.

    Like with like: both trial balances hold more than this flow posts, so the comparison names what
    it is not responsible for, each read from the systems' own reports, and flags only the rest:

    - QuickBooks postings of other transaction types (``qbo_postings``, the GeneralLedger report:
      invoices, payments, bills, ...): other flows sync them, or nobody does yet;
    - Intacct postings that are not this flow's batches (``intacct_tb`` minus ``flow_batches``):
      Intacct's own AR/AP documents and journals keyed there;
    - entries held for review (``held``: entry id -> why), in QuickBooks and not in Intacct;
    - summarized entries waiting for their period to end (``pending``: entry ids; a Day period
      leaves the rest of the month waiting);
    - lines on a control account posted to the workbook's clearing account instead.

    So a ``differs`` row is a real difference between QuickBooks journal entries and this flow's
    batches: an entry not posted, a batch changed or posted by hand under the flow's reference, a
    mapping changed since the entry posted. Frames as in :mod:`qbo_intacct.flows.trial_balance`;
    ``routed``: :func:`routed_lines` rows of every entry dated in the period."""
    import pandas as pd

    from qbo_intacct.flows.trial_balance import (
        EXPLAINED_COLUMNS,
        allocate_to_entities,
        as_account_map,
        compare_trial_balances,
        frame,
        mapped_account,
    )

    scope = set(entities)
    amap = as_account_map(ctx.mappings)
    known = routed[routed["entity"] != ""] if len(routed) else routed
    qbo = allocate_to_entities(qbo_tb, known[["entity", "qbo_account", "amount"]], default_entity)
    qbo = qbo[qbo["entity"].isin(scope)]
    intacct = intacct_tb[intacct_tb["entity"].isin(scope)]
    explained: list[dict[str, Any]] = []
    if default_entity in scope:
        for row in qbo_postings.itertuples(index=False):
            if row.txn_type != JOURNAL_TXN_TYPE and row.amount:
                explained.append({"entity": default_entity,
                                  "account": mapped_account(amap, row.qbo_account, default_entity),
                                  "amount": -row.amount,
                                  "reason": f"QuickBooks {row.txn_type} postings (not journal entries)"})  # fmt: skip
    other: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in intacct.itertuples(index=False):
        other[(row.entity, row.account)] += row.amount
    for row in flow_batches.itertuples(index=False):
        other[(row.entity, row.account)] -= row.amount
    for (entity, account), amount in sorted(other.items()):
        if amount and entity in scope:
            explained.append({"entity": entity, "account": account, "amount": amount,
                              "reason": "Intacct postings other than this flow's batches"})  # fmt: skip
    waiting = set(pending)
    for row in known.itertuples(index=False) if len(known) else ():
        if row.entity not in scope:
            continue
        account = mapped_account(amap, row.qbo_account, row.entity)
        if row.entry_id in waiting and row.entry_id not in held:
            explained.append({"entity": row.entity, "account": account, "amount": -row.amount,
                              "reason": f"journal entry {row.number or row.entry_id} waits for its summary "
                                        "period to end"})  # fmt: skip
        elif row.entry_id in held:
            explained.append({"entity": row.entity, "account": account, "amount": -row.amount,
                              "reason": f"held for review: journal entry {row.number or row.entry_id} "
                                        f"({held[row.entry_id]})"})  # fmt: skip
        elif account in ctx.closed_accounts:
            clearing = ctx.mappings.clearing_account(account, row.entity)
            if clearing:
                reason = f"posted to clearing account {clearing} instead of control account {account}"
                explained += [{"entity": row.entity, "account": account, "amount": -row.amount, "reason": reason},
                              {"entity": row.entity, "account": clearing, "amount": row.amount,
                               "reason": reason}]  # fmt: skip
    result = compare_trial_balances(qbo, intacct, amap, explained=frame(explained, EXPLAINED_COLUMNS))
    return pd.DataFrame(result)
