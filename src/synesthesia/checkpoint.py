"""Resumable state on disk, without pickles: nested checkpoints as safetensors, the random
number generators' states, and signals that stop a loop at the end of a step.

A checkpoint is a nested dict of tensors and plain values (model and optimiser state, loop
progress, random states). :func:`flatten` moves every tensor into a flat safetensors dict and
keeps the rest as a JSON skeleton in the file's metadata; :func:`unflatten` rebuilds it.
:func:`save_nested` writes atomically (:mod:`synesthesia.io`); :func:`load_nested` never
unpickles anything and refuses a file that is not such a checkpoint with a
:class:`CheckpointError`.

:func:`random_state` / :func:`set_random_state` capture and restore torch's, numpy's and Python's
generators; :class:`StopSignals` turns SIGTERM and SIGINT into a request to stop after the
current step, so a loop can save its state and end cleanly (:class:`Interrupted`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from synesthesia.errors import SynesthesiaError
from synesthesia.io import atomic_path, write_text_atomic

_SKELETON_KEY = "synesthesia.skeleton"
MAX_SKELETON_CHARS = 64 << 20        # the JSON part of a checkpoint (loop and optimiser settings)


class CheckpointError(SynesthesiaError):
    """A checkpoint file is missing, damaged or not one of ours; the message says what to do."""


class Interrupted(Exception):
    """A loop stopped on SIGTERM or SIGINT after saving its state; ``resume`` says how to go on."""

    def __init__(self, signame: str, step: int, checkpoint: Path | str, resume: str = "") -> None:
        self.signame, self.step, self.checkpoint, self.resume = signame, step, Path(checkpoint), resume
        super().__init__(f"stopped by {signame} after step {step}; its state is saved in {checkpoint}"
                         + (f"; continue with: {resume}" if resume else ""))


# -- nested checkpoints ----------------------------------------------------------------------------
def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t",
            _seen: dict | None = None) -> Any:
    """JSON-able skeleton of ``obj``; tensors are stored in ``tensors`` under unique keys.

    A tensor object met twice is stored once and referenced twice; tensors that share memory
    with one already stored are copied (safetensors refuses shared storage)."""
    seen = {"ids": {}, "storage": set()} if _seen is None else _seen
    if isinstance(obj, np.ndarray):
        obj = torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, torch.Tensor):
        if id(obj) in seen["ids"]:
            return {"__tensor__": seen["ids"][id(obj)]}
        t = obj.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        if ptr is not None and ptr in seen["storage"]:
            t = t.clone()
            ptr = t.untyped_storage().data_ptr()
        seen["storage"].add(ptr)
        tensors[prefix] = t
        seen["ids"][id(obj)] = prefix
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__map__": {k: flatten(v, tensors, f"{prefix}.{k}", seen) for k, v in obj.items()}}
        return {"__items__": [[flatten(k, tensors, f"{prefix}.k{i}", seen),
                               flatten(v, tensors, f"{prefix}.{i}", seen)]
                              for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        items = [flatten(v, tensors, f"{prefix}.{i}", seen) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix} in a safetensors checkpoint")


def unflatten(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The nested object :func:`flatten` described; a reference to a tensor the file lacks, or a
    malformed node, is a :class:`CheckpointError`."""
    if isinstance(node, list):
        return [unflatten(v, tensors) for v in node]
    if isinstance(node, dict):
        if "__tensor__" in node:
            key = node["__tensor__"]
            if not isinstance(key, str) or key not in tensors:
                raise CheckpointError(f"the checkpoint refers to a tensor {str(key)[:60]!r} it does not hold")
            return tensors[key]
        if "__map__" in node and isinstance(node["__map__"], dict):
            return {k: unflatten(v, tensors) for k, v in node["__map__"].items()}
        if "__items__" in node and isinstance(node["__items__"], list):
            items = [pair for pair in node["__items__"] if isinstance(pair, list) and len(pair) == 2]
            if len(items) != len(node["__items__"]):
                raise CheckpointError("the checkpoint's description holds a malformed mapping")
            try:
                return {unflatten(k, tensors): unflatten(v, tensors) for k, v in items}
            except TypeError:
                raise CheckpointError("the checkpoint's description holds an unusable mapping key") from None
        if "__tuple__" in node and isinstance(node["__tuple__"], list):
            return tuple(unflatten(v, tensors) for v in node["__tuple__"])
        if "__float__" in node and node["__float__"] in ("nan", "inf", "-inf"):
            return float(node["__float__"])
        raise CheckpointError(f"the checkpoint's description holds an unknown node {sorted(node)[:3]}")
    return node


