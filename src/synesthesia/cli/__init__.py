"""The ``synesthesia`` command. Each command group registers itself from its own module.

One error path: a mistake of the user's (a :class:`~synesthesia.errors.SynesthesiaError`, a missing
or existing file) prints ``synesthesia: error: ...`` and exits with status 2, like a bad option;
anything else is a bug, reported in one line with status 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# command module -> it defines ``register(subparsers)``
COMMAND_MODULES: tuple[str, ...] = (
    "synesthesia.cli.world",
    "synesthesia.cli.data",
    "synesthesia.cli.config",
    "synesthesia.cli.train",
    "synesthesia.cli.prior",
    "synesthesia.cli.generate",
    "synesthesia.cli.evaluate",
    "synesthesia.cli.serve",
)

USER_ERROR, BUG = 2, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synesthesia",
        description="Multimodal generative models: any modality from any subset of the others.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of any error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def _version() -> str:
    from synesthesia import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    from synesthesia.errors import SynesthesiaError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:                        # answered without loading the commands (and torch)
        print(f"synesthesia {_version()}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("SYNESTHESIA_DEBUG") == "1"
    try:
        return int(args.func(args) or 0)
    except (SynesthesiaError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError) as err:
        if debug:
            raise
        print(f"synesthesia: error: {err}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("synesthesia: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            raise
        from synesthesia.io import no_room, room_errno

        if room_errno(err) is not None:                                  # a full disk is not a bug
            print(f"synesthesia: error: {no_room(err, err.filename or 'a file')}", file=sys.stderr)
            return USER_ERROR
        print(f"synesthesia: internal error: {type(err).__name__}: {str(err)[:300]} "
              "(run again with --debug for the traceback, and please report it)", file=sys.stderr)
        return BUG


if __name__ == "__main__":
    sys.exit(main())
