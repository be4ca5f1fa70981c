"""The captioner: image / video / sound -> text with a transformer encoder-decoder.

One encoder per source modality (:data:`~synesthesia.models.transformer.encoders.ENCODERS`)
turns the source into tokens (the "memory"); a causal text decoder with cross-attention to the
memory predicts the caption word by word. Training is teacher-forced cross-entropy on the
caption tokens (PAD ignored), once per source present in the batch. Decoding is greedy, beam
search or sampling (temperature, top-k, top-p), with a key/value cache.

Shapes: ids (B, L) with L = text max_len, [w_1 .. w_n, EOS, PAD ...]; decoder inputs
[BOS, w_1 .. w_{L-1}]; memory (B, N, C); logits (B, L, V).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from synesthesia.modalities.base import Modality
from synesthesia.modalities.text import BOS, EOS, PAD, UNWRITTEN
from synesthesia.models.transformer.config import CaptionerConfig
from synesthesia.models.transformer.decoding import NEG_INF, beam_search, sample_logits
from synesthesia.models.transformer.encoders import ENCODERS
from synesthesia.models.transformer.errors import ModelInputError, check_given
from synesthesia.models.transformer.layers import Block, KVCache, init_weights


class TextDecoder(nn.Module):
    """Causal transformer over caption tokens with cross-attention to a memory; the output layer
    shares the token embedding's weights (Press & Wolf, 2017)."""

    def __init__(self, vocab_size: int, max_len: int, cfg: CaptionerConfig) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, cfg.width)
        self.pos = nn.Parameter(torch.randn(1, max_len, cfg.width) * 0.02)
        self.blocks = nn.ModuleList([Block(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.dropout, causal=True, cross=True)
                                     for _ in range(cfg.decoder_layers)])
        self.ln = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, vocab_size, bias=False)
        self.head.weight = self.embed.weight

    def memory_kv(self, memory: torch.Tensor) -> list:
        """Each block's cross-attention keys and values of the memory (B, N, C)."""
        return [block.cross.memory_kv(memory) for block in self.blocks]

    def forward(self, inputs: torch.Tensor, memory_kv: list, cache: KVCache | None = None) -> torch.Tensor:
        """inputs (B, T) at positions cache.length .. + T (0 without a cache) -> logits (B, T, V)."""
        start = cache.length if cache is not None else 0
        h = self.embed(inputs) + self.pos[:, start:start + inputs.shape[1]]      # (B, T, C)
        for i, block in enumerate(self.blocks):
            h = block(h, memory_kv[i], cache, i)
        if cache is not None:
            cache.advance(inputs.shape[1])
        return self.head(self.ln(h))                                            # (B, T, V)


def shift_right(ids: torch.Tensor) -> torch.Tensor:
    """Decoder inputs for targets ids (B, L): [BOS, ids[:, :-1]]."""
    return torch.cat([torch.full_like(ids[:, :1], BOS), ids[:, :-1]], dim=1)


