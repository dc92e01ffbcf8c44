"""The group's fixed set-up: entities, dimensions, charts of accounts, terms, tax, items, banks.

These are the lists a controller would recognise from a real group that runs both systems. They do
not depend on the seed: only documents and parties are drawn at random, so the mapping workbook
generated from the manifest is the same for every seed and scale.

How the two charts relate (``QboAccount.intacct_account``):
- several QuickBooks accounts fold into one Intacct account (e.g. "Travel" and "Meals and
  Entertainment" both post to 63000 Travel and Entertainment);
- a few QuickBooks accounts are deliberately unmapped ("Other Income:Grant Income", "Ask My
  Accountant", "Shareholder Loan"): finance has not decided where they go, so a document that
  touches them must be held for review, never guessed.
"""

from __future__ import annotations

from decimal import Decimal

from include.sandbox.books.model import (
    BankAccount,
    Department,
    Entity,
    GlAccount,
    IntacctClass,
    Item,
    Location,
    PaymentMethod,
    QboAccount,
    QboClass,
    QboDepartment,
    TaxCode,
    TaxRate,
    Term,
)

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "US",
        "Northstar Group US",
        "USD",
        "United States",
        (
            Location("US", "Northstar Group US", "US"),
            Location("US-BOS", "Boston", "US"),
            Location("US-AUS", "Austin", "US"),
        ),
        (
            Department("US-SALES", "US Sales", "US"),
            Department("US-ENG", "US Engineering", "US"),
            Department("US-SVC", "US Professional Services", "US"),
            Department("US-GA", "US General and Administrative", "US"),
        ),
    ),
    Entity(
        "UK",
        "Northstar Group UK Ltd",
        "GBP",
        "United Kingdom",
        (Location("UK", "Northstar Group UK Ltd", "UK"), Location("UK-LDN", "London", "UK")),
        (Department("UK-SALES", "UK Sales", "UK"), Department("UK-GA", "UK General and Administrative", "UK")),
    ),
    Entity(
        "CA",
        "Northstar Group Canada Inc",
        "CAD",
        "Canada",
        (Location("CA", "Northstar Group Canada Inc", "CA"), Location("CA-TOR", "Toronto", "CA")),
        (Department("CA-SVC", "CA Services", "CA"), Department("CA-GA", "CA General and Administrative", "CA")),
    ),
)

INTACCT_CLASSES: tuple[IntacctClass, ...] = (
    IntacctClass("SUB", "Subscriptions"),
    IntacctClass("IMPL", "Implementation"),
    IntacctClass("SUPP", "Support"),
    IntacctClass("HW", "Hardware"),
)

# QuickBooks Departments (shown as Locations): each routes to one Intacct entity and location.
QBO_DEPARTMENTS: tuple[QboDepartment, ...] = (
    QboDepartment("dept:boston", "Boston", "US", "US-BOS"),
    QboDepartment("dept:austin", "Austin", "US", "US-AUS"),
    QboDepartment("dept:london", "London", "UK", "UK-LDN"),
    QboDepartment("dept:toronto", "Toronto", "CA", "CA-TOR"),
)

# QuickBooks Classes: each routes to an Intacct class and, per entity, an Intacct department.
QBO_CLASSES: tuple[QboClass, ...] = (
    QboClass("class:sales", "Sales", None, "SUB", (("US", "US-SALES"), ("UK", "UK-SALES"), ("CA", "CA-SVC"))),
    QboClass("class:engineering", "Engineering", None, None, (("US", "US-ENG"), ("UK", "UK-GA"), ("CA", "CA-GA"))),
    QboClass("class:services", "Services", None, None, (("US", "US-SVC"), ("UK", "UK-SALES"), ("CA", "CA-SVC"))),
    QboClass(
        "class:services:impl",
        "Implementation",
        "class:services",
        "IMPL",
        (("US", "US-SVC"), ("UK", "UK-SALES"), ("CA", "CA-SVC")),
    ),
    QboClass(
        "class:services:support",
        "Support",
        "class:services",
        "SUPP",
        (("US", "US-SVC"), ("UK", "UK-SALES"), ("CA", "CA-SVC")),
    ),
    QboClass("class:admin", "Admin", None, None, (("US", "US-GA"), ("UK", "UK-GA"), ("CA", "CA-GA"))),
)

