"""Command line: ``python -m sandbox serve ...`` and ``python -m sandbox world generate ...``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from sandbox.config import ConfigError, FaultConfig, SandboxConfig


def _as_of(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--as-of {text!r} is not an ISO 8601 date or datetime") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _faults(args: argparse.Namespace) -> FaultConfig | None:
    data = json.loads(args.faults) if args.faults else {}
    for key, value in (
        ("rate", args.fault_rate),
        ("kinds", args.fault_kinds),
        ("seed", args.fault_seed),
        ("timeout_seconds", args.fault_timeout),
    ):
        if value is not None:
            data[key] = value
    return FaultConfig.from_dict(data) if data else None


def _cmd_serve(args: argparse.Namespace) -> int:
    from sandbox.server import serve  # noqa: PLC0415

    config = (
        SandboxConfig.from_dict(json.loads(args.config), base=SandboxConfig.from_env())
        if args.config
        else SandboxConfig.from_env()
    )
    print(
        f"sandbox APIs on http://{args.host}:{args.port} (world {args.world}, state {args.state})",
        file=sys.stderr,
        flush=True,
    )
    serve(
        args.host,
        args.port,
        Path(args.world),
        Path(args.state),
        _faults(args),
        config=config,
        exit_with_parent=args.exit_with_parent,
    )
    return 0


def _cmd_world(args: argparse.Namespace) -> int:
    from sandbox.world import generate  # noqa: PLC0415

    summary = generate(
        Path(args.out),
        contacts=args.contacts,
        events_per_contact=args.events_per_contact,
        seed=args.seed,
        as_of=args.as_of,
    )
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Fake SaaS APIs and a synthetic world."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the sandbox APIs in the foreground")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--world", required=True, help="world folder (from `world generate`)")
    s.add_argument("--state", required=True, help="folder for the sandbox's state (SQLite, index cache, log)")
    s.add_argument("--faults", help="fault injection as JSON (FaultConfig fields)")
    s.add_argument("--fault-rate", type=float, help="share of API requests that fail (0..1)")
    s.add_argument("--fault-kinds", help="comma-separated: 429,500,503,graph_rate_limit,timeout")
    s.add_argument("--fault-seed", type=int)
    s.add_argument("--fault-timeout", type=float, help="seconds a 'timeout' fault holds the request")
    s.add_argument("--config", help="limits as JSON (SandboxConfig fields), over SANDBOX_* variables")
    s.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    s.set_defaults(func=_cmd_serve)

    w = sub.add_parser("world", help="the synthetic world")
    wsub = w.add_subparsers(dest="action", required=True)
    g = wsub.add_parser("generate", help="write a reproducible synthetic world")
    g.add_argument("--out", required=True, help="folder to write the world into")
    g.add_argument("--contacts", type=int, default=10_000)
    g.add_argument("--events-per-contact", type=int, default=5)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument(
        "--as-of", type=_as_of, default=None, help="the world's 'now' (default 2026-11-01T00:00:00Z)"
    )
    g.set_defaults(func=_cmd_world)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
