"""Typed configuration: dataclass sections with a YAML round trip, strict checking, and the
meaning of every field written once, as the comment beside it.

    @dataclass
    class TrainConfig(Section):
        lr: float = 2e-3              # peak learning rate of AdamW

:meth:`Section.from_dict` refuses unknown keys (naming the nearest known one) and values of the
wrong type (an integer field given 6.5, a float given ``nan`` or ``true``) before anything is
written; :func:`field_docs` reads the comments, which ``synesthesia config show`` prints beside
the values. YAML is read with the safe loader only, and within a size limit.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import inspect
import io
import math
import textwrap
import tokenize
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from synesthesia.errors import SynesthesiaError, shown
from synesthesia.io import write_text_atomic

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml's safe loader where built: ~10x faster
MAX_YAML_BYTES = 1 << 20          # a config file is small; refuse anything larger than 1 MB
INT_LIMIT = 2 ** 63               # integers must fit a signed 64-bit value


class ConfigError(SynesthesiaError):
    """A configuration file or override is wrong; the message says which key and why."""


def nearest(name: str, known: Sequence[str]) -> str:
    """``; did you mean 'x'?`` when a known name is close to ``name``, else ''."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# -- field meanings -----------------------------------------------------------------------------
@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """``{field: comment}`` from the comments written beside a dataclass's fields (and its bases')."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        docs.update(_comments(source, {f.name for f in dataclasses.fields(klass)}))
    return docs


def _comments(source: str, names: set[str]) -> dict[str, str]:
    """Comments on the lines of the class body that start with ``field:`` (the field lines)."""
    out: dict[str, str] = {}
    line_name: dict[int, str] = {}
    starts = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT}
    tokens = list(tokenize.generate_tokens(io.StringIO(textwrap.dedent(source)).readline))
    for i, tok in enumerate(tokens[1:-1], 1):
        first = tokens[i - 1].type in starts
        if first and tok.type == tokenize.NAME and tok.string in names and tokens[i + 1].string == ":":
            line_name.setdefault(tok.start[0], tok.string)
        elif tok.type == tokenize.COMMENT and tok.start[0] in line_name:
            out.setdefault(line_name[tok.start[0]], tok.string.lstrip("#").strip())
    return out


# -- checking and converting values -----------------------------------------------------------
def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, dict):
        return f"a {'mapping' if origin is dict else 'list'} of {_type_name(args[-1]) if args else 'values'}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` as type ``tp`` (YAML 1.1 reads ``3e-4`` as a string: numeric strings become
    numbers), or a :class:`ConfigError` naming ``where`` and the type expected."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in (a for a in args if a is not type(None)):
            try:
                return convert(value, a, where)
            except ConfigError:
                continue
        raise _bad(value, tp, where)
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where} must be one of {', '.join(map(repr, args))}; got {shown(value)}{nearest(value, args)}")
    if isinstance(tp, type) and issubclass(tp, Section):
        return tp.from_dict(value, where)
    if tp in _SCALARS:
        return _SCALARS[tp](value, tp, where)
    if origin in (list, tuple, dict):
        return _container(value, tp, where)
    return value


def _bad(value: Any, tp: Any, where: str) -> ConfigError:
    return ConfigError(f"{where} must be {_type_name(tp)}; got {shown(value)}")


def _to_bool(value: Any, tp: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _bad(value, tp, where)


def _to_int(value: Any, tp: Any, where: str) -> int:
    if isinstance(value, str):                       # YAML 1.1 reads 2e8 as a string
        try:
            value = float(value.replace("_", "")) if any(c in value for c in ".eE") else int(value.replace("_", ""))
        except ValueError:
            raise _bad(value, tp, where) from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(value, tp, where)
    if not -INT_LIMIT < value < INT_LIMIT:
        raise ConfigError(f"{where} is out of range (|value| < 2**63); got {value}")
    return value


def _to_float(value: Any, tp: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _bad(value, tp, where) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(value, tp, where)
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number; got {value}")
    return float(value)


def _to_str(value: Any, tp: Any, where: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _bad(value, tp, where)
    return value


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _container(value: Any, tp: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _bad(value, tp, where)
        item = args[1] if len(args) == 2 else Any
        return {str(k): convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, str) and origin is tuple:
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise _bad(value, tp, where)
    item = args[0] if args else Any
    out = [convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(out) if origin is tuple else out


# -- sections ----------------------------------------------------------------------------------
class Section:
    """Mixin of typed config dataclasses: strict ``from_dict``, ``to_dict``, YAML round trip.
    ``error`` is the :class:`ConfigError` subclass a section's mistakes raise."""

    error: typing.ClassVar[type] = ConfigError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = ""):
        prefix = f"{where}." if where else ""
        where = where or cls.__name__
        if data is None:
            data = {}
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise cls.error(f"{where} must be a mapping of keys to values; got {shown(data)}")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = [k for k in data if k not in fields]
        if unknown:
            k = unknown[0]
            raise cls.error(f"unknown key {k!r} in {where}{nearest(k, list(fields))} "
                              f"(known keys: {', '.join(fields)})")
        hints = typing.get_type_hints(cls)
        try:
            kwargs = {k: convert(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
        except ConfigError as err:
            raise (err if isinstance(err, cls.error) else cls.error(str(err))) from None
        try:
            return cls(**kwargs)
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:
            raise cls.error(f"bad value in {where}: {err}") from err

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_yaml(self, path: str | Path) -> Path:
        return write_text_atomic(path, dump_yaml(self.to_dict()))

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()):
        return cls.from_dict(apply_overrides(load_yaml(path), overrides))

    @classmethod
    def docs(cls) -> dict[str, str]:
        return field_docs(cls)


ModelConfig = Section          # the ``model`` section of a family (kept as a name for readability)


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_dict(obj) -> dict:
    return obj.to_dict() if isinstance(obj, Section) else dataclasses.asdict(obj)


# -- YAML --------------------------------------------------------------------------------------
def dump_yaml(data: Mapping) -> str:
    return yaml.safe_dump(_plain(dict(data)), sort_keys=False)


def parse_yaml(text: str, where: str) -> Any:
    """Safe YAML (no tags that build objects), or a :class:`ConfigError` naming ``where``."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where} is {len(text):,} bytes; a config is at most {MAX_YAML_BYTES:,}")
    try:
        loader = SAFE_LOADER(text)                     # what yaml.safe_load does, through libyaml
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise ConfigError(f"{where} is not valid YAML (only plain values; no !!python tags): "
                          f"{str(err)[:300]}") from None


def load_yaml(path: str | Path) -> dict:
    """A config file's top-level mapping, read safely."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; presets live in configs/ "
                          "(synesthesia config show PRESET prints one)")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_YAML_BYTES:,} bytes; it is not a config")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; it is not a config") from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping (key: value lines) at the top level")
    return data


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested dict copy."""
    out = copy.deepcopy(dict(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set takes key=value (e.g. train.lr=3e-4), got {shown(item)}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if len(raw) <= MAX_YAML_BYTES else raw
        except yaml.YAMLError:
            value = raw
        parts = [p for p in key.strip().split(".")]
        if not all(parts):
            raise ConfigError(f"--set {shown(item)}: the key must be dotted names, e.g. train.lr")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {shown(item)}: {p!r} is not a section")
        node[parts[-1]] = value
    return out


def described_yaml(section: Section, indent: int = 0) -> str:
    """The section as YAML with each field's meaning as a comment (``synesthesia config show``)."""
    docs = field_docs(type(section))
    lines: list[str] = []
    pad = " " * indent
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        note = f"  # {docs[f.name]}" if f.name in docs else ""
        if isinstance(value, Section):
            lines.append(f"{pad}{f.name}:{note}")
            lines.append(described_yaml(value, indent + 2))
        elif isinstance(value, dict) and value and all(isinstance(v, Section) for v in value.values()):
            lines.append(f"{pad}{f.name}:{note}")
            for k, v in value.items():
                lines.append(f"{pad}  {k}:")
                lines.append(described_yaml(v, indent + 4))
        else:
            text = yaml.safe_dump(_plain(value), default_flow_style=True, width=10_000).strip()
            text = text.removesuffix("\n...").removesuffix("...").strip()
            lines.append(f"{pad}{f.name}: {text}{note}")
    return "\n".join(lines)
