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
pairs (:mod:`synesthesia.data.pairs`; trained by :mod:`synesthesia.training.expander`). A run
folder keeps it beside its model; :func:`synesthesia.load` picks it up and expands every text
condition before the model sees it (``expand=False`` turns that off per call).

Shapes: ids (B, L) with L = the run's text max_len, [w_1 .. w_n, EOS, PAD ...].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synesthesia.config import Section
from synesthesia.errors import SynesthesiaError
from synesthesia.modalities.text import PAD, TextModality
from synesthesia.models.transformer.captioner import TextDecoder, TextDecoding, shift_right
from synesthesia.models.transformer.config import CaptionerConfig
from synesthesia.models.transformer.encoders import TextEncoder
from synesthesia.models.transformer.layers import init_weights


class ExpanderError(SynesthesiaError):
    """Bad expander data or request; the message says what to do."""


@dataclass
class ExpanderConfig(Section):
    width: int = 128                   # model width
    heads: int = 4                     # attention heads
    encoder_layers: int = 2            # blocks reading the partial caption
    decoder_layers: int = 2            # blocks writing the complete caption
    mlp_ratio: float = 4.0             # hidden width of the blocks' MLPs, as a multiple of width

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
