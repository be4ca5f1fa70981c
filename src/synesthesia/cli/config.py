"""``synesthesia config show PRESET|RUN|FILE``: a run config with the meaning of every field."""

from __future__ import annotations

import argparse

from synesthesia.cli.options import add_set


def cmd_show(args: argparse.Namespace) -> int:
    from synesthesia.config import described_yaml
    from synesthesia.runs.config import RunConfig, find_config

    path = find_config(args.config)
    config = RunConfig.from_yaml(path, args.set)
    print(f"# {path}" + (f" with {' '.join(args.set)}" if args.set else ""))
    print("# null: left to the data or to the model's default")
    print(described_yaml(config))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show a config with the meaning of every field",
                       description="Print a run config (a preset name such as 'quickstart' or "
                                   "'joint_vae/l5-32', a YAML file, or a run folder) fully resolved, "
                                   "each field with its meaning; unknown keys and bad values are errors.")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="{show}")
    show = csub.add_parser("show", help="print a config with the meaning of every field",
                           description="Print a config fully resolved, each field with its meaning.")
    show.add_argument("config", help="preset name, YAML file or run folder")
    add_set(show)
    show.set_defaults(func=cmd_show)
