"""``python -m qbo_intacct.webhooks [--host 127.0.0.1] [--port 8081]``: run the QuickBooks webhook receiver.

Settings come from the environment (secrets never on the command line): ``QBO_WEBHOOK_VERIFIER_TOKEN``
(required), ``QBO_WEBHOOK_AIRFLOW_URL``, ``QBO_WEBHOOK_AIRFLOW_USER`` / ``_PASSWORD``,
``QBO_WEBHOOK_COALESCE_SECONDS``, ``QBO_WEBHOOK_ROUTES``, ``QBO_WEBHOOK_REALM_IDS`` (receiver.py).
``--port 0`` takes a free port; the first line printed says which.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qbo_intacct.webhooks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)

    import uvicorn

    from qbo_intacct.webhooks.receiver import ReceiverSettings, create_app

    app = create_app(ReceiverSettings.from_env())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"QuickBooks webhook receiver listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
