"""The batch every model takes: a dict of tensors plus a dict of per-sample presence masks."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class MultimodalBatch:
    """``data[m]`` is modality ``m``'s tensor ``(B, ...)``; ``masks[m]`` is bool ``(B,)``, True
    where sample b has modality m. A modality missing from ``data`` is absent for every sample.
    ``codes`` holds ground-truth attribute codes ``(B, A)`` when the data has them (the world)."""

    data: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    codes: torch.Tensor | None = None

    def __post_init__(self) -> None:
        sizes = {m: len(x) for m, x in self.data.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"modalities disagree on batch size: {sizes}")
        n = len(self)
        for m in self.data:
            if m not in self.masks:
                self.masks[m] = torch.ones(n, dtype=torch.bool, device=self.data[m].device)

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.data)

    def to(self, device) -> MultimodalBatch:
        return MultimodalBatch({m: x.to(device) for m, x in self.data.items()},
                               {m: x.to(device) for m, x in self.masks.items()},
                               None if self.codes is None else self.codes.to(device))

    def select(self, modalities) -> MultimodalBatch:
        """The same samples with only ``modalities`` kept."""
        return MultimodalBatch({m: self.data[m] for m in modalities if m in self.data},
                               {m: self.masks[m] for m in modalities if m in self.data}, self.codes)
