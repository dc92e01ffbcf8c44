# The deployment image: the official Airflow image (which ships the Celery provider the
# CeleryExecutor needs) plus our pinned requirements and the provider package (so "QuickBooks
# Online" and "Sage Intacct" are connection types in the UI). docker-compose.yaml builds it.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt /opt/qbo_intacct/requirements.txt
RUN pip install --no-cache-dir -r /opt/qbo_intacct/requirements.txt
COPY --chown=airflow:0 pyproject.toml README.md /opt/qbo_intacct/
COPY --chown=airflow:0 plugins /opt/qbo_intacct/plugins
RUN pip install --no-cache-dir --no-deps /opt/qbo_intacct
# Fail the build, not the first task, if our pins ever displaced the executor or the webhook server.
RUN python -c "import airflow.providers.celery.executors.celery_executor, fastapi, uvicorn, qbo_intacct"
