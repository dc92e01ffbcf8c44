"""Draw the group's parties and 13 months of documents from a seed: the neutral books.

Determinism: every random choice comes from ``random.Random`` seeded with ``f"{seed}:{section}"``
(string seeds are hashed with SHA-512 by the standard library, so they are stable across runs and
machines). One stream per section means that changing, say, how many journals a scale has does not
shift every invoice after it. Dates come from :class:`~include.sandbox.books.model.Periods`, which is
derived from ``as_of``, never from today's date.

Scale: ``N`` is the number of QuickBooks invoices (the volume the sync moves); every other count
is a fixed proportion of it (see :func:`parse_scale`), with floors so ``tiny`` still has at least
one of everything.

What a finance reader should know about the history this draws:
- QuickBooks documents are dated from ``open_start`` (the day after the closed month) to ``as_of``;
  only the planted back-dated invoice sits in the closed month. Intacct's own documents cover all
  13 months, including the closed one (they were posted before the close).
- Invoice fates: about 55% paid in full, 10% partly paid, 3% overpaid (the excess stays as
  unapplied credit on the customer), the rest open; payments never fall after ``as_of``.
- Credit memos are applied through a payment to an open invoice of the same customer and currency
  when one is large enough; otherwise they stay as open credit.
- Intacct bills are Draft (about 8%), Submitted (10%) or Approved (the rest); only approved bills
  are paid.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from include.sandbox.books import reference as ref
from include.sandbox.books.model import (
    ZERO,
    Application,
    Dimensions,
    Disbursement,
    Group,
    Journal,
    JournalLine,
    Party,
    Periods,
    PurchaseDoc,
    PurchaseLine,
    Receipt,
    SalesDoc,
    SalesLine,
    cents,
    finish_sales_doc,
)

DEFAULT_AS_OF = date(2026, 10, 31)
NAMED_SCALES = {"tiny": 12, "demo": 240}


@dataclass(frozen=True, slots=True)
class Scale:
    """How many of each thing to draw. ``qbo_invoices`` is the scale's number."""

    name: str
    qbo_invoices: int
    qbo_customers: int
    qbo_vendors: int
    qbo_credit_memos: int
    qbo_bills: int
    qbo_journals: int
    intacct_customers: int
    intacct_vendors: int
    intacct_invoices: int
    intacct_bills: int
    intacct_journals: int
    matched_customers: int
    matched_vendors: int
    ambiguous_vendors: int
    duplicates: int


class ScaleError(ValueError):
    """The ``--scale`` value is neither a named scale nor a positive number of invoices."""


