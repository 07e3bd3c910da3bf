"""The ``billport`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from portal.sandbox import create_sandbox_app

    app = create_sandbox_app(args.state)
    print(f"Stripe sandbox on http://{args.host}:{args.port} (keys: sk_test_<name>)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billport", description="Billport billing portal")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    sandbox = commands.add_parser("sandbox", help="run the Stripe-compatible sandbox server")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=12111)
    sandbox.add_argument("--state", default=None, help="file that keeps accounts across restarts")
    sandbox.set_defaults(run=_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
