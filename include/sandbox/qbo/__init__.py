"""Local stand-in for the QuickBooks Online Accounting API v3 (state, query language, HTTP app)."""
