"""Local, faithful stand-ins for the QuickBooks Online Accounting API and the Sage Intacct XML gateway.

They are real HTTP servers on loopback, used by ``make demo``, the tests and the benchmarks. The
product's hooks talk to them exactly as to the real services (same URLs under a different host,
same auth, same payloads). Nothing under ``plugins/`` imports this package.
"""
