"""The ``audience`` command.

audience warehouse uri|start|stop    the warehouse (embedded by default)
audience env                         write .env (warehouse + sandbox) and print it
audience sandbox serve [--port N]    the fake SaaS APIs, in the foreground
audience world generate ...          a synthetic world for the sandbox
audience demo [--contacts N]         the whole pipeline through Airflow, with a summary
audience airflow                     Airflow standalone on this project's DAGs (+ sandbox)
audience dbt-parse                   write dbt_project/target/manifest.json (Cosmos renders from it)
audience bench [--contacts N ...]    the whole pipeline per stage at each size, beside a plain COPY
audience bench-ingest [...]          each loader's rows/s beside a plain COPY of the same rows
audience audiences compile|check|list  the audience catalogue (audiences/*.yml) -> dbt models
audience evaluate                    segments against the synthetic world's planted truth
audience identity normalize --platform facebook|linkedin
                                     JSON lines of contact fields on stdin -> the platform's hashed keys
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from audience.settings import SettingError


def _cmd_warehouse(args: argparse.Namespace) -> int:
    from audience import warehouse  # noqa: PLC0415

    if args.action == "uri":
        print(warehouse.params().uri())
    elif args.action == "start":
        port = warehouse.embedded().start()
        print(f"embedded warehouse running on 127.0.0.1:{port}")
    elif args.action == "stop":
        stopped = warehouse.embedded().stop()
        print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from audience import runtime  # noqa: PLC0415

    path = runtime.write_dotenv()
    print(path.read_text(), end="")
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from audience import runtime  # noqa: PLC0415
    from sandbox.server import serve  # noqa: PLC0415

    world = Path(args.world) if args.world else runtime.world_dir()
    if not (world / "world.json").exists():
        runtime.ensure_world()
    state = Path(args.state) if args.state else runtime.sandbox_state_dir()
    print(f"sandbox APIs on http://{args.host}:{args.port} (world {world})", flush=True)
    serve(args.host, args.port, world, state)
    return 0


def _cmd_world(args: argparse.Namespace) -> int:
    from audience import runtime  # noqa: PLC0415
    from sandbox.world import generate  # noqa: PLC0415

    out = Path(args.out) if args.out else runtime.world_dir()
    out.mkdir(parents=True, exist_ok=True)
    summary = generate(
        out, contacts=args.contacts, events_per_contact=args.events_per_contact, seed=args.seed
    )
    print(f"world written to {out}: {summary}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from audience import demo  # noqa: PLC0415

    return demo.main(contacts=args.contacts)


def _cmd_airflow(args: argparse.Namespace) -> int:
    import subprocess  # noqa: PLC0415

    from audience import demo, runtime  # noqa: PLC0415

    demo.prepare()
    # standalone starts its components as `airflow ...` subprocesses: the venv's bin must be on PATH
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
    with runtime.sandbox_running() as url:
        runtime.relax_sandbox_open_data(url)
        print(f"sandbox APIs at {url}; warehouse {os.environ['AIRFLOW_CONN_WAREHOUSE'].split('@')[-1]}")
        print("Airflow UI: http://localhost:8080 (Ctrl-C stops Airflow and the sandbox)", flush=True)
        try:
            return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=os.environ.copy())
        except KeyboardInterrupt:
            return 0


def _cmd_bench_ingest(args: argparse.Namespace) -> int:
    from audience.bench import main_bench_ingest  # noqa: PLC0415

    return main_bench_ingest(args.rest)


def _cmd_dbt_parse(args: argparse.Namespace) -> int:
    from audience import dbt  # noqa: PLC0415

    print(dbt.ensure_manifest())
    return 0


def _cmd_audiences(args: argparse.Namespace) -> int:
    from audience.audiences.commands import run  # noqa: PLC0415

    return run(args.action, folder=args.catalogue, project_dir=args.project)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from audience import evaluate  # noqa: PLC0415

    return evaluate.main(Path(args.world) if args.world else None)


def _cmd_identity(args: argparse.Namespace) -> int:
    from audience import normalize, warehouse  # noqa: PLC0415

    try:
        normalize.run(
            args.platform,
            stdin=sys.stdin.buffer,
            stdout=sys.stdout,
            reasons=args.reasons,
            chunk_lines=args.chunk_lines,
            as_of=args.as_of,
        )
    except (normalize.NormalizeError, warehouse.WarehouseError) as exc:
        print(f"audience identity normalize: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader stopped early (`| head`): not an error; keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audience", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("warehouse", help="the warehouse connection and the embedded server")
    p.add_argument("action", choices=["uri", "start", "stop"])
    p.set_defaults(func=_cmd_warehouse)

    p = sub.add_parser("env", help="write .env for dbt and Airflow and print it")
    p.set_defaults(func=_cmd_env)

    p = sub.add_parser("sandbox", help="the fake SaaS APIs")
    sp = p.add_subparsers(dest="action", required=True)
    s = sp.add_parser("serve", help="serve in the foreground")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--world", help="world folder (default .local/world, generated if missing)")
    s.add_argument("--state", help="state folder (default .local/sandbox)")
    s.set_defaults(func=_cmd_sandbox)

    p = sub.add_parser("world", help="the synthetic world")
    sp = p.add_subparsers(dest="action", required=True)
    g = sp.add_parser("generate", help="write a reproducible synthetic world")
    g.add_argument("--contacts", type=int, default=10_000)
    g.add_argument("--events-per-contact", type=int, default=5)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--out", help="folder (default .local/world)")
    g.set_defaults(func=_cmd_world)

    p = sub.add_parser("demo", help="run the whole pipeline through Airflow and print a summary")
    p.add_argument(
        "--contacts", type=int, default=None, help="contacts in the synthetic world (default 10000)"
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("airflow", help="Airflow standalone on this project's DAGs, with the sandbox")
    p.set_defaults(func=_cmd_airflow)

    p = sub.add_parser(
        "bench",
        help="the whole pipeline, per stage, at each size, beside a plain COPY (options: --help)",
        add_help=False,
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)

    p = sub.add_parser(
        "bench-ingest",
        help="loader rows/s beside a plain COPY of the same rows (options: --help)",
        add_help=False,
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_bench_ingest)

    p = sub.add_parser("audiences", help="check the audience catalogue and compile it into dbt models")
    p.add_argument(
        "action",
        choices=["compile", "check", "list"],
        help="compile: write the generated models; check: exit 2 if invalid or stale; list",
    )
    p.add_argument("--catalogue", type=Path, help="catalogue folder (default audiences/)")
    p.add_argument("--project", type=Path, help="dbt project (default dbt_project/)")
    p.set_defaults(func=_cmd_audiences)

    p = sub.add_parser(
        "evaluate", help="ARI, AUC and merge rate against the world's planted truth (after demo)"
    )
    p.add_argument("--world", help="world folder (default .local/world, the demo's)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "bench-sync",
        help="sync speed and requests beside the SDK's add_users (options: --help)",
        add_help=False,
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)

    p = sub.add_parser("identity", help="identifier normalisation, the warehouse's rules as a tool")
    sp = p.add_subparsers(dest="action", required=True)
    n = sp.add_parser(
        "normalize",
        help="JSON lines of contact fields on stdin -> one JSON line of the platform's keys per input line",
    )
    n.add_argument("--platform", required=True, choices=["facebook", "linkedin"])
    n.add_argument(
        "--reasons",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add _reasons: why each given value came out empty (default: on)",
    )
    n.add_argument("--chunk-lines", type=int, default=10_000, help="lines per warehouse round trip")
    n.add_argument(
        "--as-of",
        help="date birth dates are checked against, YYYY-MM-DD (default AUDIENCE_AS_OF_DATE, else today)",
    )
    n.set_defaults(func=_cmd_identity)

    p = sub.add_parser("dbt-parse", help="write the dbt manifest Cosmos renders the DAG from")
    p.set_defaults(func=_cmd_dbt_parse)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench-sync"]:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        from audience.bench_sync import main as main_bench_sync  # noqa: PLC0415

        return int(main_bench_sync(argv[1:]) or 0)
    if argv[:1] == ["bench"]:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        from audience.bench_pipeline import main as main_bench  # noqa: PLC0415

        return main_bench(argv[1:])
    if argv[:1] == ["bench-ingest"]:
        # its options belong to the benchmark's own parser (argparse's REMAINDER drops leading flags)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        from audience.bench import main_bench_ingest  # noqa: PLC0415

        return main_bench_ingest(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("audience").setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
    except SettingError as exc:
        print(f"audience: bad setting: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
