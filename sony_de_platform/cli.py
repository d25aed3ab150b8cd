"""The `sony-de` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sony_de_platform.settings import Engine, Settings, SettingsError, get_settings


def _positive_scale(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("scale must be greater than 0")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sony-de", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write deterministic landing data")
    generate.add_argument("--scale", type=_positive_scale, default=1.0)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--out", type=Path, help="folder (default: the landing folder)")

    demo = commands.add_parser("demo", help="replay generated data through every asset")
    demo.add_argument("--scale", type=_positive_scale, default=1.0)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--waves", type=int, default=3, help="deliveries of landing files")

    commands.add_parser("stats", help="print the Key Stats of the current warehouse")
    commands.add_parser("streams", help="print the CDC streams' status (SHOW STREAMS)")

    snowflake = commands.add_parser("snowflake", help="Snowflake account objects and access")
    snowflake_commands = snowflake.add_subparsers(dest="snowflake_command", required=True)
    deploy = snowflake_commands.add_parser(
        "deploy",
        help="create or converge the warehouse, database, schemas, roles, masking and grants",
    )
    deploy.add_argument(
        "--dry-run", action="store_true", help="print the SQL script and connect to nothing"
    )
    snowflake_commands.add_parser(
        "access-table", help="print the access table (role x schema) the grants derive from"
    )
    return parser


def _snowflake(args: argparse.Namespace, settings: Settings) -> int:
    from sony_de_platform.governance.access import access_table_markdown
    from sony_de_platform.governance.snowflake_deploy import (
        DeployError,
        DeployTarget,
        deploy_plan,
        render_script,
        run_deploy,
    )

    if args.snowflake_command == "access-table":
        print(access_table_markdown())
        return 0
    target = DeployTarget.from_settings(settings)
    plan = deploy_plan(target)
    if args.dry_run:
        print(render_script(target, plan), end="")
        return 0
    if settings.engine is not Engine.SNOWFLAKE:
        print(
            "sony-de: deploying needs SONY_DE_TARGET=snowflake and the SNOWFLAKE_* variables "
            "(see README, Settings); --dry-run prints the script without them",
            file=sys.stderr,
        )
        return 2
    from sony_de_platform.warehouse import open_warehouse

    try:
        with open_warehouse(settings) as warehouse, warehouse.session() as session:
            executed = run_deploy(session, plan, print)
    except DeployError as error:
        print(f"sony-de: {error}", file=sys.stderr)
        return 1
    print(f"deployed: {executed} statements into {target.database}")
    return 0


def settings_or_exit(prog: str) -> Settings:
    """The process's settings; a bad one ends the command with its message and status 2."""
    try:
        return get_settings()
    except SettingsError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_or_exit("sony-de")

    if args.command == "generate":
        from sony_de_platform.synthetic import generate_landing_data

        out = args.out or settings.landing_dir
        manifest = generate_landing_data(out, scale=args.scale, seed=args.seed)
        print(json.dumps({"out": str(out), "files": len(manifest["files"])}))
        return 0

    if args.command == "demo":
        from sony_de_platform.demo import run_demo

        stats = run_demo(settings, args.scale, args.seed, args.waves)
        print(stats.as_markdown())
        return 0

    if args.command == "streams":
        from sony_de_platform.cdc.status import streams_report

        print(streams_report(settings))
        return 0
    if args.command == "snowflake":
        return _snowflake(args, settings)

    from sony_de_platform.governance.key_stats import current_key_stats

    print(current_key_stats(settings).as_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
