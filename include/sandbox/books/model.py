"""The system-neutral model of the demo group: what the books say, before either API's shape.

The group is a parent on Sage Intacct (a multi-entity company with US/USD, UK/GBP and CA/CAD
entities) and a US subsidiary on QuickBooks Online (USD home currency, multicurrency on). Every
record here belongs to exactly one system (``system`` is ``"qbo"`` or ``"intacct"``): the model is
the group's books as each team keyed them, not a merged view. The adapters in ``qbo_adapter`` and
``intacct_adapter`` turn these records into each sandbox's state; the manifest is computed from
this model, so it is ground truth that does not depend on either sandbox's arithmetic.

Money is ``Decimal`` quantized to cents everywhere; a document's total is derived here by the same
rules the systems use (lines, then discount, then tax on the pre-discount taxable amount, which is
QuickBooks US ``ApplyTaxAfterDiscount=false``), so a finance reader can re-add any figure by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal | int | str) -> Decimal:
    """Quantize to the cent, half up, as both systems round a computed amount."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------------------------
# Organisation and dimensions


@dataclass(frozen=True, slots=True)
class Location:
    """An Intacct location inside one entity (the entity itself is also a location)."""

    location_id: str
    name: str
    entity_id: str


@dataclass(frozen=True, slots=True)
class Department:
    """An Intacct department owned by one entity (departments are entity-scoped in this group)."""

    department_id: str
    name: str
    entity_id: str


@dataclass(frozen=True, slots=True)
class Entity:
    """An Intacct entity (LOCATIONENTITY): its base currency is what its books are kept in."""

    entity_id: str
    name: str
    currency: str
    country: str
    locations: tuple[Location, ...]
    departments: tuple[Department, ...]


@dataclass(frozen=True, slots=True)
class IntacctClass:
    """An Intacct class (product line), shared by all entities."""

    class_id: str
    name: str


@dataclass(frozen=True, slots=True)
class QboDepartment:
    """A QuickBooks Department, shown as "Location" in the UI; it decides the Intacct entity."""

    key: str
    name: str
    entity_id: str
    location_id: str


@dataclass(frozen=True, slots=True)
class QboClass:
    """A QuickBooks Class; it decides the Intacct department (per entity) and class.

    ``department_by_entity`` maps an Intacct entity id to the department id this class books to
    in that entity, because each entity has its own departments.
    """

    key: str
    name: str
    parent_key: str | None
    intacct_class_id: str | None
    department_by_entity: tuple[tuple[str, str], ...]

    def department_for(self, entity_id: str) -> str | None:
        return dict(self.department_by_entity).get(entity_id)


# --------------------------------------------------------------------------------------------
# Charts of accounts and lists


@dataclass(frozen=True, slots=True)
class GlAccount:
    """An Intacct GL account, keyed by its 5-digit number."""

    number: str
    title: str
    account_type: str  # "balancesheet" | "incomestatement"
    normal_balance: str  # "debit" | "credit"
    category: str


@dataclass(frozen=True, slots=True)
class QboAccount:
    """A QuickBooks account, keyed by name (``parent_key`` makes it a sub-account).

    ``intacct_account`` is the Intacct GL number it folds into, or ``None`` when finance has not
    mapped it yet: documents on such an account cannot post to Intacct and must be held.
    """

    key: str
    name: str
    parent_key: str | None
    acct_num: str | None
    account_type: str
    account_sub_type: str
    classification: str
    intacct_account: str | None
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class Term:
    key: str
    qbo_name: str
    intacct_name: str
    due_days: int
    discount_percent: Decimal = ZERO
    discount_days: int = 0


@dataclass(frozen=True, slots=True)
class TaxRate:
    key: str
    name: str
    rate_percent: Decimal
    agency: str


@dataclass(frozen=True, slots=True)
class TaxCode:
    """A QuickBooks sales tax code (one rate); tax collected posts to Intacct 22000 Sales Tax Payable."""

    key: str
    name: str
    rate_key: str


@dataclass(frozen=True, slots=True)
class Item:
    """A QuickBooks product/service; its income account decides the Intacct revenue account."""

    key: str
    name: str
    item_type: str  # "Service" | "NonInventory"
    income_account_key: str
    unit_price: Decimal
    taxable: bool


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    key: str
    qbo_name: str
    qbo_type: str  # "NON_CREDIT_CARD" | "CREDIT_CARD"
    intacct_name: str  # Intacct PAYMENTMETHOD value


