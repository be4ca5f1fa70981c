"""Transformer blocks shared by the family: pre-norm blocks of self-attention (causal or not),
optional cross-attention and an MLP, with a key/value cache for incremental decoding.

Attention runs through ``torch.nn.functional.scaled_dot_product_attention``.
Shapes: x (B, T, C); memory (B, N, C); per-head tensors (B, H, T, D) with C = H * D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys and values of every self-attention layer for incremental decoding.

    ``k``, ``v`` are (layers, B, H, capacity, D), allocated on the first :meth:`append`; the first
    ``length`` positions are filled. A forward pass over t new positions appends t keys per layer,
    then the model calls :meth:`advance` (t)."""

    def __init__(self, layers: int, capacity: int) -> None:
        self.layers, self.capacity, self.length = layers, capacity, 0
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H, t, D) of ``layer`` after the cached positions; return all of them."""
        b, h, t, d = k.shape
        if self.k is None:
            self.k = k.new_zeros(self.layers, b, h, self.capacity, d)
            self.v = v.new_zeros(self.layers, b, h, self.capacity, d)
        end = self.length + t
        if end > self.capacity:
            raise ValueError(f"KV cache of {self.capacity} positions is full")
        self.k[layer, :, :, self.length:end] = k
        self.v[layer, :, :, self.length:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, t: int) -> None:
        self.length += t

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` (N,) of the batch (beam search)."""
        if self.k is not None:
            self.k, self.v = self.k[:, index], self.v[:, index]


def causal_mask(t: int, past: int, device) -> torch.Tensor:
    """Boolean (t, past + t): new position i sees every cached position and new ones up to i."""
    rows = torch.arange(t, device=device)[:, None] + past
    return torch.arange(past + t, device=device)[None, :] <= rows


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, causal: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.causal, self.dropout = heads, causal, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (y.view(b, t, self.heads, c // self.heads).transpose(1, 2) for y in (q, k, v))  # (B, H, T, D)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)                                   # (B, H, past + T, D)
        mask, is_causal = None, False
        if self.causal and t > 1:
            if past:
                mask = causal_mask(t, past, x.device)
            else:
                is_causal = True
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))                   # (B, T, C)


class CrossAttention(nn.Module):
    """Queries from x, keys and values from the encoder's memory; :meth:`memory_kv` projects the
    memory once for a whole decoding."""

    def __init__(self, width: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.proj = nn.Linear(width, width)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, c = memory.shape
        k, v = self.kv(memory).split(c, dim=2)
        return tuple(y.view(b, n, self.heads, c // self.heads).transpose(1, 2) for y in (k, v))  # (B, H, N, D)

    def forward(self, x: torch.Tensor, memory_kv: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        b, t, c = x.shape
        q = self.q(x).view(b, t, self.heads, c // self.heads).transpose(1, 2)   # (B, H, T, D)
        k, v = memory_kv
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, width: int, ratio: float, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(width * ratio)
        self.fc = nn.Linear(width, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.proj = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """x + attn(ln(x)) [+ cross(ln(x), memory)] + mlp(ln(x)), pre-norm as in GPT-2."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 causal: bool = True, cross: bool = False) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, causal, dropout)
        self.ln_cross = nn.LayerNorm(width) if cross else None
        self.cross = CrossAttention(width, heads, dropout) if cross else None
        self.ln2 = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor, memory_kv=None, cache: KVCache | None = None,
                layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        if self.cross is not None:
            x = x + self.cross(self.ln_cross(x), memory_kv)
        return x + self.mlp(self.ln2(x))


def init_weights(module: nn.Module) -> None:
    """GPT-2 initialisation: normal(0, 0.02) linear and embedding weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
