"""Planted trouble: records a sync must meet and handle, each tagged so tests can find it.

Every case is QuickBooks source data (what the sync reads) unless the real QuickBooks API could
never hold it; then it is planted where a sync or the reconciliation would still meet it:

- ``unmapped_account_invoice`` (qbo Invoice): its item's income account ("Other Income:Grant
  Income") has no Intacct account; hold it, never guess.
- ``unbalanced_journal`` (intacct GLBATCH, Draft, UK entity): debits exceed credits by 0.01.
  Neither API accepts it, so it exists only as an Intacct draft written past validation (see
  ``intacct_adapter``); the reconciliation meets it.
- ``unused_currency_document`` (qbo Invoice in CHF): the Intacct company has no CHF. QuickBooks lets
  a user add any currency, so the subsidiary keyed one CHF customer and invoice; the sync must hold it.
- ``markup_customer_name`` (qbo Customer, plus one invoice): quotes, an ampersand and angle
  brackets break naive XML or query building.
- ``formula_vendor_name`` (qbo Vendor, plus one bill): starts with ``=``, so a spreadsheet would run
  it as a formula; workbooks must escape it.
- ``control_char_memo`` (qbo Invoice): the memo holds BEL, VT, ESC and BS, which XML 1.0 forbids.
- ``zero_amount_invoice`` (qbo Invoice): one line at 0.00, total 0.00.
- ``closed_period_invoice`` (qbo Invoice): dated in the closed month but keyed recently (back-dated).
- ``name_only_renamed_candidate`` (qbo Vendor): "Quillfeather Studios" matches Intacct "Quillfeather
  Studios Inc" by name only (held for review), while QuickBooks "Quillfeather Studios Group" matches
  that same Intacct vendor by tax ID and renames it in the same run. The held vendor must stay held
  (no candidate left by name) until finance decides.
- ``vendor_bank_details`` (qbo and intacct Vendor): vendors with bank details (demo numbers): two
  QuickBooks-only and one Intacct-only vendor (copied on create) and one matched pair holding the
  same account on both sides (a change on either side is held for finance).

The planted invoices are never paid, so their balances equal their totals.

QuickBooks journal entries (the journal entries flow, issue 17), planted last on their own stream:

- ``unmapped_account_journal`` (qbo JournalEntry): a grant receipt credited to "Other Income:Grant
  Income", which has no Intacct account: the whole entry is held, never posted in part.
- ``unbalanced_after_mapping_journal`` (qbo JournalEntry): balanced in QuickBooks, but its debit is
  in Boston (US entity) and its credit in London (UK entity): neither entity's part balances in
  Intacct, so the whole entry is held.
- ``control_account_journal`` (qbo JournalEntry): writes off a customer's balance against A/R, which
  Intacct closes to direct posting; the workbook names no A/R clearing account, so it is held.
- ``foreign_currency_journal`` (qbo JournalEntry in EUR with its rate): posts with currency and rate.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from include.sandbox.books import reference as ref
from include.sandbox.books.model import Dimensions, Journal, JournalLine, PlantedCase, cents

if TYPE_CHECKING:
    from include.sandbox.books.group import GroupBuilder

MARKUP_CUSTOMER_NAME = 'O\'Brien "Best" & Sons <Holdings>'
FORMULA_VENDOR_NAME = "=2+5+cmd|' /C calc'!A0 Supplies"
CONTROL_CHAR_MEMO = "Rush order\x07 call\x0bbefore\x1b[1m shipping\x08\x7f"

# What a correct sync does with each case (ground truth for the sync and reconciliation tests).
# ``intacct_accepts_as_is`` says whether Intacct would take the record unchanged; ``hold_for_review``
# whether the sync must stop and ask finance rather than post.
EXPECTED_HANDLING: dict[str, dict[str, object]] = {
    "unmapped_account_invoice": {
        "intacct_accepts_as_is": False,
        "hold_for_review": True,
        "expected_handling": "hold for review until finance maps the account; never guess one",
    },
    "unbalanced_journal": {
        "intacct_accepts_as_is": False,
        "hold_for_review": True,
        "expected_handling": "report it in the reconciliation; it is an Intacct draft and must not be posted",
    },
    "unused_currency_document": {
        "intacct_accepts_as_is": False,
        "hold_for_review": True,
        "expected_handling": "hold for review: the Intacct company has no CHF",
    },
    "markup_customer_name": {
        "intacct_accepts_as_is": True,
        "hold_for_review": False,
        "expected_handling": "sync with the name unchanged (escaped in XML and queries)",
    },
    "formula_vendor_name": {
        "intacct_accepts_as_is": True,
        "hold_for_review": False,
        "expected_handling": "sync unchanged; workbooks must write it as text, not a formula",
    },
    "control_char_memo": {
        "intacct_accepts_as_is": False,
        "hold_for_review": False,
        "expected_handling": "strip the control characters XML 1.0 forbids, then sync",
    },
    "zero_amount_invoice": {
        "intacct_accepts_as_is": False,
        "hold_for_review": False,
        "expected_handling": "nothing to post (Intacct refuses zero lines): skip it and count it as skipped",
    },
    "closed_period_invoice": {
        "intacct_accepts_as_is": False,
        "hold_for_review": True,
        "expected_handling": "hold for review (Intacct refuses posting into a closed period); posting it in the "
        "first open period is a finance decision",
    },
}

EXPECTED_HANDLING["name_only_renamed_candidate"] = {
    "intacct_accepts_as_is": True,
    "hold_for_review": True,
    "expected_handling": "hold the name-only match for review and keep it held, whatever its candidate becomes",
}
EXPECTED_HANDLING["unmapped_account_journal"] = {
    "intacct_accepts_as_is": False,
    "hold_for_review": True,
    "expected_handling": "hold the whole entry until finance maps the account; then post it",
}
EXPECTED_HANDLING["unbalanced_after_mapping_journal"] = {
    "intacct_accepts_as_is": False,
    "hold_for_review": True,
    "expected_handling": "hold the whole entry: its lines land in two entities and neither part balances",
}
EXPECTED_HANDLING["control_account_journal"] = {
    "intacct_accepts_as_is": False,
    "hold_for_review": True,
    "expected_handling": "hold the whole entry: A/R is closed to direct posting and no clearing account is named",
}
EXPECTED_HANDLING["foreign_currency_journal"] = {
    "intacct_accepts_as_is": True,
    "hold_for_review": False,
    "expected_handling": "post with the entry's currency and exchange rate",
}
EXPECTED_HANDLING["vendor_bank_details"] = {
    "intacct_accepts_as_is": True,
    "hold_for_review": False,
    "expected_handling": "copy on create; hold any later change for finance, showing only the last four digits",
}

PLANTED_TAGS: tuple[str, ...] = (
    "unmapped_account_invoice",
    "unbalanced_journal",
    "unused_currency_document",
    "markup_customer_name",
    "formula_vendor_name",
    "control_char_memo",
    "zero_amount_invoice",
    "closed_period_invoice",
    "name_only_renamed_candidate",
    "vendor_bank_details",
    "unmapped_account_journal",
    "unbalanced_after_mapping_journal",
    "control_account_journal",
    "foreign_currency_journal",
)


def plant_cases(builder: GroupBuilder) -> None:
    """Add the planted records to the builder's group (after the regular QuickBooks sales)."""
    rng = random.Random(f"{builder.seed}:planted")
    g = builder.group
    p = builder.periods
    recent = p.as_of - timedelta(days=20)
    usd_customers = [c for c in g.parties if c.system == "qbo" and c.kind == "customer" and c.currency == "USD"]
    plain = next((c for c in usd_customers if not c.tags), usd_customers[0])

    def case(tag: str, system: str, object_name: str, key: str, description: str, where: str) -> None:
        g.planted.append(PlantedCase(tag, system, object_name, key, description, where))

    doc = builder.new_qbo_sales_doc(
        rng,
        kind="invoice",
        party=plain,
        txn_date=recent,
        lines=[builder.qbo_sales_line(rng, "item:grant-admin")],
        tags=("planted", "unmapped_account_invoice"),
    )
    case(
        "unmapped_account_invoice",
        "qbo",
        "Invoice",
        doc.key,
        "invoice line sells an item whose income account (Other Income:Grant Income) has no Intacct account",
        "QuickBooks source data",
    )

    chf_customer = builder._party(
        rng,
        system="qbo",
        kind="customer",
        currency=ref.UNUSED_CURRENCY,
        entity_id=None,
        tags=("planted", "unused_currency_document"),
    )
    doc = builder.new_qbo_sales_doc(
        rng,
        kind="invoice",
        party=chf_customer,
        txn_date=recent - timedelta(days=3),
        lines=[builder.qbo_sales_line(rng, "item:consulting")],
        tags=("planted", "unused_currency_document"),
    )
    case(
        "unused_currency_document",
        "qbo",
        "Invoice",
        doc.key,
        f"invoice in {ref.UNUSED_CURRENCY}, a currency the Intacct company does not use",
        "QuickBooks source data (QuickBooks accepts any currency a user adds; Intacct has no CHF)",
    )

    markup = builder._party(
        rng,
        system="qbo",
        kind="customer",
        currency="USD",
        entity_id=None,
        name=MARKUP_CUSTOMER_NAME,
        slug="obrien-best-sons",
        tags=("planted", "markup_customer_name"),
    )
    case(
        "markup_customer_name",
        "qbo",
        "Customer",
        markup.key,
        "display name has quotes, an ampersand and angle brackets",
        "QuickBooks source data",
    )
    builder.new_qbo_sales_doc(
        rng,
        kind="invoice",
        party=markup,
        txn_date=recent - timedelta(days=5),
        lines=[builder.qbo_sales_line(rng, "item:training")],
        tags=("planted", "markup_customer_name"),
    )

    formula = builder._party(
        rng,
        system="qbo",
        kind="vendor",
        currency="USD",
        entity_id=None,
        name=FORMULA_VENDOR_NAME,
        slug="hyperlink-supplies",
        tags=("planted", "formula_vendor_name"),
    )
    case(
        "formula_vendor_name",
        "qbo",
        "Vendor",
        formula.key,
        "display name starts with '=' (a spreadsheet formula)",
        "QuickBooks source data",
    )
    builder.new_qbo_bill(
        rng, formula, recent - timedelta(days=4), ("class:admin",), tags=("planted", "formula_vendor_name")
    )

    doc = builder.new_qbo_sales_doc(
        rng,
        kind="invoice",
        party=plain,
        txn_date=recent - timedelta(days=1),
        lines=[builder.qbo_sales_line(rng, "item:license")],
        memo=CONTROL_CHAR_MEMO,
        tags=("planted", "control_char_memo"),
    )
    case(
        "control_char_memo",
        "qbo",
        "Invoice",
        doc.key,
        "memo (PrivateNote) holds control characters (BEL, VT, ESC, BS, DEL)",
        "QuickBooks source data",
    )

    zero_line = builder.qbo_sales_line(rng, "item:consulting", price=Decimal("0.00"))
    doc = builder.new_qbo_sales_doc(
        rng,
        kind="invoice",
        party=plain,
        txn_date=recent - timedelta(days=2),
        lines=[zero_line],
        tags=("planted", "zero_amount_invoice"),
    )
    case(
        "zero_amount_invoice",
        "qbo",
        "Invoice",
        doc.key,
        "one line at 0.00: the invoice totals 0.00",
        "QuickBooks source data",
    )

    doc = builder.new_qbo_sales_doc(
        rng,
        kind="invoice",
        party=plain,
        txn_date=p.closed_through - timedelta(days=10),
        lines=[builder.qbo_sales_line(rng, "item:implementation")],
        created=recent,
        tags=("planted", "closed_period_invoice"),
    )
    case(
        "closed_period_invoice",
        "qbo",
        "Invoice",
        doc.key,
        f"dated {doc.txn_date.isoformat()}, inside the period closed through {p.closed_through.isoformat()}, "
        f"keyed {recent.isoformat()}",
        "QuickBooks source data (QuickBooks allows back-dating past the close date with a warning)",
    )

    amount = cents(Decimal(rng.randint(100_000, 900_000)) / 100)
    journal = Journal(
        key=builder.next_key("intacct:journal"),
        system="intacct",
        txn_date=recent,
        title="Planted: unbalanced draft accrual",
        reference="GJ-UK-UNBALANCED",
        journal="GJ",
        lines=[
            JournalLine(
                "64000",
                True,
                amount,
                "Audit fee accrual",
                Dimensions(entity_id="UK", location_id="UK-LDN", department_id="UK-GA"),
            ),
            JournalLine(
                "21000",
                False,
                amount - Decimal("0.01"),
                "Audit fee accrual",
                Dimensions(entity_id="UK", location_id="UK-LDN"),
            ),
        ],
        entity_id="UK",
        currency="GBP",
        exchange_rate=Decimal("1"),
        state="Draft",
        created=recent,
        tags=("planted", "unbalanced_journal"),
    )
    g.journals.append(journal)
    case(
        "unbalanced_journal",
        "intacct",
        "GLBATCH",
        journal.key,
        "debits exceed credits by 0.01",
        "Intacct GLBATCH in Draft in the UK entity, inserted with validation off (neither API accepts it posted)",
    )


