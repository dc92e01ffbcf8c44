"""QuickBooks webhooks -> the affected sync flows, within about a minute (README "5. Changes within a minute").

``intuit`` checks Intuit's signature and reads both notification formats, ``routes`` says which
DAG each QuickBooks entity starts, ``airflow_api`` talks to Airflow's REST API, ``receiver`` is the
FastAPI app that answers Intuit at once and starts one run per burst. Run it with
``python -m qbo_intacct.webhooks`` (docker-compose service ``qbo-webhooks``).
"""
