"""``python -m bench.chaos.airflow_run <airflow arguments>``: the Airflow CLI with the harness's listeners
(task metrics as in ``make bench``, plus the chaos task markers). Loaded only here."""

from __future__ import annotations

import sys


def main() -> None:
    from airflow.sdk.listener import get_listener_manager

    from bench import task_metrics
    from bench.chaos import markers

    manager = get_listener_manager()
    manager.add_listener(task_metrics)
    manager.add_listener(markers)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
