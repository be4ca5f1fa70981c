"""A memory of training conditions, saved with the weights.

A conditional GAN models p(x | c) only. To sample unconditionally — a joint sample (c, x), or x
from the marginal — it draws c from this bank, the empirical distribution of the last ``size``
training conditions, and then x ~ p_G(x | c): ancestral sampling of p(c) p_G(x | c). A condition
modality asked for unconditionally (e.g. the caption of a joint image-caption sample) is the
remembered condition itself, not a generated one.

Rows are kept in the data store's compact dtypes (uint8 pixels, float16 features, integer
tokens); a modality's buffer is created on first use and re-created from a state dict on load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from synesthesia.data.store import compact, expand


class ConditionBank(nn.Module):
    """Ring buffer of ``size`` rows over the modalities ``names``: ``x_<m>`` (size, *shape_m) and
    ``present_<m>`` bool (size,); ``count`` rows were added in all."""

    def __init__(self, names: Sequence[str], size: int) -> None:
        super().__init__()
        self.names, self.size = list(names), int(size)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def filled(self) -> int:
        return min(int(self.count), self.size)

    def _ensure(self, m: str, like: torch.Tensor) -> None:
        if not hasattr(self, f"x_{m}"):
            self.register_buffer(f"x_{m}", torch.zeros((self.size, *like.shape[1:]), dtype=like.dtype,
                                                       device=like.device))
            self.register_buffer(f"present_{m}", torch.zeros(self.size, dtype=torch.bool, device=like.device))

    @torch.no_grad()
    def add(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None) -> None:
        """Remember the rows of a batch (the newest ``size`` of them if it is larger)."""
        if self.size == 0 or not data:
            return
        b = len(next(iter(data.values())))
        n = min(b, self.size)
        pos = (int(self.count) + torch.arange(n)) % self.size
        for m in self.names:
            if m in data:
                x = compact(m, data[m][b - n:].detach())
                self._ensure(m, x)
                getattr(self, f"x_{m}")[pos.to(x.device)] = x.to(getattr(self, f"x_{m}").dtype)
                mask = masks.get(m) if masks else None
                present = torch.ones(n, dtype=torch.bool, device=x.device) if mask is None else mask[b - n:]
                getattr(self, f"present_{m}")[pos.to(x.device)] = present.to(x.device)
            elif hasattr(self, f"present_{m}"):
                getattr(self, f"present_{m}")[pos.to(self.count.device)] = False
        self.count += b

    def sample(self, n: int, generator: torch.Generator | None = None
               ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``n`` remembered rows drawn uniformly with replacement, in model form, and their
        presence masks."""
        device = self.count.device if generator is None else generator.device
        idx = torch.randint(0, self.filled, (n,), generator=generator, device=device)
        data, present = {}, {}
        for m in self.names:
            if hasattr(self, f"x_{m}"):
                buf = getattr(self, f"x_{m}")
                data[m] = expand(buf[idx.to(buf.device)].clone())
                present[m] = getattr(self, f"present_{m}")[idx.to(buf.device)]
        return data, present

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        for m in self.names:
            key = f"{prefix}x_{m}"
            if key in state_dict and not hasattr(self, f"x_{m}"):
                self._ensure(m, state_dict[key][:1].to(self.count.device))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
