"""Caption expansion: a partial caption ("a red circle") -> a complete one ("a small red circle at the
top left on a grey background"), sampled from what the training data says about the words a
caption leaves out.

Text-conditioned generators render what a caption names and tend to fix what it leaves free (a
conditional GAN ignores its noise for the unnamed attributes: collapse per condition). Sampling a
complete description first and rendering that gives the free attributes the data's spread while
the named ones stay as written: prompt upsampling (DALL-E 3, Betker et al., 2023), or a prior over
complete conditions in front of the generator, as unCLIP's prior (Ramesh et al., 2022).

The model: the family's text encoder (:class:`~synesthesia.models.transformer.encoders.TextEncoder`,
non-causal blocks over word embeddings) reads the partial caption's tokens, the captioner's
causal text decoder (:class:`~synesthesia.models.transformer.captioner.TextDecoder`) writes the
complete caption with cross-attention to them. Teacher-forced cross-entropy on (partial, complete)
pairs: from the run's world (one sample's caption rendered with omissions and without), or from a
JSONL file of ``{"partial": ..., "caption": ...}`` lines for users' data. A run folder keeps it as
``expander.safetensors`` + ``expander.json``; :func:`synesthesia.load` picks it up and expands
every text condition before the model sees it (``expand=False`` turns that off per call).

Shapes: ids (B, L) with L = the run's text max_len, [w_1 .. w_n, EOS, PAD ...].
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from synesthesia.errors import SynesthesiaError
from synesthesia.io import write_text_atomic
from synesthesia.modalities.text import PAD, TextModality
from synesthesia.models.transformer.captioner import TextDecoder, TextDecoding, shift_right
from synesthesia.models.transformer.config import CaptionerConfig
from synesthesia.models.transformer.encoders import TextEncoder
from synesthesia.models.transformer.layers import init_weights

WEIGHTS, META = "expander.safetensors", "expander.json"
# omission probabilities of the world's pairs; 0 teaches the expander to leave complete captions alone
WORLD_OMISSIONS = (0.0, 0.25, 0.5, 0.75)


class ExpanderError(SynesthesiaError):
    """Bad expander data or request; the message says what to do."""


@dataclass
class ExpanderConfig:
    width: int = 128
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        self.blocks()                                        # the captioner's checks of the same fields

    def blocks(self) -> CaptionerConfig:
        return CaptionerConfig(width=self.width, heads=self.heads, encoder_layers=self.encoder_layers,
                               decoder_layers=self.decoder_layers, mlp_ratio=self.mlp_ratio)


class CaptionExpander(TextDecoding, nn.Module):
    """Partial caption tokens -> complete caption tokens (see the module docstring)."""

    def __init__(self, text: TextModality, config: ExpanderConfig | None = None) -> None:
        super().__init__()
        self.config = config or ExpanderConfig()
        blocks = self.config.blocks()
        self.text, self.max_len = text, text.max_len
        self.encoder = TextEncoder(text, blocks)
        self.decoder = TextDecoder(text.vocab_size, text.max_len, blocks)
        self.apply(init_weights)

    def loss(self, partial: torch.Tensor, complete: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean token cross-entropy of ``complete`` given ``partial`` (PAD ignored), and the token
        accuracy."""
        logits = self.decoder(shift_right(complete), self.decoder.memory_kv(self.encoder(partial)))
        weight = (complete != PAD).float()
        ce = F.cross_entropy(logits.float().transpose(1, 2), complete, reduction="none")
        loss = (ce * weight).sum() / weight.sum().clamp_min(1.0)
        acc = ((logits.argmax(-1) == complete).float() * weight).sum() / weight.sum().clamp_min(1.0)
        return loss, acc.detach()

    @torch.no_grad()
    def expand(self, ids: torch.Tensor, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """Complete captions (B, L) for partial ones (B, L): sampled at ``temperature`` (0: the
        most likely words, greedily)."""
        if ids.dim() != 2 or ids.shape[1] != self.max_len:
            raise ExpanderError(f"captions to expand must be token ids (B, {self.max_len}); got {tuple(ids.shape)}")
        memory_kv = self.decoder.memory_kv(self.encoder(ids.long()))
        return self._sample(memory_kv, len(ids), generator, float(temperature), None, None, True)

    # -- run folder --------------------------------------------------------------------------
    def save(self, run: str | Path, info: dict | None = None) -> Path:
        from synesthesia.runs import save_weights

        run = Path(run)
        save_weights(self, run / WEIGHTS)
        write_text_atomic(run / META, json.dumps({"config": asdict(self.config), **(info or {})}, indent=1))
        return run / WEIGHTS

    @classmethod
    def load(cls, run: str | Path, text: TextModality) -> "CaptionExpander":
        from synesthesia.runs import load_weights

        run = Path(run)
        if not (run / META).is_file():
            raise ExpanderError(f"{run} has an {WEIGHTS} but no {META}; train it again with "
                                f"'synesthesia expander {run}'")
        meta = json.loads((run / META).read_text())
        model = cls(text, ExpanderConfig(**meta.get("config", {})))
        load_weights(model, run / WEIGHTS)
        return model.eval()


# -- training pairs ------------------------------------------------------------------------------
def world_pairs(world: dict, n: int, split: str = "train", omissions: Sequence[float] = WORLD_OMISSIONS
                ) -> tuple[list[str], list[str]]:
    """``n`` (partial, complete) caption pairs from a world: the same samples' captions rendered
    with each attribute left out with probability p (cycling through ``omissions``) and without."""
    from synesthesia.data.sources import WorldSource

    base = dict(world or {})
    partial, complete = [], []
    per = math.ceil(n / len(omissions))
    for k, p in enumerate(omissions):
        for out, omit in ((partial, p), (complete, 0.0)):
            source = WorldSource.from_config({**base, "partial_caption_p": omit})
            out += source.load(split, per, ["text"], start=k * per)["text"]
    return partial[:n], complete[:n]


def file_pairs(path: str | Path) -> tuple[list[str], list[str]]:
    """Pairs from a JSONL file of ``{"partial": "...", "caption": "..."}`` lines."""
    path = Path(path)
    if not path.is_file():
        raise ExpanderError(f"no pairs file at {path}; give a JSONL file of "
                            '{"partial": "...", "caption": "..."} lines')
    partial, complete = [], []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            partial.append(str(row["partial"]))
            complete.append(str(row["caption"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ExpanderError(f"{path}:{i} is not a JSON object with \"partial\" and \"caption\" "
                                f"strings: {line[:80]!r}") from None
    if len(partial) < 2:
        raise ExpanderError(f"{path} holds {len(partial)} pair(s); give at least 2")
    return partial, complete


def train_expander(text: TextModality, partial: Sequence[str], complete: Sequence[str],
                   minutes: float | None = 3.0, steps: int | None = None, batch_size: int = 128,
                   lr: float = 1e-3, seed: int = 0, config: ExpanderConfig | None = None,
                   log=None) -> tuple[CaptionExpander, dict]:
    """Fit a :class:`CaptionExpander` on the pairs for ``steps`` updates or ``minutes`` of wall
    clock (whichever comes first; AdamW, linear warm-up then cosine decay over the budget).
    Returns the model and a summary: steps, seconds, loss and token accuracy on a tenth of the
    pairs held out, and the share of held-out complete captions that greedy expansion returns
    unchanged."""
    if len(partial) != len(complete):
        raise ExpanderError(f"{len(partial)} partial captions but {len(complete)} complete ones")
    if minutes is None and steps is None:
        raise ExpanderError("give minutes or steps")
    torch.manual_seed(seed)
    try:
        src, dst = text.encode(list(partial)), text.encode(list(complete))
    except SynesthesiaError as e:
        raise ExpanderError(f"the pairs do not fit the run's text modality: {e}") from None
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(src), generator=g)
    src, dst = src[order], dst[order]
    n_val = max(1, len(src) // 10)
    val_src, val_dst, src, dst = src[-n_val:], dst[-n_val:], src[:-n_val], dst[:-n_val]
    model = CaptionExpander(text, config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    budget_s = None if minutes is None else 60.0 * minutes
    warmup, t0, step = 100, time.perf_counter(), 0
    model.train()
    while True:
        elapsed = time.perf_counter() - t0
        if (steps is not None and step >= steps) or (budget_s is not None and elapsed >= budget_s):
            break
        progress = max(step / steps if steps else 0.0, elapsed / budget_s if budget_s else 0.0)
        scale = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        for group in opt.param_groups:
            group["lr"] = lr * max(scale, 0.02)
        rows = torch.randint(0, len(src), (batch_size,), generator=g)
        loss, acc = model.loss(src[rows], dst[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if log is not None and step % 200 == 0:
            log(f"step {step}: loss {loss.item():.4f}, token accuracy {acc.item():.3f}")
    model.eval()
    with torch.no_grad():
        val_loss, val_acc = model.loss(val_src, val_dst)
        whole = (val_src == val_dst).all(1)                  # complete captions: should come back as they are
        kept = float("nan")
        if bool(whole.any()):
            kept = float((model.expand(val_src[whole], temperature=0.0) == val_dst[whole]).all(1).float().mean())
    summary = {"steps": step, "seconds": round(time.perf_counter() - t0, 1), "pairs": len(src),
               "val_loss": round(float(val_loss), 4), "val_token_accuracy": round(float(val_acc), 4),
               "val_complete_kept": round(kept, 4)}
    return model, summary