GL_ACCOUNTS: tuple[GlAccount, ...] = (
    GlAccount("10100", "Operating Cash - US", "balancesheet", "debit", "Cash and Cash Equivalents"),
    GlAccount("10200", "Operating Cash - UK", "balancesheet", "debit", "Cash and Cash Equivalents"),
    GlAccount("10300", "Operating Cash - Canada", "balancesheet", "debit", "Cash and Cash Equivalents"),
    GlAccount("10400", "Foreign Currency Cash - US", "balancesheet", "debit", "Cash and Cash Equivalents"),
    GlAccount("10500", "Undeposited Funds", "balancesheet", "debit", "Cash and Cash Equivalents"),
    GlAccount("11000", "Accounts Receivable", "balancesheet", "debit", "Accounts Receivable"),
    GlAccount("12000", "Prepaid Expenses", "balancesheet", "debit", "Other Current Assets"),
    GlAccount("15000", "Fixed Assets", "balancesheet", "debit", "Fixed Assets"),
    GlAccount("20000", "Accounts Payable", "balancesheet", "credit", "Accounts Payable"),
    GlAccount("21000", "Accrued Liabilities", "balancesheet", "credit", "Accrued Liabilities"),
    GlAccount("22000", "Sales Tax Payable", "balancesheet", "credit", "Other Current Liabilities"),
    GlAccount("23000", "Credit Card Payable", "balancesheet", "credit", "Other Current Liabilities"),
    GlAccount("24000", "Deferred Revenue", "balancesheet", "credit", "Deferred Revenue"),
    GlAccount("30000", "Retained Earnings", "balancesheet", "credit", "Retained Earnings"),
    GlAccount("40000", "Subscription Revenue", "incomestatement", "credit", "Revenue"),
    GlAccount("40100", "Services Revenue", "incomestatement", "credit", "Revenue"),
    GlAccount("40200", "Hardware Revenue", "incomestatement", "credit", "Revenue"),
    GlAccount("40900", "Sales Discounts", "incomestatement", "debit", "Revenue"),
    GlAccount("50000", "Cost of Revenue", "incomestatement", "debit", "Cost of Sales"),
    GlAccount("60000", "Salaries and Wages", "incomestatement", "debit", "Payroll Expense"),
    GlAccount("61000", "Rent and Occupancy", "incomestatement", "debit", "Operating Expenses"),
    GlAccount("62000", "Software and Subscriptions", "incomestatement", "debit", "Operating Expenses"),
    GlAccount("63000", "Travel and Entertainment", "incomestatement", "debit", "Operating Expenses"),
    GlAccount("64000", "Professional Fees", "incomestatement", "debit", "Operating Expenses"),
    GlAccount("65000", "Office Expenses", "incomestatement", "debit", "Operating Expenses"),
    GlAccount("66000", "Utilities and Telecom", "incomestatement", "debit", "Operating Expenses"),
    GlAccount("67000", "Marketing", "incomestatement", "debit", "Operating Expenses"),
    GlAccount("79000", "Foreign Exchange Gain or Loss", "incomestatement", "debit", "Other Income and Expense"),
)