@dataclass(frozen=True, slots=True)
class BankAccount:
    """A cash account as both systems see it: a QuickBooks account and an Intacct financial entity.

    ``qbo_account_key`` is ``None`` for Intacct-only banks (the UK and CA entities' accounts);
    ``intacct_financial_entity`` is ``None`` for undeposited funds, which in Intacct is a GL account
    rather than a checking account.
    """

    key: str
    name: str
    qbo_account_key: str | None
    intacct_financial_entity: str | None
    intacct_gl: str
    entity_id: str
    currency: str
    is_undeposited: bool = False


# --------------------------------------------------------------------------------------------
# Parties


@dataclass(slots=True)
class Party:
    """A customer or vendor as one system holds it.

    ``entity_id`` is the owning Intacct entity (``None`` for top-level records and for QuickBooks).
    ``tags`` mark planted trouble and matching facts (e.g. ``"match"``, ``"ambiguous"``,
    ``"duplicate"``) so tests and the mapping workbook can find them.
    """

    key: str
    system: str
    kind: str  # "customer" | "vendor"
    party_id: str  # Intacct CUSTOMERID/VENDORID; QuickBooks: the model key (Id is assigned on insert)
    display_name: str
    company_name: str
    email: str
    tax_id: str | None
    currency: str
    term_key: str
    entity_id: str | None
    city: str
    region: str
    country: str
    vendor_1099: bool = False
    tags: tuple[str, ...] = ()
    created: date | None = None
    bank_routing: str | None = None  # vendors: ACH routing number / QuickBooks BankBranchIdentifier
    bank_account: str | None = None  # vendors: the account payments go to (demo numbers, never real)


# --------------------------------------------------------------------------------------------
# Documents


@dataclass(slots=True)
class Dimensions:
    """Where a line books. QuickBooks uses ``qbo_class_key``/``qbo_department_key``; Intacct the ids."""

    qbo_class_key: str | None = None
    qbo_department_key: str | None = None
    entity_id: str | None = None
    location_id: str | None = None
    department_id: str | None = None
    class_id: str | None = None


@dataclass(slots=True)
class SalesLine:
    """An invoice or credit memo line. QuickBooks lines sell an item; Intacct lines hit a GL account."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    item_key: str | None
    gl_account: str | None
    taxable: bool
    dims: Dimensions


@dataclass(slots=True)
class SalesDoc:
    """An invoice (``kind="invoice"``) or credit memo (``kind="credit_memo"``).

    ``subtotal``, ``discount``, ``tax`` and ``total`` are derived once by :func:`finish_sales_doc`;
    ``applied`` is what payments (or, for a credit memo, the payments that used it) took, so
    ``balance = total - applied``.
    """

    key: str
    system: str
    kind: str
    doc_number: str
    party_key: str
    txn_date: date
    due_date: date
    currency: str
    exchange_rate: Decimal
    term_key: str
    lines: list[SalesLine]
    dims: Dimensions
    discount_percent: Decimal = ZERO
    tax_code_key: str | None = None
    memo: str = ""
    state: str = "Posted"
    created: date | None = None
    modified: date | None = None
    tags: tuple[str, ...] = ()
    subtotal: Decimal = ZERO
    taxable_amount: Decimal = ZERO
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO
    applied: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        return self.total - self.applied


@dataclass(slots=True)
class Application:
    """A payment's allocation to one document (invoice, credit memo or bill)."""

    doc_key: str
    amount: Decimal


@dataclass(slots=True)
class Receipt:
    """A customer payment. ``unapplied`` is overpayment left as credit on the customer."""

    key: str
    system: str
    party_key: str
    txn_date: date
    currency: str
    exchange_rate: Decimal
    method_key: str
    bank_key: str
    reference: str
    total: Decimal
    applications: list[Application]
    entity_id: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def unapplied(self) -> Decimal:
        """Money received but not applied: only invoice applications consume cash; credit memo
        applications offset invoice applications (they carry negative amounts)."""
        return self.total - sum((a.amount for a in self.applications), ZERO)


@dataclass(slots=True)
class PurchaseLine:
    description: str
    amount: Decimal
    account_key: str  # QuickBooks account key or Intacct GL number
    dims: Dimensions


@dataclass(slots=True)
class PurchaseDoc:
    """A vendor bill. ``state`` is Intacct's approval state (Draft, Submitted, Approved, Posted)."""

    key: str
    system: str
    doc_number: str
    party_key: str
    txn_date: date
    due_date: date
    currency: str
    exchange_rate: Decimal
    term_key: str
    lines: list[PurchaseLine]
    dims: Dimensions
    memo: str = ""
    state: str = "Posted"
    created: date | None = None
    modified: date | None = None
    tags: tuple[str, ...] = ()
    total: Decimal = ZERO
    applied: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        return self.total - self.applied


