"""``make chaos``: the reliability suite run over real DAG runs (faults, crashes, secrets).

See :mod:`bench.chaos.runner` for the scenarios and :mod:`bench.chaos.report` for RELIABILITY.md.
"""
