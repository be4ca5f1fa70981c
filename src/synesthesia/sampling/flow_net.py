"""The velocity network of the flow prior: v(z_t, t, condition), a residual MLP modulated by the
time and by an embedding of any subset of the condition modalities.

Each condition modality m arrives as a vector (for a joint VAE: its expert's mean and log-variance,
``2 * condition_dim`` numbers) with a presence mask; a present one is embedded by its own small
MLP, an absent one is replaced by a learned null embedding, so every subset (the empty one too)
is a valid condition and an absent modality's values never reach the output.

Shapes: z (B, D); t (B,); condition (M, B, C2) with mask (M, B) bool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from synesthesia.config import ConfigError, ModelConfig


@dataclass
class FlowPriorConfig(ModelConfig):
    """Shape of a flow prior over a D-dimensional latent, conditional on named modalities."""

    latent_dim: int = 48                     # D: dimensions of the latent the flow models
    modalities: list[str] = field(default_factory=list)   # condition modalities, in the order of their rows
    condition_dim: int = 96                  # numbers per condition modality (a VAE expert: mean and log-variance)
    hidden: int = 256                        # width of the residual MLP
    blocks: int = 4                          # residual blocks
    time_features: int = 64                  # sinusoidal features of t

    def __post_init__(self) -> None:
        for name in ("latent_dim", "condition_dim", "hidden", "time_features"):
            if getattr(self, name) < 1:
                raise ConfigError(f"flow prior: {name} must be positive, got {getattr(self, name)}")
        if self.blocks < 0:
            raise ConfigError(f"flow prior: blocks must be >= 0, got {self.blocks}")
        if len(set(self.modalities)) != len(self.modalities):
            raise ConfigError(f"flow prior: modalities repeat: {self.modalities}")


def time_features(t: torch.Tensor, n: int) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1]: (B,) -> (B, n), frequencies from 1 to 1,000."""
    half = n // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, device=t.device))
    angles = 2 * math.pi * t[:, None] * freqs[None]
    out = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return out if n % 2 == 0 else torch.cat([out, t[:, None]], dim=-1)


class ModulatedBlock(nn.Module):
    """h + gate * MLP(LayerNorm(h) * (1 + scale) + shift), with (scale, shift, gate) from c."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.modulation = nn.Linear(hidden, 3 * hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift, gate = self.modulation(c).chunk(3, dim=-1)              # (B, H) each
        return h + (1 + gate) * self.mlp(self.norm(h) * (1 + scale) + shift)


class ConditionEmbedding(nn.Module):
    """Any subset of M condition vectors -> one (B, H) embedding; absent rows use learned nulls."""

    def __init__(self, modalities: int, condition_dim: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.ModuleList(nn.Sequential(nn.Linear(condition_dim, hidden), nn.SiLU(),
                                                 nn.Linear(hidden, hidden)) for _ in range(modalities))
        self.null = nn.Parameter(torch.zeros(max(modalities, 1), hidden))
        self.mix = nn.Linear(max(modalities, 1) * hidden, hidden)

    def forward(self, condition: torch.Tensor, mask: torch.Tensor, batch: int) -> torch.Tensor:
        parts = []
        for i, embed in enumerate(self.embed):
            present = mask[i][:, None]                                         # (B, 1)
            e = embed(torch.where(present, condition[i], torch.zeros_like(condition[i])))
            parts.append(torch.where(present, e, self.null[i].expand_as(e)))
        if not parts:                                                          # an unconditional flow
            parts = [self.null[0].expand(batch, -1)]
        return self.mix(torch.cat(parts, dim=-1))                              # (B, H)


class VelocityNet(nn.Module):
    """v(z_t, t, condition) of the rectified flow from N(0, I) (t = 0) to the data (t = 1)."""

    def __init__(self, config: FlowPriorConfig) -> None:
        super().__init__()
        h = config.hidden
        self.config = config
        self.time = nn.Sequential(nn.Linear(config.time_features, h), nn.SiLU(), nn.Linear(h, h))
        self.condition = ConditionEmbedding(len(config.modalities), config.condition_dim, h)
        self.inp = nn.Linear(config.latent_dim, h)
        self.blocks = nn.ModuleList(ModulatedBlock(h) for _ in range(config.blocks))
        self.out_norm = nn.LayerNorm(h, elementwise_affine=False)
        self.out = nn.Linear(h, config.latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, t: torch.Tensor, condition: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        c = self.time(time_features(t, self.config.time_features))            # (B, H)
        c = nn.functional.silu(c + self.condition(condition, mask, len(z)))
        h = self.inp(z)                                                        # (B, H)
        for block in self.blocks:
            h = block(h, c)
        return self.out(self.out_norm(h))                                      # (B, D)