RENAMED_STEM = "Quillfeather Studios"
DEMO_ROUTING = "021000021"


def _demo_account(key: str) -> str:
    """A stable 10-digit demo account number for a party (derived from its key, no random draw)."""
    import hashlib

    return str(int(hashlib.sha256(key.encode()).hexdigest()[:12], 16))[-10:].rjust(10, "7")


def plant_vendor_cases(builder: GroupBuilder) -> None:
    """Vendor cases, added after every document so no other record or draw changes."""
    rng = random.Random(f"{builder.seed}:planted-vendors")
    g = builder.group

    def case(tag: str, system: str, object_name: str, key: str, description: str, where: str) -> None:
        g.planted.append(PlantedCase(tag, system, object_name, key, description, where))

    common = {"currency": "USD", "entity_id": None}
    group = builder._party(
        rng,
        system="qbo",
        kind="vendor",
        name=f"{RENAMED_STEM} Group",
        slug="quillfeather-group",
        tax_id="47-1200931",
        tags=("planted", "name_only_renamed_candidate"),
        **common,
    )
    builder._party(
        rng,
        system="intacct",
        kind="vendor",
        name=f"{RENAMED_STEM} Inc",
        slug="quillfeather-inc",
        tax_id="47-1200931",
        tags=("planted", "name_only_renamed_candidate"),
        **common,
    )
    held = builder._party(
        rng,
        system="qbo",
        kind="vendor",
        name=RENAMED_STEM,
        slug="quillfeather",
        tax_id="",
        tags=("planted", "name_only_renamed_candidate"),
        **common,
    )
    held.tax_id = None
    case(
        "name_only_renamed_candidate",
        "qbo",
        "Vendor",
        held.key,
        f"matches Intacct '{RENAMED_STEM} Inc' by name only; '{group.display_name}' renames it in the same run",
        "QuickBooks source data",
    )

    banked = [
        builder._party(
            rng,
            system="qbo",
            kind="vendor",
            name=f"Harborline Freight {n}",
            slug=f"harborline-{n}",
            tax_id=f"52-44100{n}{n}",
            tags=("planted", "vendor_bank_details"),
            **common,
        )
        for n in (1, 2)
    ]
    banked.append(
        builder._party(
            rng,
            system="intacct",
            kind="vendor",
            name="Copperleaf Printing",
            slug="copperleaf",
            tax_id="61-3300412",
            tags=("planted", "vendor_bank_details"),
            **common,
        )
    )
    twin_q = builder._party(
        rng,
        system="qbo",
        kind="vendor",
        name="Bluewater Staffing",
        slug="bluewater",
        tax_id="58-9090114",
        tags=("planted", "vendor_bank_details", "match"),
        **common,
    )
    twin_i = builder._party(
        rng,
        system="intacct",
        kind="vendor",
        name="Bluewater Staffing LLC",
        slug="bluewater-llc",
        tax_id="58-9090114",
        tags=("planted", "vendor_bank_details", "match"),
        **common,
    )
    twin_i.email = twin_q.email
    for party in [*banked, twin_q]:
        party.bank_routing, party.bank_account = DEMO_ROUTING, _demo_account(party.key)
    twin_i.bank_routing, twin_i.bank_account = twin_q.bank_routing, twin_q.bank_account
    case(
        "vendor_bank_details",
        "qbo",
        "Vendor",
        twin_q.key,
        "matched pair holding the same account on both sides; vendors with bank details on one side only: "
        + ", ".join(p.display_name for p in banked),
        "QuickBooks and Intacct source data",
    )


