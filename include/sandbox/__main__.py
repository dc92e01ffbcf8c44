"""Command line for the sandboxes: ``serve`` runs them, ``seed`` writes demo books.

    python -m include.sandbox serve --system both --state-dir .run/sandbox [--books DIR]
    python -m include.sandbox seed --seed 42 --scale demo --out DIR

``serve`` binds its sockets first (port 0 picks a free one), then writes ``STATE_DIR/sandbox.json``
(mode 0600) with the URLs and the generated credentials, so callers never guess ports or secrets.
It stops cleanly on SIGINT/SIGTERM.

In a container (docker-compose's ``sandbox`` profile) ``--container`` lets it bind every interface
of the container's private network; fixed demo credentials then come from the environment variable
``QBO_INTACCT_SANDBOX_CREDENTIALS`` (JSON ``{"qbo": {...}, "intacct": {...}}``, see .env.example),
and the QuickBooks sandbox sends webhooks to ``QBO_SANDBOX_WEBHOOK_URL`` signed with
``QBO_SANDBOX_WEBHOOK_VERIFIER_TOKEN`` (include/sandbox/qbo/webhooks.py). Secrets stay out of argv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

SYSTEMS = ("qbo", "intacct")


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY on Linux; without it every keep-alive request waits ~40 ms
    # (Nagle against the client's delayed ACK), which made each sandbox call cost 44 ms instead of 1.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def _factory(system: str) -> Any:
    if system == "qbo":
        from include.sandbox.qbo.app import create_app
    else:
        from include.sandbox.intacct.app import create_app
    return create_app


async def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from include.sandbox.common import SandboxConfig

    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    systems = SYSTEMS if args.system == "both" else (args.system,)
    ports = {"qbo": args.qbo_port, "intacct": args.intacct_port}
    books = Path(args.books).resolve() if args.books else None
    credentials = json.loads(os.environ.get("QBO_INTACCT_SANDBOX_CREDENTIALS") or "{}")
    options = {"qbo": _qbo_webhook_options()}
    servers: list[uvicorn.Server] = []
    sockets: dict[str, socket.socket] = {}
    described: dict[str, Any] = {}
    for system in systems:
        sock = _bind(args.host, ports[system])
        sockets[system] = sock
        snapshot = books / f"{system}.json" if books else None
        config = SandboxConfig(
            system=system,
            host=args.host,
            port=sock.getsockname()[1],
            state_dir=state_dir,
            snapshot=snapshot if snapshot and snapshot.exists() else None,
            seed=args.seed,
            credentials=dict(credentials.get(system) or {}),
            options=options.get(system, {}),
        )
        app = _factory(system)(config)
        described[system] = app.state.runtime.describe()
        uv_config = uvicorn.Config(app, log_level=args.log_level, access_log=False, lifespan="off")
        servers.append(uvicorn.Server(uv_config))

    info_path = state_dir / "sandbox.json"
    fd = os.open(info_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(described, fh, indent=2)
    print(f"sandboxes ready: {', '.join(systems)}; connection details in {info_path}", flush=True)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: [setattr(s, "should_exit", True) for s in servers])
    await asyncio.gather(*(s.serve(sockets=[sockets[sys_]]) for s, sys_ in zip(servers, systems, strict=True)))


def _qbo_webhook_options() -> dict[str, Any]:
    url = os.environ.get("QBO_SANDBOX_WEBHOOK_URL")
    if not url:
        return {}
    return {"webhook_url": url, "webhook_verifier_token": os.environ.get("QBO_SANDBOX_WEBHOOK_VERIFIER_TOKEN", "")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the sandbox HTTP servers on loopback")
    serve.add_argument("--system", choices=("qbo", "intacct", "both"), default="both")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--qbo-port", type=int, default=0)
    serve.add_argument("--intacct-port", type=int, default=0)
    serve.add_argument("--state-dir", required=True)
    serve.add_argument("--books", help="a folder written by `seed` (qbo.json, intacct.json)")
    serve.add_argument("--seed", type=int, default=0, help="seed for fault draws")
    serve.add_argument("--log-level", default="warning")
    serve.add_argument(
        "--container", action="store_true", help="inside a container: --host may be 0.0.0.0 (its private network)"
    )
    seed = sub.add_parser("seed", help="write deterministic demo books for both sandboxes")
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--scale", default="demo", help="tiny, demo, or a number of invoices")
    seed.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.host not in ("127.0.0.1", "localhost", "::1") and not args.container:
            parser.error("the sandboxes bind to loopback only")
        asyncio.run(_serve(args))
        return 0
    from include.sandbox.books.generate import generate_books

    generate_books(seed=args.seed, scale=args.scale, out=Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