# key, name, parent, acct_num, AccountType, AccountSubType, Classification, Intacct GL (None = unmapped)
_QBO_ACCOUNT_ROWS: tuple[tuple[str, str, str | None, str | None, str, str, str, str | None], ...] = (
    ("acct:checking", "Checking", None, "1010", "Bank", "Checking", "Asset", "10100"),
    ("acct:money-market", "Money Market", None, "1020", "Bank", "MoneyMarket", "Asset", "10100"),
    ("acct:undeposited", "Undeposited Funds", None, None, "Other Current Asset", "UndepositedFunds", "Asset", "10500"),
    ("acct:ar", "Accounts Receivable (A/R)", None, None, "Accounts Receivable", "AccountsReceivable", "Asset", "11000"),
    ("acct:prepaid", "Prepaid Expenses", None, None, "Other Current Asset", "PrepaidExpenses", "Asset", "12000"),
    ("acct:equipment", "Equipment", None, "1500", "Fixed Asset", "MachineryAndEquipment", "Asset", "15000"),
    ("acct:ap", "Accounts Payable (A/P)", None, None, "Accounts Payable", "AccountsPayable", "Liability", "20000"),
    ("acct:visa", "Visa Card", None, None, "Credit Card", "CreditCard", "Liability", "23000"),
    (
        "acct:accrued",
        "Accrued Expenses",
        None,
        "2100",
        "Other Current Liability",
        "AccruedLiabilities",
        "Liability",
        "21000",
    ),
    (
        "acct:sales-tax",
        "Sales Tax Payable",
        None,
        None,
        "Other Current Liability",
        "SalesTaxPayable",
        "Liability",
        "22000",
    ),
    (
        "acct:deferred",
        "Deferred Revenue",
        None,
        "2400",
        "Other Current Liability",
        "OtherCurrentLiabilities",
        "Liability",
        "24000",
    ),
    (
        "acct:shareholder-loan",
        "Shareholder Loan",
        None,
        None,
        "Long Term Liability",
        "ShareholderNotesPayable",
        "Liability",
        None,
    ),
    ("acct:retained", "Retained Earnings", None, None, "Equity", "RetainedEarnings", "Equity", "30000"),
    ("acct:subscription", "Subscription Revenue", None, "4000", "Income", "ServiceFeeIncome", "Revenue", "40000"),
    ("acct:sales", "Sales", None, None, "Income", "SalesOfProductIncome", "Revenue", "40000"),
    (
        "acct:sales:licenses",
        "Software Licenses",
        "acct:sales",
        None,
        "Income",
        "SalesOfProductIncome",
        "Revenue",
        "40000",
    ),
    (
        "acct:sales:implementation",
        "Implementation Services",
        "acct:sales",
        None,
        "Income",
        "ServiceFeeIncome",
        "Revenue",
        "40100",
    ),
    ("acct:sales:training", "Training", "acct:sales", None, "Income", "ServiceFeeIncome", "Revenue", "40100"),
    ("acct:consulting", "Consulting Income", None, "4300", "Income", "ServiceFeeIncome", "Revenue", "40100"),
    ("acct:hardware", "Hardware Sales", None, "4500", "Income", "SalesOfProductIncome", "Revenue", "40200"),
    ("acct:discounts", "Discounts given", None, None, "Income", "DiscountsRefundsGiven", "Revenue", "40900"),
    ("acct:other-income", "Other Income", None, None, "Other Income", "OtherMiscellaneousIncome", "Revenue", None),
    (
        "acct:other-income:grants",
        "Grant Income",
        "acct:other-income",
        None,
        "Other Income",
        "OtherMiscellaneousIncome",
        "Revenue",
        None,
    ),
    (
        "acct:cogs",
        "Cost of Goods Sold",
        None,
        "5000",
        "Cost of Goods Sold",
        "SuppliesMaterialsCogs",
        "Expense",
        "50000",
    ),
    ("acct:payroll", "Payroll Expenses", None, None, "Expense", "PayrollExpenses", "Expense", "60000"),
    ("acct:payroll:wages", "Wages", "acct:payroll", None, "Expense", "PayrollExpenses", "Expense", "60000"),
    ("acct:payroll:taxes", "Payroll Taxes", "acct:payroll", None, "Expense", "PayrollExpenses", "Expense", "60000"),
    ("acct:rent", "Rent or Lease", None, None, "Expense", "RentOrLeaseOfBuildings", "Expense", "61000"),
    (
        "acct:software",
        "Software & Subscriptions",
        None,
        "6200",
        "Expense",
        "OtherMiscellaneousServiceCost",
        "Expense",
        "62000",
    ),
    ("acct:travel", "Travel", None, None, "Expense", "Travel", "Expense", "63000"),
    ("acct:meals", "Meals and Entertainment", None, None, "Expense", "EntertainmentMeals", "Expense", "63000"),
    ("acct:legal", "Legal & Professional Fees", None, None, "Expense", "LegalProfessionalFees", "Expense", "64000"),
    (
        "acct:office",
        "Office Expenses",
        None,
        None,
        "Expense",
        "OfficeGeneralAdministrativeExpenses",
        "Expense",
        "65000",
    ),
    (
        "acct:office:supplies",
        "Office Supplies",
        "acct:office",
        None,
        "Expense",
        "SuppliesMaterials",
        "Expense",
        "65000",
    ),
    (
        "acct:office:postage",
        "Postage",
        "acct:office",
        None,
        "Expense",
        "OfficeGeneralAdministrativeExpenses",
        "Expense",
        "65000",
    ),
    ("acct:utilities", "Utilities", None, None, "Expense", "Utilities", "Expense", "66000"),
    ("acct:utilities:telephone", "Telephone", "acct:utilities", None, "Expense", "Utilities", "Expense", "66000"),
    ("acct:utilities:internet", "Internet", "acct:utilities", None, "Expense", "Utilities", "Expense", "66000"),
    ("acct:advertising", "Advertising", None, "6700", "Expense", "AdvertisingPromotional", "Expense", "67000"),
    (
        "acct:ask-accountant",
        "Ask My Accountant",
        None,
        None,
        "Expense",
        "OtherMiscellaneousServiceCost",
        "Expense",
        None,
    ),
    ("acct:fx", "Exchange Gain or Loss", None, None, "Other Expense", "ExchangeGainOrLoss", "Expense", "79000"),
)

QBO_ACCOUNTS: tuple[QboAccount, ...] = tuple(
    QboAccount(key, name, parent, num, atype, subtype, cls, gl)
    for key, name, parent, num, atype, subtype, cls, gl in _QBO_ACCOUNT_ROWS
)