def save_nested(obj: dict, path: str | Path) -> None:
    """Write ``obj`` as a safetensors checkpoint, under a temporary name renamed into place."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(obj, tensors)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={_SKELETON_KEY: json.dumps(skeleton)})


def save_module(folder: str | Path, stem: str, module: torch.nn.Module, info: dict, fmt: int) -> Path:
    """``folder/STEM.safetensors`` (the module's weights, tagged with ``fmt``), then
    ``folder/STEM.json`` (``info`` with ``format: fmt``), written last so that its presence marks a
    complete folder. Used by the evaluation's trained judges and scorers."""
    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(folder / f"{stem}.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": str(fmt)})
    write_text_atomic(folder / f"{stem}.json", json.dumps({"format": fmt, **info}, indent=2) + "\n")
    return folder


def read_module_info(folder: str | Path, stem: str, fmt: int, error: type[Exception], what: str,
                     how: str) -> dict:
    """The JSON a :func:`save_module` folder describes itself with, or ``error`` when the folder
    is incomplete (``how``: how to make one) or of another format than ``fmt``."""
    folder = Path(folder)
    weights, info_path = folder / f"{stem}.safetensors", folder / f"{stem}.json"
    if not weights.is_file() or not info_path.is_file():
        raise error(f"{folder} holds no complete {what} ({weights.name} and {info_path.name}); {how}")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if info.get("format") != fmt:
        raise error(f"{folder} holds a {what} of format {info.get('format')}; this version reads {fmt}: "
                    "train it again")
    return info


def load_nested(path: str | Path, device: str = "cpu") -> dict:
    """The object :func:`save_nested` wrote to ``path``; anything else (a pickle, a truncated or
    altered file, another program's safetensors) is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device=device) as f:
            meta = f.metadata() or {}
            if _SKELETON_KEY not in meta:
                raise CheckpointError(f"{path} is not a synesthesia checkpoint (no skeleton metadata)")
            if len(meta[_SKELETON_KEY]) > MAX_SKELETON_CHARS:
                raise CheckpointError(f"{path}: the checkpoint's description is larger than "
                                      f"{MAX_SKELETON_CHARS >> 20} MB; it is not one of ours")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        skeleton = json.loads(meta[_SKELETON_KEY])
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{path} is not a readable checkpoint ({str(err)[:120]}); synesthesia never "
                              "loads pickles: resume from an earlier checkpoint or train again") from None
    if not isinstance(skeleton, dict):
        raise CheckpointError(f"{path} is not a synesthesia checkpoint (its description is not a mapping)")
    out = unflatten(skeleton, tensors)
    if not isinstance(out, dict):
        raise CheckpointError(f"{path} is not a synesthesia checkpoint (its description is not a mapping)")
    return out


# -- random states ---------------------------------------------------------------------------------
def random_state() -> dict:
    """The states of torch's CPU generator, numpy's global one and Python's ``random``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                       "gauss": gauss}}


def set_random_state(state: dict) -> None:
    """Restore what :func:`random_state` captured."""
    try:
        torch.set_rng_state(state["torch"].to(torch.uint8))
        n = state["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), int(n["pos"]),
                             int(n["has_gauss"]), float(n["cached"])))
        p = state["python"]
        random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"the checkpoint's random state is damaged ({str(err)[:80]}); "
                              "resume from an earlier checkpoint") from None


def seed_for(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` (the run's seed, a purpose, a step, a rank ...):
    every step's randomness is a function of its index, not of what ran before it."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def seed_all(seed: int) -> None:
    """Seed torch, numpy and Python's ``random`` from one 63-bit seed."""
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


# -- stopping on a signal --------------------------------------------------------------------------
class StopSignals:
    """While entered, SIGTERM and SIGINT set :attr:`received` (the signal's name) instead of
    ending the process, so the loop can finish its step, save and stop. A second SIGINT acts as
    it normally would (Ctrl+C twice stops at once); a second SIGTERM is ignored (a process group
    may receive it twice). Outside the main thread it does nothing.

    ``forward(signum)`` is called on a SIGTERM (to pass it on to child processes)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, forward: Callable[[int], None] | None = None) -> None:
        self.received: str | None = None
        self.forward = forward
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            if signum == signal.SIGINT:              # asked twice: stop at once
                self.__exit__(None, None, None)
                raise KeyboardInterrupt
            return
        self.received = name
        print(f"synesthesia: {name} received; saving the state after this step, then stopping",
              file=sys.stderr, flush=True)
        if self.forward is not None and signum == signal.SIGTERM:
            self.forward(signum)

    def install(self) -> None:
        """(Re)install the handlers (a library may have put its own in their place)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.SIGNALS:
            current = signal.getsignal(signum)
            if current != self._handle:
                self._previous.setdefault(signum, current)
                signal.signal(signum, self._handle)

    def __enter__(self) -> StopSignals:
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}
