"""``make bench``: what a sync costs against the two APIs, measured from outside the product.

The harness seeds the demo group's books at a scale, serves them from both sandboxes with the real
API limits on and a per-call latency, runs each flow DAG with ``airflow dags test`` (first sync,
unchanged rerun, rerun after 1% of records changed on each side) and a naive hand-written
integration as the baseline, and writes ``BENCHMARKS.md`` plus ``benchmarks.json``.

It measures only what can be seen from outside: the sandboxes' counters (calls by kind, Intacct
API transactions, records written), the child process's CPU and peak memory (``os.wait4``), and a
task listener (:mod:`bench.task_metrics`) that only the harness loads, for the split by task. It
lives at the top of the repository, not under ``tests/``: it is a tool that writes a report, not a
test; its own tests (tests/unit/bench, tests/integration/bench) import it.
"""
