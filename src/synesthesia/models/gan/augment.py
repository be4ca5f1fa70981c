"""Differentiable augmentation (DiffAugment; Zhao et al., 2020, "Differentiable Augmentation for
Data-Efficient GAN Training").

The same random transforms are applied to every image the discriminator sees, real and generated,
in both players' steps; they are differentiable, so the generator learns through them. Tensors are
(B, ..., C, H, W) in [0, 1] — images (B, 3, H, W) and videos (B, T, 3, H, W); each sample draws its
own transform, shared by all frames of a video.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def _rand(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform [0, 1) per sample, shaped to broadcast over (B, ...)."""
    return torch.rand((len(x),) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype, generator=generator)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Brightness (+-0.25), saturation (x0..2) and contrast (x0.5..1.5)."""
    x = x + (_rand(x, generator) - 0.5) * 0.5
    grey = x.mean(dim=-3, keepdim=True)
    x = (x - grey) * (_rand(x, generator) * 2) + grey
    mean = x.mean(dim=(-3, -2, -1), keepdim=True)
    return (x - mean) * (_rand(x, generator) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.125) -> torch.Tensor:
    """Shift by up to ``ratio`` of the side in each direction, filling with zeros."""
    b, h, w = len(x), x.shape[-2], x.shape[-1]
    sy, sx = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device, generator=generator)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device, generator=generator)
    iy = (torch.arange(h, device=x.device)[None, :, None] + dy).clamp(-1, h)      # (B, H, 1)
    ix = (torch.arange(w, device=x.device)[None, None, :] + dx).clamp(-1, w)      # (B, 1, W)
    padded = torch.nn.functional.pad(x.reshape(b, -1, h, w), (1, 1, 1, 1))      # (B, K, H+2, W+2)
    out = padded[torch.arange(b, device=x.device)[:, None, None], :, iy + 1, ix + 1]  # (B, H, W, K)
    return out.permute(0, 3, 1, 2).reshape(x.shape)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ``ratio`` of the side at a random place."""
    b, h, w = len(x), x.shape[-2], x.shape[-1]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    keep = ((ys - cy + ch // 2) < 0) | ((ys - cy + ch // 2) >= ch) | \
           ((xs - cx + cw // 2) < 0) | ((xs - cx + cw // 2) >= cw)                  # (B, H, W)
    return x * keep.view((b,) + (1,) * (x.dim() - 3) + (h, w)).to(x.dtype)


AUGMENTS: dict[str, Callable[..., torch.Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policies: Sequence[str], generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the named policies in order (none: ``x`` unchanged)."""
    for p in policies:
        x = AUGMENTS[p](x, generator)
    return x
