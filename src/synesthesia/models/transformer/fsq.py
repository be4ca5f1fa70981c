"""Finite scalar quantisation (FSQ; Mentzer et al., 2023, "Finite Scalar Quantization: VQ-VAE
Made Simple").

Each of the d latent channels is squashed into a bounded range and rounded to one of L_i
levels, so the implicit codebook is the grid of prod(L_i) points: no codebook to learn, no
commitment loss, no collapse. Gradients pass the rounding straight through.

Shapes: z (..., d); codes (..., d) on the grid, normalised to [-1, 1]; indices (...) int64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class FSQ(nn.Module):
    def __init__(self, levels: Sequence[int], eps: float = 1e-3) -> None:
        super().__init__()
        levels_t = torch.tensor(list(levels), dtype=torch.long)
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), levels_t[:-1]]), 0)
        self.register_buffer("levels", levels_t, persistent=False)
        self.register_buffer("basis", basis, persistent=False)
        self.register_buffer("half_width", (levels_t // 2).float(), persistent=False)
        self.eps = eps
        self.dim = len(levels)
        self.codebook_size = math.prod(levels)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash z so that rounding gives exactly L levels: (-L/2, L/2) for odd L, shifted by
        half a level for even L."""
        levels = self.levels.to(z.dtype)
        half = (levels - 1) * (1 + self.eps) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def project(self, codes: torch.Tensor) -> torch.Tensor:
        """The nearest grid point of normalised codes (idempotent: project(project(c)) ==
        project(c))."""
        return torch.round(codes * self.half_width) / self.half_width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Quantised codes (..., d) in [-1, 1], with straight-through gradients."""
        z = z.float()
        bounded = self.bound(z)
        rounded = bounded + (torch.round(bounded) - bounded).detach()
        return rounded / self.half_width

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        digits = torch.round(codes * self.half_width + self.half_width).long()    # (..., d) in [0, L)
        return (digits * self.basis).sum(-1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        digits = (indices[..., None] // self.basis) % self.levels                 # (..., d)
        return (digits.float() - self.half_width) / self.half_width
