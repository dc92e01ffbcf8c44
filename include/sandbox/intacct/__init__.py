"""Local stand-in for the Sage Intacct XML Web Services gateway (``/ia/xml/xmlgw.phtml``).

``state`` holds the company (records as dicts, derived fields, snapshots) and is importable without
FastAPI, so the demo-books generator can seed it in-process; ``app`` serves it over HTTP.
"""
