"""Arguments the commands share, so the command line speaks one vocabulary: config keys are the
flags (``--set key=value`` on every command that reads a config, and flags generated from the
typed sections, ``--image-size`` for ``image_size``), every output folder is ``--out``, and every
choice comes from its registry."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synesthesia.config import ConfigError, convert, field_docs
from synesthesia.errors import shown


def add_set(p: argparse.ArgumentParser, example: str = "train.lr=3e-4") -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a config value (repeatable), e.g. --set {example}")


def add_out(p: argparse.ArgumentParser, what: str, required: bool = True, overwrite: str | None = None,
            default: str | None = None) -> None:
    """``--out`` (``-o``) and, when ``overwrite`` says what it replaces, ``--overwrite``."""
    p.add_argument("-o", "--out", type=Path, required=required and default is None, default=default,
                   help=what + (f" (default {default})" if default else ""))
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help=overwrite)


def add_routes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--route", action="append", default=[], metavar="DIRECTION=RUN",
                   help="send a direction to one of the runs, e.g. --route 'text->image=runs/gan' (repeatable)")


def routes(items: Iterable[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--route takes DIRECTION=RUN, e.g. 'text->image=runs/gan'; got {shown(item)}")
        direction, run = item.split("=", 1)
        out[direction.strip()] = run.strip()
    return out


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar(tp: Any) -> Any:
    """The non-None member of ``X | None``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if args else tp


def add_section_arguments(p: argparse.ArgumentParser, cls: type, skip: Iterable[str] = (),
                          choices: dict[str, Iterable] | None = None, dest_prefix: str = "") -> list[str]:
    """One flag per field of the dataclass ``cls`` (``--field-name``, help from the field's
    comment, default None = not given); returns the fields added. Values are checked by the
    section itself when it is built (:func:`section_values`)."""
    docs, hints, added = field_docs(cls), typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        tp = _scalar(hints[f.name])
        kind = typing.get_origin(tp)
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = docs.get(f.name, "") + (f" (default {_show_default(default)})" if default not in (None, ()) else "")
        dest = dest_prefix + f.name
        if tp is bool:
            p.add_argument(flag(f.name), dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif kind in (list, tuple):
            p.add_argument(flag(f.name), dest=dest, default=None, metavar="A,B,...",
                           type=lambda s: [v.strip() for v in s.split(",") if v.strip()], help=help_text)
        else:
            p.add_argument(flag(f.name), dest=dest, default=None, help=help_text,
                           choices=[str(c) for c in (choices or {}).get(f.name, [])] or None,
                           metavar=None if f.name in (choices or {}) else f.name.upper())
        added.append(f.name)
    return added


def _show_default(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def section_values(args: argparse.Namespace, cls: type, names: Iterable[str], dest_prefix: str = "") -> dict:
    """The given flags of :func:`add_section_arguments`, converted to the fields' types."""
    hints = typing.get_type_hints(cls)
    out = {}
    for name in names:
        value = getattr(args, dest_prefix + name, None)
        if value is not None:
            out[name] = convert(value, hints[name], flag(name))
    return out


def add_generation_options(p: argparse.ArgumentParser, steps: int | None = None) -> None:
    """The generation options of :class:`synesthesia.pipeline.Options` as flags, with
    ``--temperature`` and ``--no-expand``; choices read from the registries."""
    from synesthesia.models.transformer.config import DECODINGS
    from synesthesia.pipeline import Options
    from synesthesia.pipeline.run import PRIORS
    from synesthesia.sampling.registry import SAMPLERS

    p.add_argument("--temperature", type=float, default=1.0,
                   help="scale of the sampling noise (default 1; 0: the most likely output)")
    add_section_arguments(p, Options, dest_prefix="opt_", choices={
        "sampler": list(SAMPLERS), "prior": list(PRIORS), "method": list(DECODINGS)})
    p.add_argument("--no-expand", action="store_true",
                   help="give --text to the model as it is, even when the run has a caption expander")
    if steps is not None:
        p.set_defaults(default_steps=steps)


def generation_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``Pipeline.generate`` the flags of :func:`add_generation_options` ask for."""
    from synesthesia.pipeline import Options

    names = [f.name for f in dataclasses.fields(Options)]
    options = section_values(args, Options, names, dest_prefix="opt_")
    if options.get("sampler") and "steps" not in options and getattr(args, "default_steps", None):
        options["steps"] = args.default_steps
    options["temperature"] = args.temperature
    if args.no_expand:
        options["expand"] = False
    return options
