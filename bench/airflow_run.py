"""``python -m bench.airflow_run <airflow arguments>``: the Airflow CLI with the harness's task listener.

The listener is added to the Task SDK's listener manager before the CLI starts, so it is loaded only
here, never by a deployment or ``make demo``.
"""

from __future__ import annotations

import sys


def main() -> None:
    from airflow.sdk.listener import get_listener_manager

    from bench import task_metrics

    get_listener_manager().add_listener(task_metrics)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
