"""``qbo_intacct_invoices`` is scheduled after customers (their Asset) as well as on its own timetable."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_invoices_run_after_customers_and_on_their_own_cron() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.timetables.assets import AssetOrTimeSchedule

    dag = DagBag(dag_folder=str(ROOT / "dags" / "qbo_intacct_invoices.py")).dags["qbo_intacct_invoices"]
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    upstream = {asset.uri.rstrip("/") for _key, asset in dag.timetable.asset_condition.iter_assets()}
    assert upstream == {"qbo-intacct://customers"}
    assert dag.timetable.timetable.summary == "*/15 * * * *"
    outlets = {o.uri.rstrip("/") for o in dag.get_task("report").outlets}
    assert outlets == {"qbo-intacct://invoices"}