# Expense accounts that bills and journals draw lines from (all mapped).
QBO_EXPENSE_ACCOUNTS: tuple[str, ...] = (
    "acct:rent",
    "acct:software",
    "acct:travel",
    "acct:meals",
    "acct:legal",
    "acct:office:supplies",
    "acct:office:postage",
    "acct:utilities:telephone",
    "acct:utilities:internet",
    "acct:advertising",
    "acct:cogs",
)
INTACCT_EXPENSE_ACCOUNTS: tuple[str, ...] = ("50000", "61000", "62000", "63000", "64000", "65000", "66000", "67000")
INTACCT_REVENUE_ACCOUNTS: tuple[str, ...] = ("40000", "40100", "40200")

TERMS: tuple[Term, ...] = (
    Term("term:due", "Due on receipt", "Due on receipt", 0),
    Term("term:n15", "Net 15", "N15", 15),
    Term("term:n30", "Net 30", "N30", 30),
    Term("term:n60", "Net 60", "N60", 60),
    Term("term:2-10-n30", "2% 10 Net 30", "2/10 N30", 30, Decimal("2"), 10),
)

TAX_RATES: tuple[TaxRate, ...] = (
    TaxRate("rate:ma", "Massachusetts State", Decimal("6.25"), "Massachusetts Department of Revenue"),
    TaxRate("rate:tx", "Texas State", Decimal("8.25"), "Texas Comptroller"),
    TaxRate("rate:ny", "New York City", Decimal("8.875"), "New York State Department of Taxation"),
)
TAX_CODES: tuple[TaxCode, ...] = (
    TaxCode("tax:ma", "Massachusetts", "rate:ma"),
    TaxCode("tax:tx", "Texas", "rate:tx"),
    TaxCode("tax:ny", "New York", "rate:ny"),
)
# The Intacct GL account where QuickBooks sales tax lands.
SALES_TAX_GL = "22000"
DISCOUNT_QBO_ACCOUNT = "acct:discounts"

ITEMS: tuple[Item, ...] = (
    Item("item:subscription", "Annual Subscription", "Service", "acct:subscription", Decimal("1200.00"), True),
    Item("item:license", "Software License", "Service", "acct:sales:licenses", Decimal("450.00"), True),
    Item("item:implementation", "Implementation", "Service", "acct:sales:implementation", Decimal("175.00"), False),
    Item("item:training", "Training Day", "Service", "acct:sales:training", Decimal("900.00"), False),
    Item("item:consulting", "Consulting Hour", "Service", "acct:consulting", Decimal("150.00"), False),
    Item("item:hardware", "Hardware Kit", "NonInventory", "acct:hardware", Decimal("329.99"), True),
    # Sold only by the planted invoice: its income account has no Intacct mapping.
    Item(
        "item:grant-admin", "Grant Administration Fee", "Service", "acct:other-income:grants", Decimal("500.00"), False
    ),
)
REGULAR_ITEMS: tuple[str, ...] = tuple(i.key for i in ITEMS if i.key != "item:grant-admin")

PAYMENT_METHODS: tuple[PaymentMethod, ...] = (
    PaymentMethod("pm:ach", "ACH", "NON_CREDIT_CARD", "ACH"),
    PaymentMethod("pm:check", "Check", "NON_CREDIT_CARD", "Printed Check"),
    PaymentMethod("pm:card", "Credit Card", "CREDIT_CARD", "Credit Card"),
)

BANKS: tuple[BankAccount, ...] = (
    BankAccount("bank:us-checking", "Checking", "acct:checking", "BOA-US-CHK", "10100", "US", "USD"),
    BankAccount("bank:us-mm", "Money Market", "acct:money-market", "BOA-US-MM", "10100", "US", "USD"),
    BankAccount("bank:undeposited", "Undeposited Funds", "acct:undeposited", None, "10500", "US", "USD", True),
    BankAccount("bank:uk", "Barclays GBP Operating", None, "BARC-UK-GBP", "10200", "UK", "GBP"),
    BankAccount("bank:ca", "RBC CAD Operating", None, "RBC-CA-CAD", "10300", "CA", "CAD"),
)

QBO_HOME_CURRENCY = "USD"
QBO_FOREIGN_CURRENCIES: tuple[str, ...] = ("EUR", "GBP", "CAD")
INTACCT_CURRENCIES: tuple[str, ...] = ("USD", "GBP", "CAD", "EUR")
# The planted document's currency: neither company has it switched on.
UNUSED_CURRENCY = "CHF"

# USD per one unit of each currency at the start of the window; monthly rates walk from here.
USD_PER_UNIT: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.0850"),
    "GBP": Decimal("1.2700"),
    "CAD": Decimal("0.7350"),
    "CHF": Decimal("1.1300"),
}
