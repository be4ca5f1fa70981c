"""Lightning checkpoints stored as safetensors instead of pickles.

A Lightning checkpoint is a nested dict of tensors and plain values (model and optimiser state,
loop progress, callback state). :func:`flatten` moves every tensor into a flat safetensors dict
and keeps the rest as a JSON skeleton in the file's metadata; :func:`unflatten` rebuilds it.
Loading never unpickles anything.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from lightning.pytorch.plugins.io import CheckpointIO
from safetensors import safe_open
from safetensors.torch import save_file

from synesthesia.io import atomic_path

_SKELETON_KEY = "synesthesia.skeleton"


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t",
            _seen: dict | None = None) -> Any:
    """JSON-able skeleton of ``obj``; tensors are stored in ``tensors`` under unique keys.

    A tensor object met twice is stored once and referenced twice; tensors that share memory
    with one already stored are copied (safetensors refuses shared storage)."""
    seen = {"ids": {}, "storage": set()} if _seen is None else _seen
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
    if isinstance(node, list):
        return [unflatten(v, tensors) for v in node]
    if isinstance(node, dict):
        if "__tensor__" in node:
            return tensors[node["__tensor__"]]
        if "__map__" in node:
            return {k: unflatten(v, tensors) for k, v in node["__map__"].items()}
        if "__items__" in node:
            return {unflatten(k, tensors): unflatten(v, tensors) for k, v in node["__items__"]}
        if "__tuple__" in node:
            return tuple(unflatten(v, tensors) for v in node["__tuple__"])
        if "__float__" in node:
            return float(node["__float__"])
    return node


def save_nested(obj: dict, path: str | Path) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(obj, tensors)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={_SKELETON_KEY: json.dumps(skeleton)})


def load_nested(path: str | Path, device: str = "cpu") -> dict:
    with safe_open(str(path), framework="pt", device=device) as f:
        meta = f.metadata() or {}
        if _SKELETON_KEY not in meta:
            raise ValueError(f"{path} is not a synesthesia checkpoint (no skeleton metadata)")
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return unflatten(json.loads(meta[_SKELETON_KEY]), tensors)


class SafetensorsCheckpointIO(CheckpointIO):
    """Lightning CheckpointIO plugin writing ``.ckpt`` files in safetensors format, atomically."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Optional[Any] = None) -> None:
        save_nested(checkpoint, path)

    def load_checkpoint(self, path, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> dict[str, Any]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        return load_nested(path)

    def remove_checkpoint(self, path) -> None:
        p = Path(path)
        if p.is_file():
            p.unlink()