class TextDecoding:
    """Decoding loops over ``self.decoder`` (a :class:`TextDecoder`) for captions of at most
    ``self.max_len`` tokens: sampling (or greedy) and beam search with a key/value cache. Shared
    by the captioner and the caption expander."""

    max_len: int
    decoder: TextDecoder

    def _allowed(self, logits: torch.Tensor, t: int) -> torch.Tensor:
        """Never emit PAD, UNK or BOS; the last position must be EOS (a caption always ends)."""
        logits = logits.clone()
        logits[:, UNWRITTEN] = NEG_INF
        if t == self.max_len - 1:
            eos = logits[:, EOS].clone()
            logits.fill_(NEG_INF)
            logits[:, EOS] = eos
        return logits

    def _stepper(self, memory_kv: list, use_cache: bool):
        """A function (last tokens (N,), t) -> allowed next-token logits (N, V), and the cache."""
        cache = KVCache(len(self.decoder.blocks), self.max_len) if use_cache else None
        prefix: list[torch.Tensor] = []

        def step(last: torch.Tensor, t: int) -> torch.Tensor:
            if cache is not None:
                logits = self.decoder(last[:, None], memory_kv, cache)[:, -1]
            else:
                prefix.append(last[:, None])
                logits = self.decoder(torch.cat(prefix, 1), memory_kv)[:, -1]
            return self._allowed(logits.float(), t)

        def reorder(index: torch.Tensor) -> None:
            if cache is not None:
                cache.reorder(index)
            else:
                prefix[:] = [p[index] for p in prefix]

        return step, reorder

    def _sample(self, memory_kv, b, generator, temperature, top_k, top_p, use_cache) -> torch.Tensor:
        step, _ = self._stepper(memory_kv, use_cache)
        device = memory_kv[0][0].device
        out = torch.full((b, self.max_len), PAD, dtype=torch.long, device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        last = torch.full((b,), BOS, dtype=torch.long, device=device)
        for t in range(self.max_len):
            nxt = sample_logits(step(last, t), generator, temperature, top_k, top_p)
            nxt = nxt.masked_fill(done, PAD)
            out[:, t] = nxt
            done |= nxt == EOS
            if bool(done.all()):
                break
            last = nxt
        return out

    def _beam(self, memory_kv, b, beams, length_penalty, use_cache) -> torch.Tensor:
        memory_kv = [(k.repeat_interleave(beams, 0), v.repeat_interleave(beams, 0)) for k, v in memory_kv]
        step, reorder = self._stepper(memory_kv, use_cache)
        return beam_search(step, reorder, b, beams, self.max_len, BOS, EOS, PAD, length_penalty,
                           device=memory_kv[0][0].device)


class Captioner(TextDecoding, nn.Module):
    """Captions each source modality in ``config.sources`` (default: all but text)."""

    def __init__(self, modalities: Mapping[str, Modality], config: CaptionerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CaptionerConfig()
        if "text" not in modalities:
            raise ModelInputError(f"a captioner needs the text modality; it has {list(modalities)}")
        sources = cfg.sources or [m for m in modalities if m != "text"]
        bad = [m for m in sources if m not in modalities or m == "text"]
        if bad or not sources:
            raise ModelInputError(f"model.sources {sources} must name non-text modalities of the data "
                                  f"({[m for m in modalities if m != 'text']})")
        unknown = [m for m in sources if m not in ENCODERS]
        if unknown:
            raise ModelInputError(f"no captioner encoder for {unknown}; known: {', '.join(ENCODERS)}")
        self.modalities = dict(modalities)
        self.sources = list(sources)
        text = modalities["text"]
        self.max_len = text.max_len
        self.encoders = nn.ModuleDict({m: ENCODERS[m](modalities[m], cfg) for m in self.sources})
        self.decoder = TextDecoder(text.vocab_size, text.max_len, cfg)
        self.apply(init_weights)

    # -- training ----------------------------------------------------------------------------
    def logits(self, source: str, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits (B, L, V) of captions ids (B, L) given x (B, ...)."""
        memory = self.encoders[source](x)                                        # (B, N, C)
        return self.decoder(shift_right(ids), self.decoder.memory_kv(memory))

    def forward(self, data: Mapping[str, torch.Tensor],
                masks: Mapping[str, torch.Tensor] | None = None) -> dict:
        """Mean token cross-entropy of the captions given each source present:
        ``{"loss", "nll": {source: ...}, "accuracy": {source: token accuracy}}``."""
        if "text" not in data:
            raise ModelInputError("training a captioner needs captions: give data['text']")
        ids = data["text"].long()
        masks = masks or {}
        text_present = masks.get("text", torch.ones(len(ids), dtype=torch.bool, device=ids.device))
        losses, nll, acc = [], {}, {}
        for m in self.sources:
            if m not in data:
                continue
            present = text_present & masks.get(m, torch.ones_like(text_present))
            logits = self.logits(m, data[m], ids).float()                        # (B, L, V)
            weight = ((ids != PAD) & present[:, None]).float()                    # (B, L)
            ce = F.cross_entropy(logits.transpose(1, 2), ids, reduction="none",
                                 label_smoothing=self.config.label_smoothing)     # (B, L)
            loss = (ce * weight).sum() / weight.sum().clamp_min(1.0)
            losses.append(loss)
            nll[m] = loss.detach()
            acc[m] = (((logits.argmax(-1) == ids).float() * weight).sum() / weight.sum().clamp_min(1.0)).detach()
        if not losses:
            raise ModelInputError(f"the batch has no source to caption; give one of {self.sources}")
        return {"loss": torch.stack(losses).mean(), "nll": nll, "accuracy": acc}

    # -- generation --------------------------------------------------------------------------
    def directions(self) -> list[tuple[tuple[str, ...], str]]:
        return [((m,), "text") for m in self.sources]

    def unconditional(self) -> list[str]:
        """What it samples from nothing: nothing (it only captions)."""
        return []

    @torch.no_grad()
    def generate(self, given: Mapping[str, torch.Tensor], targets: Sequence[str],
                 generator: torch.Generator | None = None, temperature: float = 1.0,
                 batch_size: int | None = None, method: str | None = None, beam_size: int | None = None,
                 top_k: int | None = None, top_p: float | None = None, length_penalty: float | None = None,
                 use_cache: bool = True) -> dict[str, torch.Tensor]:
        """Captions (B, max_len) of one given source: [w_1 .. w_n, EOS, PAD ...].

        ``method``: ``greedy``, ``beam`` (``beam_size`` hypotheses, ``length_penalty``) or
        ``sample`` (``temperature``, ``top_k``, ``top_p``); by default ``model.decoding``, or
        ``sample`` when top_k or top_p is given. ``use_cache=False`` recomputes the whole prefix at
        every step (slower, same result)."""
        cfg = self.config
        check_given(given, targets, self.directions(), self.modalities)
        if len(given) != 1:
            raise ModelInputError(f"give exactly one source to caption (one of {self.sources}); got {list(given)}")
        (source, x), = given.items()
        method = method or ("sample" if (top_k or top_p) else cfg.decoding)
        if method not in ("greedy", "beam", "sample"):
            raise ModelInputError(f"method {method!r} unknown; choose greedy, beam or sample")
        memory_kv = self.decoder.memory_kv(self.encoders[source](x))
        if method == "beam":
            ids = self._beam(memory_kv, len(x), beam_size or cfg.beam_size,
                             cfg.length_penalty if length_penalty is None else length_penalty, use_cache)
        else:
            sampling = method == "sample" and temperature > 0
            ids = self._sample(memory_kv, len(x), generator, temperature if sampling else 0.0,
                               (top_k or cfg.top_k) if sampling else None,
                               (top_p or cfg.top_p) if sampling else None, use_cache)
        return {"text": ids}