def plant_journal_cases(builder: GroupBuilder) -> None:
    """QuickBooks journal entries the journal entries flow must hold (or post with currency and rate)."""
    rng = random.Random(f"{builder.seed}:planted-journals")
    g = builder.group
    p = builder.periods
    recent = p.as_of - timedelta(days=25)

    def case(tag: str, key: str, description: str) -> None:
        g.planted.append(PlantedCase(tag, "qbo", "JournalEntry", key, description, "QuickBooks source data"))

    def journal(tag: str, reference: str, title: str, lines: list[JournalLine], **kw: object) -> Journal:
        je = Journal(
            key=builder.next_key("qbo:journal"),
            system="qbo",
            txn_date=recent,
            title=title,
            reference=reference,
            journal="GJ",
            lines=lines,
            entity_id=None,
            currency=str(kw.get("currency", "USD")),
            exchange_rate=kw.get("rate", Decimal("1")),  # type: ignore[arg-type]
            created=recent,
            tags=("planted", tag),
        )
        g.journals.append(je)
        return je

    boston = Dimensions(qbo_department_key="dept:boston")
    amount = cents(Decimal(rng.randint(100_000, 900_000)) / 100)
    je = journal(
        "unmapped_account_journal",
        "JE-PLANT-1",
        "Grant received",
        [
            JournalLine("acct:checking", True, amount, "Grant received", boston),
            JournalLine("acct:other-income:grants", False, amount, "Grant received", boston),
        ],
    )
    case(
        "unmapped_account_journal",
        je.key,
        "credit line 2 posts to Other Income:Grant Income, which has no Intacct account",
    )

    amount = cents(Decimal(rng.randint(100_000, 900_000)) / 100)
    je = journal(
        "unbalanced_after_mapping_journal",
        "JE-PLANT-2",
        "Shared audit fee",
        [
            JournalLine("acct:software", True, amount, "Shared audit fee", boston),
            JournalLine(
                "acct:accrued", False, amount, "Shared audit fee", Dimensions(qbo_department_key="dept:london")
            ),
        ],
    )
    case(
        "unbalanced_after_mapping_journal",
        je.key,
        "line 1 (Boston) lands in the US entity and line 2 (London) in the UK entity: neither part balances",
    )

    customers = [c for c in g.parties if c.system == "qbo" and c.kind == "customer" and c.currency == "USD"]
    customer = next((c for c in customers if not c.tags), customers[0])
    amount = cents(Decimal(rng.randint(5_000, 90_000)) / 100)
    je = journal(
        "control_account_journal",
        "JE-PLANT-3",
        "Small balance write-off",
        [
            JournalLine("acct:software", True, amount, "Small balance write-off", boston),
            JournalLine("acct:ar", False, amount, "Small balance write-off", boston, party_key=customer.key),
        ],
    )
    case("control_account_journal", je.key, "credit line 2 posts to A/R, closed to direct posting in Intacct")

    amount = cents(Decimal(rng.randint(100_000, 900_000)) / 100)
    rate = builder.rate("EUR", "USD", recent)
    je = journal(
        "foreign_currency_journal",
        "JE-PLANT-4",
        "EUR software subscription",
        [
            JournalLine("acct:software", True, amount, "EUR software subscription", boston),
            JournalLine("acct:accrued", False, amount, "EUR software subscription", boston),
        ],
        currency="EUR",
        rate=rate,
    )
    case("foreign_currency_journal", je.key, f"in EUR at {rate}: posts with its currency and rate")