def parse_scale(scale: str | int) -> Scale:
    """``tiny`` (12 invoices), ``demo`` (240) or a number of QuickBooks invoices."""
    text = str(scale).strip().lower()
    if text in NAMED_SCALES:
        n = NAMED_SCALES[text]
    elif text.isdigit() and int(text) > 0:
        n = int(text)
    else:
        raise ScaleError(f"scale {scale!r}: use tiny, demo, or a positive number of invoices (e.g. 10000)")
    return Scale(
        name=text,
        qbo_invoices=n,
        qbo_customers=max(6, n // 8),
        qbo_vendors=max(5, n // 12),
        qbo_credit_memos=max(2, n // 15),
        qbo_bills=max(6, n // 2),
        qbo_journals=max(3, n // 50),
        intacct_customers=max(5, n // 12),
        intacct_vendors=max(5, n // 12),
        intacct_invoices=max(6, n // 5),
        intacct_bills=max(8, n // 4),
        intacct_journals=max(6, n // 40),
        matched_customers=max(2, min(n // 40, 500)),
        matched_vendors=max(2, min(n // 40, 500)),
        ambiguous_vendors=max(1, min(3, n // 80)),
        duplicates=max(1, min(3, n // 80)),
    )


def periods_for(as_of: date) -> Periods:
    """The 13-month window ending ``as_of``; its first month is closed in both companies."""
    year, month = as_of.year, as_of.month - 12
    while month <= 0:
        month += 12
        year -= 1
    window_start = date(year, month, 1)
    open_start = _add_months(window_start, 1)
    return Periods(
        as_of=as_of, window_start=window_start, closed_through=open_start - timedelta(days=1), open_start=open_start
    )


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    return date(day.year + y, m + 1, 1)


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _rng(seed: int, section: str) -> random.Random:
    return random.Random(f"{seed}:{section}")


# --------------------------------------------------------------------------------------------
# Names

_FIRST = [
    "Acme",
    "Alder",
    "Apex",
    "Arbor",
    "Aspen",
    "Atlas",
    "Beacon",
    "Birch",
    "Blue",
    "Bold",
    "Bright",
    "Cedar",
    "Clear",
    "Cobalt",
    "Coral",
    "Crest",
    "Delta",
    "Drift",
    "Eagle",
    "Ember",
    "Evergreen",
    "Falcon",
    "Fern",
    "Fir",
    "Forge",
    "Granite",
    "Harbor",
    "Hawk",
    "Hazel",
    "Horizon",
    "Iron",
    "Ivy",
    "Juniper",
    "Keystone",
    "Lake",
    "Lantern",
    "Linden",
    "Maple",
    "Meadow",
    "Mesa",
    "Nimbus",
    "North",
    "Oak",
    "Onyx",
    "Orchid",
    "Pacific",
    "Peak",
    "Pine",
    "Pioneer",
    "Prairie",
    "Quartz",
    "Raven",
    "Redwood",
    "Ridge",
    "River",
    "Sage",
    "Sierra",
    "Silver",
    "Slate",
    "Spruce",
    "Stone",
    "Summit",
    "Sun",
    "Tidal",
    "Timber",
    "Trail",
    "Vista",
    "Willow",
    "Zephyr",
]
_SECOND = [
    "Analytics",
    "Bakery",
    "Builders",
    "Capital",
    "Cloud",
    "Consulting",
    "Dental",
    "Design",
    "Devices",
    "Dynamics",
    "Energy",
    "Engineering",
    "Farms",
    "Foods",
    "Freight",
    "Health",
    "Holdings",
    "Imaging",
    "Industries",
    "Insights",
    "Labs",
    "Logistics",
    "Machines",
    "Media",
    "Medical",
    "Metals",
    "Motors",
    "Networks",
    "Optics",
    "Outfitters",
    "Partners",
    "Pharma",
    "Printing",
    "Robotics",
    "Security",
    "Software",
    "Solutions",
    "Studios",
    "Supply",
    "Systems",
    "Textiles",
    "Therapeutics",
    "Tools",
    "Travel",
    "Ventures",
    "Works",
]
_SUFFIX = ("LLC", "Inc", "Ltd", "Co", "Corp", "Group", "GmbH", "PLC")
_CITIES = (
    ("Boston", "MA", "US"),
    ("Austin", "TX", "US"),
    ("Denver", "CO", "US"),
    ("Seattle", "WA", "US"),
    ("Chicago", "IL", "US"),
    ("New York", "NY", "US"),
    ("London", "", "GB"),
    ("Manchester", "", "GB"),
    ("Toronto", "ON", "CA"),
    ("Vancouver", "BC", "CA"),
    ("Berlin", "", "DE"),
    ("Dublin", "", "IE"),
)
_COVER_QBO = ("USD", "EUR", "GBP", "CAD")
_COVER_INTACCT: tuple[tuple[str | None, str], ...] = ((None, "USD"), ("UK", "GBP"), ("CA", "CAD"), ("UK", "EUR"))
_CITY_BY_CURRENCY = {"USD": range(0, 6), "GBP": range(6, 8), "CAD": range(8, 10), "EUR": range(10, 12)}


class _Names:
    """Unique company names, emails and tax ids across both systems (collisions get a city)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.slugs: set[str] = set()
        self.tax_ids: set[str] = set()
        self.stems: set[str] = set()  # every stem drawn so far
        self.reserved: set[str] = set()  # stems named by hand (ambiguous, duplicates): never drawn again

    def company(self) -> tuple[str, str]:
        rng = self.rng
        stem = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
        while stem in self.reserved:
            stem = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
        self.stems.add(stem)
        name = f"{stem} {rng.choice(_SUFFIX)}"
        n = 1
        while name in self.names:
            n += 1
            name = f"{stem} {n} {rng.choice(_SUFFIX)}"
        self.names.add(name)
        slug = "".join(ch for ch in stem.lower() if ch.isalnum())
        base, k = slug, 1
        while slug in self.slugs:
            k += 1
            slug = f"{base}{k}"
        self.slugs.add(slug)
        return name, slug

    def unique_stem(self) -> tuple[str, str]:
        """A stem no other company uses, for parties whose names are variations on it.

        Two unique full names can share a stem ("Atlas Dynamics LLC", "Atlas Dynamics Inc"), and
        QuickBooks refuses a second customer or vendor with the same DisplayName.
        """
        n = 0
        while True:
            stem = f"{self.rng.choice(_FIRST)} {self.rng.choice(_SECOND)}"
            if n > 50:  # the word lists are nearly used up at huge scales: number the stem
                stem = f"{stem} {n}"
            n += 1
            if stem not in self.stems and stem not in self.reserved:
                break
        self.reserved.add(stem)
        slug = "".join(ch for ch in stem.lower() if ch.isalnum())
        base, k = slug, 1
        while slug in self.slugs:
            k += 1
            slug = f"{base}{k}"
        self.slugs.add(slug)
        return stem, slug

    def tax_id(self, country: str) -> str:
        while True:
            if country == "GB":
                value = f"GB{self.rng.randrange(100_000_000, 999_999_999)}"
            elif country == "CA":
                value = f"{self.rng.randrange(100_000_000, 999_999_999)}RT0001"
            elif country in ("DE", "IE"):
                value = f"{country}{self.rng.randrange(100_000_000, 999_999_999)}"
            else:
                value = f"{self.rng.randrange(10, 99)}-{self.rng.randrange(1_000_000, 9_999_999)}"
            if value not in self.tax_ids:
                self.tax_ids.add(value)
                return value


def _name_variant(name: str, k: int) -> str:
    """How the other team keyed the same company: punctuation, case, suffix spelled differently."""
    stem, _, suffix = name.rpartition(" ")
    variants = (
        f"{stem}, {suffix}.",
        f"{stem} {suffix}".upper(),
        stem,
        f"The {stem} {suffix}",
        f"{stem} {'Incorporated' if suffix == 'Inc' else 'Limited' if suffix == 'Ltd' else suffix + '.'}",
    )
    return variants[k % len(variants)]


# --------------------------------------------------------------------------------------------
# Builder


class GroupBuilder:
    """Builds a :class:`Group` section by section; each section has its own random stream."""

    def __init__(self, seed: int, scale: Scale, as_of: date) -> None:
        self.seed = seed
        self.scale = scale
        self.periods = periods_for(as_of)
        self.names = _Names(_rng(seed, "names"))
        self.group = Group(
            seed=seed,
            scale_name=scale.name,
            periods=self.periods,
            entities=ref.ENTITIES,
            intacct_classes=ref.INTACCT_CLASSES,
            qbo_departments=ref.QBO_DEPARTMENTS,
            qbo_classes=ref.QBO_CLASSES,
            gl_accounts=ref.GL_ACCOUNTS,
            qbo_accounts=ref.QBO_ACCOUNTS,
            terms=ref.TERMS,
            tax_rates=ref.TAX_RATES,
            tax_codes=ref.TAX_CODES,
            items=ref.ITEMS,
            payment_methods=ref.PAYMENT_METHODS,
            banks=ref.BANKS,
            qbo_currencies=(ref.QBO_HOME_CURRENCY, *ref.QBO_FOREIGN_CURRENCIES),
            intacct_currencies=ref.INTACCT_CURRENCIES,
            rates={},
        )
        self._terms = {t.key: t for t in ref.TERMS}
        self._items = {i.key: i for i in ref.ITEMS}
        self._tax_rate_by_code = {
            c.key: next(r.rate_percent for r in ref.TAX_RATES if r.key == c.rate_key) for c in ref.TAX_CODES
        }
        self._entities = {e.entity_id: e for e in ref.ENTITIES}
        self._seq: dict[str, int] = {}

    # -- helpers ---------------------------------------------------------------------------

    def next_key(self, prefix: str) -> str:
        n = self._seq.get(prefix, 0) + 1
        self._seq[prefix] = n
        return f"{prefix}:{n:07d}"

    def rate(self, from_ccy: str, to_ccy: str, day: date) -> Decimal:
        """Units of ``to_ccy`` per one unit of ``from_ccy`` for the month of ``day``."""
        if from_ccy == to_ccy:
            return Decimal("1")
        return self.group.rates[(from_ccy, to_ccy, month_key(day))]

    def _draw_rates(self) -> None:
        rng = _rng(self.seed, "rates")
        months: list[str] = []
        day = self.periods.window_start
        while day <= self.periods.as_of:
            months.append(month_key(day))
            day = _add_months(day, 1)
        usd_per: dict[tuple[str, str], Decimal] = {}
        for ccy, start in sorted(ref.USD_PER_UNIT.items()):
            level = start
            for m in months:
                if ccy != "USD":
                    level = (level * (Decimal(1) + Decimal(rng.randint(-150, 150)) / Decimal(10_000))).quantize(
                        Decimal("0.0001")
                    )
                usd_per[(ccy, m)] = level
        currencies = sorted(ref.USD_PER_UNIT)
        for m in months:
            for a in currencies:
                for b in currencies:
                    if a != b:
                        self.group.rates[(a, b, m)] = (usd_per[(a, m)] / usd_per[(b, m)]).quantize(Decimal("0.000001"))

    def _date_between(self, rng: random.Random, start: date, end: date) -> date:
        return start + timedelta(days=rng.randrange((end - start).days + 1))

    # -- parties ---------------------------------------------------------------------------

    def _party(
        self,
        rng: random.Random,
        *,
        system: str,
        kind: str,
        currency: str,
        entity_id: str | None,
        name: str | None = None,
        slug: str | None = None,
        email: str | None = None,
        tax_id: str | None = None,
        tags: tuple[str, ...] = (),
    ) -> Party:
        if name is None or slug is None:
            name, slug = self.names.company()
        city, region, country = _CITIES[rng.choice(_CITY_BY_CURRENCY.get(currency, range(0, 6)))]
        if email is None:
            email = f"{'billing' if kind == 'customer' else 'ap'}@{slug}.example"
        if tax_id is None and rng.random() < 0.7:
            tax_id = self.names.tax_id(country)
        prefix = f"{system}:{kind}"
        key = self.next_key(prefix)
        seq = self._seq[prefix]
        party_id = f"{'C' if kind == 'customer' else 'V'}-{10000 + seq}" if system == "intacct" else key
        term_key = rng.choice(("term:n30", "term:n30", "term:n15", "term:n60", "term:due", "term:2-10-n30"))
        party = Party(
            key=key,
            system=system,
            kind=kind,
            party_id=party_id,
            display_name=name,
            company_name=name,
            email=email,
            tax_id=tax_id,
            currency=currency,
            term_key=term_key,
            entity_id=entity_id,
            city=city,
            region=region,
            country=country,
            vendor_1099=kind == "vendor" and country == "US" and rng.random() < 0.3,
            tags=tags,
            created=self.periods.window_start,
        )
        self.group.parties.append(party)
        return party

    def _qbo_currency(self, rng: random.Random) -> str:
        r = rng.random()
        return "USD" if r < 0.80 else "EUR" if r < 0.87 else "GBP" if r < 0.94 else "CAD"

    def _intacct_home(self, rng: random.Random) -> tuple[str | None, str]:
        """(owning entity, currency): US customers are top level; UK and CA ones are entity-owned."""
        r = rng.random()
        if r < 0.6:
            return None, ("USD" if rng.random() < 0.9 else "EUR")
        if r < 0.8:
            return "UK", ("GBP" if rng.random() < 0.75 else "EUR")
        return "CA", ("CAD" if rng.random() < 0.8 else "USD")

    def build_parties(self) -> None:
        rng = _rng(self.seed, "parties")
        s = self.scale
        pairs = self.group.party_pairs
        for kind, n_qbo, n_ia, n_matched in (
            ("customer", s.qbo_customers, s.intacct_customers, s.matched_customers),
            ("vendor", s.qbo_vendors, s.intacct_vendors, s.matched_vendors),
        ):
            # The first parties cover every currency and entity, so even ``tiny`` has foreign documents.
            currencies = [*_COVER_QBO, *(self._qbo_currency(rng) for _ in range(n_qbo - len(_COVER_QBO)))]
            qbo = [self._party(rng, system="qbo", kind=kind, currency=ccy, entity_id=None) for ccy in currencies]
            ia = []
            for k in range(n_ia):
                entity_id, ccy = _COVER_INTACCT[k] if k < len(_COVER_INTACCT) else self._intacct_home(rng)
                ia.append(self._party(rng, system="intacct", kind=kind, currency=ccy, entity_id=entity_id))
            # Keyed by both teams: same email or same tax id, name spelled differently.
            for k, q in enumerate(qbo[: min(n_matched, len(qbo))]):
                by_tax = q.tax_id is not None and k % 2 == 1
                twin = self._party(
                    rng,
                    system="intacct",
                    kind=kind,
                    currency=q.currency if q.currency in ref.INTACCT_CURRENCIES else "USD",
                    entity_id=None,
                    name=_name_variant(q.display_name, k),
                    slug=f"twin{k}",
                    email=(f"accounts@{q.email.split('@')[1]}" if by_tax else q.email),
                    tax_id=q.tax_id if by_tax else None,
                    tags=("match",),
                )
                q.tags = (*q.tags, "match")
                pairs.append(
                    {
                        "kind": "match",
                        "object": kind,
                        "basis": "tax_id" if by_tax else "email",
                        "qbo": q.key,
                        "intacct": [twin.key],
                    }
                )
        self._ambiguous_and_duplicates(rng)

    def _ambiguous_and_duplicates(self, rng: random.Random) -> None:
        s = self.scale
        pairs = self.group.party_pairs
        for _ in range(s.ambiguous_vendors):
            stem, slug = self.names.unique_stem()
            tax_id = self.names.tax_id("US")
            q = self._party(
                rng,
                system="qbo",
                kind="vendor",
                currency="USD",
                entity_id=None,
                name=stem,
                slug=slug,
                tax_id=tax_id,
                tags=("ambiguous",),
            )
            a = self._party(
                rng,
                system="intacct",
                kind="vendor",
                currency="USD",
                entity_id=None,
                name=f"{stem} Inc",
                slug=slug,
                email=q.email,
                tax_id=None,
                tags=("ambiguous",),
            )
            b = self._party(
                rng,
                system="intacct",
                kind="vendor",
                currency="USD",
                entity_id=None,
                name=f"{stem} LLC",
                slug=f"{slug}-llc",
                email=f"remit@{slug}-llc.example",
                tax_id=tax_id,
                tags=("ambiguous",),
            )
            pairs.append(
                {
                    "kind": "ambiguous",
                    "object": "vendor",
                    "basis": "email|tax_id",
                    "qbo": q.key,
                    "intacct": [a.key, b.key],
                }
            )
        for _ in range(s.duplicates):
            stem, slug = self.names.unique_stem()
            first = self._party(
                rng,
                system="qbo",
                kind="customer",
                currency="USD",
                entity_id=None,
                name=f"{stem} Corporation",
                slug=slug,
                tags=("duplicate",),
            )
            second = self._party(
                rng,
                system="qbo",
                kind="customer",
                currency="USD",
                entity_id=None,
                name=f"{stem} Corp.",
                slug=slug,
                email=first.email,
                tax_id=first.tax_id,
                tags=("duplicate",),
            )
            pairs.append({"kind": "duplicate", "object": "customer", "system": "qbo", "keys": [first.key, second.key]})
            stem, slug = self.names.unique_stem()
            v1 = self._party(
                rng,
                system="intacct",
                kind="vendor",
                currency="USD",
                entity_id=None,
                name=f"{stem} Supplies",
                slug=slug,
                tags=("duplicate",),
            )
            v2 = self._party(
                rng,
                system="intacct",
                kind="vendor",
                currency="USD",
                entity_id=None,
                name=f"{stem} Supplies Inc.",
                slug=slug,
                email=v1.email,
                tax_id=v1.tax_id or self.names.tax_id("US"),
                tags=("duplicate",),
            )
            v1.tax_id = v2.tax_id
            pairs.append({"kind": "duplicate", "object": "vendor", "system": "intacct", "keys": [v1.key, v2.key]})

    # -- QuickBooks documents --------------------------------------------------------------

    def _qbo_department_for(self, party: Party, rng: random.Random) -> str:
        if party.currency == "GBP":
            return "dept:london"
        if party.currency == "CAD":
            return "dept:toronto"
        if party.currency == "EUR":
            return "dept:london" if rng.random() < 0.5 else "dept:boston"
        return "dept:boston" if rng.random() < 0.6 else "dept:austin"

    _ITEM_CLASS = {
        "item:subscription": "class:sales",
        "item:license": "class:sales",
        "item:implementation": "class:services:impl",
        "item:training": "class:services:impl",
        "item:consulting": "class:services:support",
        "item:hardware": "class:sales",
        "item:grant-admin": "class:admin",
    }

    def qbo_sales_line(self, rng: random.Random, item_key: str, price: Decimal | None = None) -> SalesLine:
        item = self._items[item_key]
        qty = Decimal(rng.randint(1, 40 if item_key == "item:consulting" else 6))
        unit_price = price if price is not None else item.unit_price
        if price is None and rng.random() < 0.2:
            unit_price = cents(unit_price * Decimal(rng.randint(85, 115)) / 100)
        return SalesLine(
            description=item.name,
            quantity=qty,
            unit_price=unit_price,
            amount=cents(qty * unit_price),
            item_key=item_key,
            gl_account=None,
            taxable=item.taxable,
            dims=Dimensions(qbo_class_key=self._ITEM_CLASS[item_key]),
        )

    def new_qbo_sales_doc(
        self,
        rng: random.Random,
        *,
        kind: str,
        party: Party,
        txn_date: date,
        lines: list[SalesLine],
        doc_number: str = "",
        discount_percent: Decimal = ZERO,
        tax_code_key: str | None = None,
        memo: str = "",
        created: date | None = None,
        tags: tuple[str, ...] = (),
        currency: str | None = None,
    ) -> SalesDoc:
        term = self._terms[party.term_key]
        ccy = currency or party.currency
        rate = self.rate(ccy, "USD", txn_date)
        doc = SalesDoc(
            key=self.next_key(f"qbo:{kind}"),
            system="qbo",
            kind=kind,
            doc_number=doc_number,
            party_key=party.key,
            txn_date=txn_date,
            due_date=txn_date + timedelta(days=term.due_days),
            currency=ccy,
            exchange_rate=rate,
            term_key=term.key,
            lines=lines,
            dims=Dimensions(qbo_department_key=self._qbo_department_for(party, rng)),
            discount_percent=discount_percent,
            tax_code_key=tax_code_key,
            memo=memo,
            created=created or txn_date,
            tags=tags,
        )
        finish_sales_doc(doc, self._tax_rate_by_code.get(tax_code_key) if tax_code_key else None)
        self.group.sales_docs.append(doc)
        return doc

    def build_qbo_sales(self) -> None:
        rng = _rng(self.seed, "qbo-sales")
        p = self.periods
        customers = [c for c in self.group.parties if c.system == "qbo" and c.kind == "customer"]
        for k in range(self.scale.qbo_invoices):
            customer = customers[k] if k < len(_COVER_QBO) else rng.choice(customers)
            txn_date = self._date_between(rng, p.open_start, p.as_of)
            lines = [
                self.qbo_sales_line(rng, rng.choice(ref.REGULAR_ITEMS))
                for _ in range(rng.choice((1, 2, 2, 3, 3, 4, 5)))
            ]
            tax_code = None
            if customer.currency == "USD" and customer.country == "US" and rng.random() < 0.7:
                tax_code = {"MA": "tax:ma", "TX": "tax:tx", "NY": "tax:ny"}.get(customer.region, "tax:ma")
            discount = Decimal(rng.choice((5, 10))) if rng.random() < 0.15 else ZERO
            self.new_qbo_sales_doc(
                rng,
                kind="invoice",
                party=customer,
                txn_date=txn_date,
                lines=lines,
                discount_percent=discount,
                tax_code_key=tax_code,
            )
        for _ in range(self.scale.qbo_credit_memos):
            customer = rng.choice(customers)
            txn_date = self._date_between(rng, p.open_start, p.as_of)
            line = self.qbo_sales_line(rng, rng.choice(("item:consulting", "item:training", "item:hardware")))
            line.description = f"Credit: {line.description}"
            self.new_qbo_sales_doc(rng, kind="credit_memo", party=customer, txn_date=txn_date, lines=[line])

    def build_qbo_receipts(self) -> None:
        """Apply credit memos first, then draw each remaining invoice's fate."""
        rng = _rng(self.seed, "qbo-receipts")
        as_of = self.periods.as_of
        docs = [d for d in self.group.sales_docs if d.system == "qbo"]
        invoices = [d for d in docs if d.kind == "invoice" and not d.tags]
        by_customer: dict[tuple[str, str], list[SalesDoc]] = {}
        for inv in invoices:
            by_customer.setdefault((inv.party_key, inv.currency), []).append(inv)
        paid_by_memo: set[str] = set()
        for memo in (d for d in docs if d.kind == "credit_memo"):
            candidates = [
                inv
                for inv in by_customer.get((memo.party_key, memo.currency), ())
                if inv.key not in paid_by_memo and inv.total > memo.total
            ]
            if not candidates:
                continue
            inv = candidates[0]
            paid_by_memo.add(inv.key)
            when = min(max(inv.txn_date, memo.txn_date) + timedelta(days=rng.randint(1, 20)), as_of)
            self._qbo_receipt(
                rng, inv.party_key, when, inv.currency, [(inv, inv.total), (memo, -memo.total)], inv.total - memo.total
            )
        for inv in invoices:
            if inv.key in paid_by_memo:
                continue
            term_days = self._terms[inv.term_key].due_days
            when = inv.txn_date + timedelta(days=rng.randint(3, term_days + 25))
            r = rng.random()
            if when > as_of or r >= 0.68:
                continue
            if r < 0.55:
                self._qbo_receipt(rng, inv.party_key, when, inv.currency, [(inv, inv.total)], inv.total)
            elif r < 0.65:
                part = cents(inv.total * Decimal(rng.randint(30, 70)) / 100)
                self._qbo_receipt(rng, inv.party_key, when, inv.currency, [(inv, part)], part, tags=("partial",))
            else:
                extra = cents(Decimal(rng.randint(500, 10_000)) / 100)
                self._qbo_receipt(
                    rng, inv.party_key, when, inv.currency, [(inv, inv.total)], inv.total + extra, tags=("overpayment",)
                )

    def _qbo_receipt(
        self,
        rng: random.Random,
        party_key: str,
        when: date,
        currency: str,
        applied: list[tuple[SalesDoc, Decimal]],
        cash: Decimal,
        tags: tuple[str, ...] = (),
    ) -> Receipt:
        method = rng.choice(("pm:ach", "pm:ach", "pm:check", "pm:card"))
        bank = "bank:undeposited" if method == "pm:check" or rng.random() < 0.3 else "bank:us-checking"
        key = self.next_key("qbo:payment")
        receipt = Receipt(
            key=key,
            system="qbo",
            party_key=party_key,
            txn_date=when,
            currency=currency,
            exchange_rate=self.rate(currency, "USD", when),
            method_key=method,
            bank_key=bank,
            reference=f"{rng.randrange(1000, 99999)}" if method == "pm:check" else "",
            total=cash,
            applications=[],
            tags=tags,
        )
        for doc, amount in applied:
            receipt.applications.append(Application(doc.key, amount))
            doc.applied += abs(amount)
            doc.modified = max(doc.modified or doc.txn_date, when)
        self.group.receipts.append(receipt)
        return receipt

    def build_qbo_purchases(self) -> None:
        rng = _rng(self.seed, "qbo-purchases")
        p = self.periods
        vendors = [
            v for v in self.group.parties if v.system == "qbo" and v.kind == "vendor" and "planted" not in v.tags
        ]
        classes = ("class:engineering", "class:sales", "class:services:support", "class:admin")
        for k in range(self.scale.qbo_bills):
            vendor = vendors[k] if k < len(_COVER_QBO) else rng.choice(vendors)
            self.new_qbo_bill(rng, vendor, self._date_between(rng, p.open_start, p.as_of), classes)
        pay_rng = _rng(self.seed, "qbo-billpayments")
        for bill in [d for d in self.group.purchase_docs if d.system == "qbo" and not d.tags]:
            when = bill.txn_date + timedelta(days=pay_rng.randint(5, self._terms[bill.term_key].due_days + 20))
            r = pay_rng.random()
            if when > p.as_of or r >= 0.7:
                continue
            amount = bill.total if r < 0.6 else cents(bill.total * Decimal(pay_rng.randint(25, 75)) / 100)
            self._disbursement(pay_rng, "qbo", bill, when, amount, tags=() if r < 0.6 else ("partial",))

    def new_qbo_bill(
        self, rng: random.Random, vendor: Party, txn_date: date, classes: tuple[str, ...], tags: tuple[str, ...] = ()
    ) -> PurchaseDoc:
        term = self._terms[vendor.term_key]
        lines = [
            PurchaseLine(
                description=f"{acct.rpartition(':')[2].replace('-', ' ').title()} {txn_date:%b %Y}",
                amount=cents(Decimal(rng.randint(2_500, 500_000)) / 100),
                account_key=acct,
                dims=Dimensions(qbo_class_key=rng.choice(classes)),
            )
            for acct in rng.sample(ref.QBO_EXPENSE_ACCOUNTS, rng.choice((1, 1, 2, 3, 4)))
        ]
        bill = PurchaseDoc(
            key=self.next_key("qbo:bill"),
            system="qbo",
            doc_number=self._vendor_bill_number(vendor),
            party_key=vendor.key,
            txn_date=txn_date,
            due_date=txn_date + timedelta(days=term.due_days),
            currency=vendor.currency,
            exchange_rate=self.rate(vendor.currency, "USD", txn_date),
            term_key=term.key,
            lines=lines,
            dims=Dimensions(qbo_department_key=self._qbo_department_for(vendor, rng)),
            created=txn_date,
            tags=tags,
        )
        bill.total = sum((ln.amount for ln in lines), ZERO)
        self.group.purchase_docs.append(bill)
        return bill

    def _vendor_bill_number(self, vendor: Party) -> str:
        """The vendor's invoice number as keyed: letters of its name plus a running number (unique,
        since the QuickBooks sandbox, like QuickBooks with duplicate warnings on, refuses repeats)."""
        letters = "".join(ch for ch in vendor.display_name.upper() if ch.isalpha())[:3] or "VND"
        return f"{letters}-{10000 + self._seq.get('qbo:bill', 0)}"

    def _disbursement(
        self,
        rng: random.Random,
        system: str,
        bill: PurchaseDoc,
        when: date,
        amount: Decimal,
        tags: tuple[str, ...] = (),
    ) -> Disbursement:
        if system == "qbo":
            method = rng.choice(("pm:check", "pm:ach", "pm:card"))
            bank = "bank:us-checking"
            rate = self.rate(bill.currency, "USD", when)
        else:
            method = rng.choice(("pm:check", "pm:ach"))
            entity = bill.dims.entity_id or "US"
            bank = {"US": "bank:us-checking", "UK": "bank:uk", "CA": "bank:ca"}[entity]
            rate = self.rate(bill.currency, self._entities[entity].currency, when)
        payment = Disbursement(
            key=self.next_key(f"{system}:billpayment"),
            system=system,
            party_key=bill.party_key,
            txn_date=when,
            currency=bill.currency,
            exchange_rate=rate,
            method_key=method,
            bank_key=bank,
            reference=str(10000 + self._seq[f"{system}:billpayment"]),
            total=amount,
            applications=[Application(bill.key, amount)],
            entity_id=bill.dims.entity_id,
            tags=tags,
        )
        bill.applied += amount
        bill.modified = max(bill.modified or bill.txn_date, when)
        self.group.disbursements.append(payment)
        return payment

    def build_qbo_journals(self) -> None:
        rng = _rng(self.seed, "qbo-journals")
        p = self.periods
        for k in range(self.scale.qbo_journals):
            day = self._date_between(rng, p.open_start, p.as_of)
            dept = rng.choice(("dept:boston", "dept:austin"))
            amount = cents(Decimal(rng.randint(50_000, 2_500_000)) / 100)
            if k % 3 == 0:
                title, debit, credit = "Month-end accrual", rng.choice(ref.QBO_EXPENSE_ACCOUNTS), "acct:accrued"
            elif k % 3 == 1:
                title, debit, credit = "Payroll", "acct:payroll:wages", "acct:checking"
            else:
                title, debit, credit = "Prepaid amortization", "acct:software", "acct:prepaid"
            lines = [
                JournalLine(
                    debit, True, amount, title, Dimensions(qbo_class_key="class:admin", qbo_department_key=dept)
                ),
                JournalLine(credit, False, amount, title, Dimensions(qbo_department_key=dept)),
            ]
            if title == "Payroll":
                tax = cents(amount * Decimal("0.0765"))
                lines.insert(
                    1,
                    JournalLine(
                        "acct:payroll:taxes",
                        True,
                        tax,
                        "Employer payroll taxes",
                        Dimensions(qbo_class_key="class:admin", qbo_department_key=dept),
                    ),
                )
                lines[-1].amount = amount + tax
            self.group.journals.append(
                Journal(
                    key=self.next_key("qbo:journal"),
                    system="qbo",
                    txn_date=day,
                    title=title,
                    reference=f"JE-{1000 + k}",
                    journal="GJ",
                    lines=lines,
                    entity_id=None,
                    currency="USD",
                    exchange_rate=Decimal("1"),
                    created=day,
                )
            )

    # -- Intacct documents -----------------------------------------------------------------

    def _intacct_dims(self, rng: random.Random, entity_id: str) -> Dimensions:
        entity = self._entities[entity_id]
        return Dimensions(
            entity_id=entity_id,
            location_id=rng.choice(entity.locations).location_id,
            department_id=rng.choice(entity.departments).department_id,
            class_id=rng.choice(ref.INTACCT_CLASSES).class_id if rng.random() < 0.7 else None,
        )

    def build_intacct_sales(self) -> None:
        rng = _rng(self.seed, "intacct-sales")
        p = self.periods
        customers = [c for c in self.group.parties if c.system == "intacct" and c.kind == "customer"]
        for k in range(self.scale.intacct_invoices):
            customer = customers[k] if k < len(_COVER_INTACCT) else rng.choice(customers)
            entity_id = customer.entity_id or "US"
            txn_date = self._date_between(rng, p.window_start, p.as_of)
            lines = []
            for _ in range(rng.choice((1, 1, 2, 3))):
                dims = self._intacct_dims(rng, entity_id)
                amount = cents(Decimal(rng.randint(10_000, 2_000_000)) / 100)
                lines.append(
                    SalesLine(
                        "Services rendered",
                        Decimal(1),
                        amount,
                        amount,
                        None,
                        rng.choice(ref.INTACCT_REVENUE_ACCOUNTS),
                        False,
                        dims,
                    )
                )
            term = self._terms[customer.term_key]
            doc = SalesDoc(
                key=self.next_key("intacct:invoice"),
                system="intacct",
                kind="invoice",
                doc_number=f"INV-{20001 + k}",
                party_key=customer.key,
                txn_date=txn_date,
                due_date=txn_date + timedelta(days=term.due_days),
                currency=customer.currency,
                exchange_rate=self.rate(customer.currency, self._entities[entity_id].currency, txn_date),
                term_key=term.key,
                lines=lines,
                dims=Dimensions(entity_id=entity_id),
                created=txn_date,
            )
            finish_sales_doc(doc, None)
            self.group.sales_docs.append(doc)
        for inv in [d for d in self.group.sales_docs if d.system == "intacct"]:
            when = inv.txn_date + timedelta(days=rng.randint(5, 60))
            r = rng.random()
            if when > p.as_of or r >= 0.7:
                continue
            amount = inv.total if r < 0.6 else cents(inv.total * Decimal(rng.randint(30, 70)) / 100)
            entity_id = inv.dims.entity_id or "US"
            receipt = Receipt(
                key=self.next_key("intacct:payment"),
                system="intacct",
                party_key=inv.party_key,
                txn_date=when,
                currency=inv.currency,
                exchange_rate=self.rate(inv.currency, self._entities[entity_id].currency, when),
                method_key=rng.choice(("pm:ach", "pm:check")),
                bank_key={"US": "bank:us-checking", "UK": "bank:uk", "CA": "bank:ca"}[entity_id],
                reference=f"{rng.randrange(1000, 99999)}",
                total=amount,
                applications=[Application(inv.key, amount)],
                entity_id=entity_id,
                tags=() if r < 0.6 else ("partial",),
            )
            inv.applied += amount
            inv.modified = when
            self.group.receipts.append(receipt)

    def build_intacct_purchases(self) -> None:
        rng = _rng(self.seed, "intacct-purchases")
        p = self.periods
        vendors = [v for v in self.group.parties if v.system == "intacct" and v.kind == "vendor"]
        for k in range(self.scale.intacct_bills):
            vendor = vendors[k] if k < len(_COVER_INTACCT) else rng.choice(vendors)
            entity_id = vendor.entity_id or rng.choice(("US", "US", "UK", "CA"))
            txn_date = self._date_between(rng, p.window_start, p.as_of)
            r = rng.random()
            state = "Draft" if r < 0.08 else "Submitted" if r < 0.18 else "Approved"
            lines: list[PurchaseLine] = []
            if k % 4 == 0:  # one cost allocated across departments: 50/30/20
                account = rng.choice(ref.INTACCT_EXPENSE_ACCOUNTS)
                whole = cents(Decimal(rng.randint(100_000, 1_000_000)) / 100)
                entity = self._entities[entity_id]
                shares = (Decimal("0.5"), Decimal("0.3"))
                parts = [cents(whole * s) for s in shares]
                parts.append(whole - sum(parts, ZERO))
                for dept, part in zip(entity.departments, parts, strict=False):
                    dims = Dimensions(
                        entity_id=entity_id,
                        location_id=entity.locations[0].location_id,
                        department_id=dept.department_id,
                    )
                    lines.append(PurchaseLine(f"Allocated {dept.name}", part, account, dims))
                if len(lines) < len(parts):  # entities with two departments take the rest on the last
                    lines[-1].amount += sum(parts[len(lines) :], ZERO)
            else:
                for account in rng.sample(ref.INTACCT_EXPENSE_ACCOUNTS, rng.choice((1, 2, 3))):
                    lines.append(
                        PurchaseLine(
                            "Vendor charges",
                            cents(Decimal(rng.randint(2_500, 800_000)) / 100),
                            account,
                            self._intacct_dims(rng, entity_id),
                        )
                    )
            term = self._terms[vendor.term_key]
            bill = PurchaseDoc(
                key=self.next_key("intacct:bill"),
                system="intacct",
                doc_number=f"BILL-{30001 + k}",
                party_key=vendor.key,
                txn_date=txn_date,
                due_date=txn_date + timedelta(days=term.due_days),
                currency=vendor.currency,
                exchange_rate=self.rate(vendor.currency, self._entities[entity_id].currency, txn_date),
                term_key=term.key,
                lines=lines,
                dims=Dimensions(entity_id=entity_id),
                state=state,
                created=txn_date,
            )
            bill.total = sum((ln.amount for ln in lines), ZERO)
            self.group.purchase_docs.append(bill)
        for bill in [d for d in self.group.purchase_docs if d.system == "intacct" and d.state == "Approved"]:
            when = bill.txn_date + timedelta(days=rng.randint(5, 60))
            r = rng.random()
            if when > p.as_of or r >= 0.65:
                continue
            amount = bill.total if r < 0.55 else cents(bill.total * Decimal(rng.randint(25, 75)) / 100)
            self._disbursement(rng, "intacct", bill, when, amount, tags=() if r < 0.55 else ("partial",))

    def build_intacct_journals(self) -> None:
        """Accruals (reversing on the 1st of the next month), payroll, and FX revaluation per entity."""
        rng = _rng(self.seed, "intacct-journals")
        p = self.periods
        for k in range(self.scale.intacct_journals):
            entity_id = ("US", "UK", "CA")[k % 3]
            entity = self._entities[entity_id]
            day = self._date_between(rng, p.window_start, p.as_of)
            amount = cents(Decimal(rng.randint(50_000, 5_000_000)) / 100)
            kind = (k // 3) % 3
            dims = self._intacct_dims(rng, entity_id)
            reverse = None
            if kind == 0:
                title, debit, credit = (
                    f"Accrual {entity_id} {day:%b %Y}",
                    rng.choice(ref.INTACCT_EXPENSE_ACCOUNTS),
                    "21000",
                )
                reverse = _add_months(day, 1)
            elif kind == 1:
                title, debit, credit = (
                    f"Payroll {entity_id} {day:%b %Y}",
                    "60000",
                    {"US": "10100", "UK": "10200", "CA": "10300"}[entity_id],
                )
            else:
                title, debit, credit = f"FX revaluation {entity_id} {day:%b %Y}", "79000", "11000"
            self.group.journals.append(
                Journal(
                    key=self.next_key("intacct:journal"),
                    system="intacct",
                    txn_date=day,
                    title=title,
                    reference=f"GJ-{entity_id}-{1000 + k}",
                    journal="GJ",
                    lines=[
                        JournalLine(debit, True, amount, title, dims),
                        JournalLine(
                            credit, False, amount, title, Dimensions(entity_id=entity_id, location_id=dims.location_id)
                        ),
                    ],
                    entity_id=entity_id,
                    currency=entity.currency,
                    exchange_rate=Decimal("1"),
                    reverse_date=reverse,
                    created=day,
                )
            )

    def build(self) -> Group:
        from include.sandbox.books.planted import plant_cases, plant_journal_cases, plant_vendor_cases

        self._draw_rates()
        self.build_parties()
        self.build_qbo_sales()
        plant_cases(self)
        self.build_qbo_receipts()
        self.build_qbo_purchases()
        self.build_qbo_journals()
        self.build_intacct_sales()
        self.build_intacct_purchases()
        self.build_intacct_journals()
        plant_vendor_cases(self)  # last: no document refers to these vendors, no other draw moves
        plant_journal_cases(self)  # after them: own random stream, QuickBooks journal entries only
        self._finalize()
        return self.group

    def _finalize(self) -> None:
        """Number documents in date order and sort every list, so ids ascend with dates."""
        g = self.group

        def by_date(doc: SalesDoc | PurchaseDoc | Receipt | Disbursement | Journal) -> tuple[date, str]:
            return (doc.txn_date, doc.key)

        g.sales_docs.sort(key=by_date)
        counters = {
            ("qbo", "invoice"): (1001, ""),
            ("qbo", "credit_memo"): (1001, "CM-"),
            ("intacct", "invoice"): (20001, "INV-"),
        }
        for doc in g.sales_docs:
            start, prefix = counters[(doc.system, doc.kind)]
            doc.doc_number = f"{prefix}{start}"
            counters[(doc.system, doc.kind)] = (start + 1, prefix)
        g.purchase_docs.sort(key=by_date)
        g.receipts.sort(key=by_date)
        g.disbursements.sort(key=by_date)
        g.journals.sort(key=by_date)
        g.parties.sort(key=lambda party: party.key)


def build_group(seed: int, scale: str | int, as_of: date = DEFAULT_AS_OF) -> Group:
    """The neutral books for ``seed`` and ``scale``, dated relative to ``as_of``."""
    return GroupBuilder(seed, parse_scale(scale), as_of).build()
