"""Lightning checkpoints stored as safetensors instead of pickles (see
:mod:`synesthesia.checkpoint` for the format). Loading never unpickles anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import CheckpointIO

from synesthesia.checkpoint import flatten, load_nested, save_nested, unflatten

__all__ = ["SafetensorsCheckpointIO", "flatten", "load_nested", "save_nested", "unflatten"]


class SafetensorsCheckpointIO(CheckpointIO):
    """Lightning CheckpointIO plugin writing ``.ckpt`` files in safetensors format, atomically."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        save_nested(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        return load_nested(path)

    def remove_checkpoint(self, path) -> None:
        p = Path(path)
        if p.is_file():
            p.unlink()
