"""The ``synesthesia`` command. Each command group registers itself from its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# command group -> module with a ``register(subparsers)`` function
COMMAND_MODULES: dict[str, str] = {
    "world": "synesthesia.world.commands",
    "data": "synesthesia.data.commands",
    "models": "synesthesia.commands",
    "evaluate": "synesthesia.evaluation.commands",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synesthesia",
        description="Multimodal generative models: any modality from any subset of the others.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES.values():
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from synesthesia.errors import SynesthesiaError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SynesthesiaError, FileExistsError, FileNotFoundError) as err:
        print(f"synesthesia: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