@dataclass(slots=True)
class Disbursement:
    """A bill payment (QuickBooks BillPayment, Intacct APPYMT)."""

    key: str
    system: str
    party_key: str
    txn_date: date
    currency: str
    exchange_rate: Decimal
    method_key: str
    bank_key: str
    reference: str
    total: Decimal
    applications: list[Application]
    entity_id: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class JournalLine:
    account_key: str  # QuickBooks account key or Intacct GL number
    debit: bool
    amount: Decimal
    memo: str
    dims: Dimensions
    party_key: str | None = None  # QuickBooks: the customer / vendor an A/R or A/P line names


@dataclass(slots=True)
class Journal:
    """A journal entry (QuickBooks JournalEntry, Intacct GLBATCH).

    ``state`` is ``"Posted"`` or ``"Draft"``; an unbalanced planted journal is always a Draft,
    because neither system would accept it posted. ``reverse_date`` marks an accrual.
    """

    key: str
    system: str
    txn_date: date
    title: str
    reference: str
    journal: str
    lines: list[JournalLine]
    entity_id: str | None
    currency: str
    exchange_rate: Decimal
    state: str = "Posted"
    reverse_date: date | None = None
    created: date | None = None
    tags: tuple[str, ...] = ()

    @property
    def debits(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.debit), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if not ln.debit), ZERO)


@dataclass(frozen=True, slots=True)
class PlantedCase:
    """A record planted to make a sync meet trouble; ``tag`` is how tests find it."""

    tag: str
    system: str
    object_name: str
    model_key: str
    description: str
    where: str


@dataclass(frozen=True, slots=True)
class Periods:
    """The calendar the books live in, all derived from ``as_of`` (never today's date).

    ``window_start`` is the first day of the 13-month window. ``closed_through`` is the last day
    of the first month: both companies have closed it, so only Intacct's own history and one
    planted, back-dated QuickBooks invoice sit in it.
    """

    as_of: date
    window_start: date
    closed_through: date
    open_start: date


@dataclass
class Group:
    """Everything the generator produced, for both systems, before adapters shape it."""

    seed: int
    scale_name: str
    periods: Periods
    entities: tuple[Entity, ...]
    intacct_classes: tuple[IntacctClass, ...]
    qbo_departments: tuple[QboDepartment, ...]
    qbo_classes: tuple[QboClass, ...]
    gl_accounts: tuple[GlAccount, ...]
    qbo_accounts: tuple[QboAccount, ...]
    terms: tuple[Term, ...]
    tax_rates: tuple[TaxRate, ...]
    tax_codes: tuple[TaxCode, ...]
    items: tuple[Item, ...]
    payment_methods: tuple[PaymentMethod, ...]
    banks: tuple[BankAccount, ...]
    qbo_currencies: tuple[str, ...]
    intacct_currencies: tuple[str, ...]
    rates: dict[tuple[str, str, str], Decimal]  # (from, to, "YYYY-MM") -> rate
    parties: list[Party] = field(default_factory=list)
    sales_docs: list[SalesDoc] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    purchase_docs: list[PurchaseDoc] = field(default_factory=list)
    disbursements: list[Disbursement] = field(default_factory=list)
    journals: list[Journal] = field(default_factory=list)
    planted: list[PlantedCase] = field(default_factory=list)
    party_pairs: list[dict[str, object]] = field(default_factory=list)
    _party_by_key: dict[str, Party] = field(default_factory=dict, repr=False)

    def party(self, key: str) -> Party:
        if len(self._party_by_key) != len(self.parties):
            self._party_by_key = {p.key: p for p in self.parties}
        return self._party_by_key[key]


def finish_sales_doc(doc: SalesDoc, tax_rate_percent: Decimal | None) -> None:
    """Derive subtotal, discount, tax and total the way QuickBooks US does.

    Tax is on the taxable lines before the discount (``ApplyTaxAfterDiscount=false``); the
    discount is a percentage of the whole subtotal. Each step rounds half up to the cent.
    """
    doc.subtotal = sum((ln.amount for ln in doc.lines), ZERO)
    doc.taxable_amount = sum((ln.amount for ln in doc.lines if ln.taxable), ZERO)
    doc.discount = cents(doc.subtotal * doc.discount_percent / 100) if doc.discount_percent else ZERO
    doc.tax = cents(doc.taxable_amount * tax_rate_percent / 100) if tax_rate_percent else ZERO
    doc.total = doc.subtotal - doc.discount + doc.tax
