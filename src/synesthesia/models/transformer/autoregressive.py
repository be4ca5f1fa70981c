"""The autoregressive generator: text -> image or video as one sequence of tokens (DALL-E,
Ramesh et al. 2021; VideoGPT, Yan et al. 2021).

A frozen visual tokenizer (:mod:`~synesthesia.models.transformer.tokenizer`, trained as its own
run) turns each image or video into N codes. A decoder-only transformer reads

    [BOS, t_1 .. t_L, v_1 .. v_N]     (the caption with its EOS and PADs, then the codes)

and predicts every next token: caption tokens with a text head, codes with a code head, so the
code head's support is exactly the codebook. The loss is the codes' cross-entropy plus
``text_loss_weight`` times the caption's (which also makes it a caption language model, for
unconditional samples). With probability ``cond_dropout`` a training caption is replaced by the
empty caption (all PAD), so the same network also models p(codes) and sampling can use
classifier-free guidance.

Shapes: ids (B, L); codes (B, N); hidden (B, T, C); text logits (B, L, V); code logits (B, N, K).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from synesthesia.config import ConfigError
from synesthesia.modalities.base import Modality
from synesthesia.modalities.text import BOS, EOS, PAD
from synesthesia.models.transformer.config import AutoregressiveConfig, TokenizerConfig
from synesthesia.models.transformer.decoding import NEG_INF, guide, sample_logits
from synesthesia.models.transformer.errors import ModelInputError, check_given
from synesthesia.models.transformer.layers import Block, KVCache, init_weights
from synesthesia.models.transformer.tokenizer import VISUAL, VisualTokenizer

# modality options that decide the tokenizer's grid: they must agree between the two runs
_GRID_OPTIONS = ("size", "frames")

# what a run reader gives for a finished run folder: (family, model section, modality sections,
# weights); None when the folder holds no finished run (see synesthesia.runs.read_finished_run)
RunReader = Callable[[str], "tuple[str, dict, dict, dict] | None"]


def resolve_tokenizer(config: AutoregressiveConfig, visual: str, modality: Modality,
                      read_run: RunReader | None) -> tuple[dict | None, str]:
    """Fill ``config.tokenizer`` from the tokenizer run ``config.tokenizer_run`` (read by
    ``read_run``) and return that run's tokenizer weights, or None with the reason when they must
    come from this generator's own saved weights instead."""
    run = config.tokenizer_run
    found = read_run(run) if (run and read_run is not None) else None
    if found is not None:
        family, model, modalities, state = found
        if family != "transformer" or model.get("kind") != "tokenizer":
            raise ConfigError(f"model.tokenizer_run {run} is a {family} {model.get('kind', '')} run, "
                              "not a transformer tokenizer run")
        if visual not in modalities:
            raise ConfigError(f"model.tokenizer_run {run} tokenizes {list(modalities)}, but this generator "
                              f"makes {visual}; train a {visual} tokenizer")
        found = ({"model": TokenizerConfig.from_dict(model).to_dict(), "modality": dict(modalities[visual])}, state)
    embedded = config.tokenizer
    if embedded is not None:
        embedded = {"model": TokenizerConfig.from_dict(embedded["model"]).to_dict(),
                    "modality": dict(embedded["modality"])}
    if found is None and embedded is None:
        raise ConfigError(f"model.tokenizer_run {run} is not a finished run (no config.yaml and "
                          f"model.safetensors); train it first, e.g. 'synesthesia train "
                          f"configs/transformer/tokenizer-l5-{visual}.yaml --out {run}'")
    chosen = embedded or found[0]
    mine = modality.config()
    for key in _GRID_OPTIONS:
        if key in mine and chosen["modality"].get(key) != mine[key]:
            raise ConfigError(f"the tokenizer was trained on {visual} {key} {chosen['modality'].get(key)}, "
                              f"this generator's {visual} has {key} {mine[key]}; make them equal")
    config.tokenizer = chosen
    if found is None:
        return None, (f"the tokenizer run {run} does not exist, and the tokenizer weights were not "
                      "loaded from a run folder")
    if embedded is not None and embedded["model"] != found[0]["model"]:
        diff = sorted(k for k in found[0]["model"] if found[0]["model"][k] != embedded["model"].get(k))
        return None, (f"model.tokenizer differs from {run}/config.yaml in {diff}: copy the run's model "
                      "section there, or drop model.tokenizer")
    return found[1], ""


class AutoregressiveGenerator(nn.Module):
    """text -> the one visual modality (image or video) of ``modalities``."""

    def __init__(self, modalities: Mapping[str, Modality], config: AutoregressiveConfig,
                 read_run: RunReader | None = None) -> None:
        super().__init__()
        self.config = cfg = config
        visual = [m for m in modalities if m in VISUAL]
        if "text" not in modalities or len(visual) != 1 or len(modalities) != 2:
            raise ModelInputError(f"an autoregressive generator needs text and one of image/video; got "
                                  f"{list(modalities)}: set data.modalities to [image, text] or [video, text]")
        self.modalities = dict(modalities)
        self.visual = visual[0]
        state, self._tokenizer_problem = resolve_tokenizer(cfg, self.visual, modalities[self.visual], read_run)
        self.tokenizer = VisualTokenizer({self.visual: modalities[self.visual]},
                                         TokenizerConfig.from_dict(cfg.tokenizer["model"]))
        self.tokenizer.requires_grad_(False)
        # True once the tokenizer's trained weights are in (from its run, or from this run's weights)
        self.register_buffer("tokenizer_ready", torch.zeros((), dtype=torch.bool))
        if state is not None:
            self.tokenizer.load_state_dict(state)
            self.tokenizer_ready.fill_(True)
        text = modalities["text"]
        self.text_len, self.n_codes = text.max_len, self.tokenizer.tokens
        w = cfg.width
        self.text_embed = nn.Embedding(text.vocab_size, w)
        self.code_embed = nn.Embedding(self.tokenizer.codebook_size, w)
        # plus a projection of the code's FSQ vector: similar codes start with similar embeddings
        self.code_proj = nn.Linear(self.tokenizer.fsq.dim, w, bias=False)
        self.pos = nn.Parameter(torch.zeros(1, self.text_len + self.n_codes, w))
        self.blocks = nn.ModuleList([Block(w, cfg.heads, cfg.mlp_ratio, cfg.dropout, causal=True)
                                     for _ in range(cfg.layers)])
        self.ln = nn.LayerNorm(w)
        self.text_head = nn.Linear(w, text.vocab_size, bias=False)
        self.code_head = nn.Linear(w, self.tokenizer.codebook_size, bias=False)
        for module in (self.text_embed, self.code_embed, self.code_proj, self.blocks, self.text_head, self.code_head):
            module.apply(init_weights)
        nn.init.normal_(self.pos, std=0.02)

    def _check_ready(self) -> None:
        if not bool(self.tokenizer_ready):
            raise ModelInputError(f"the visual tokenizer has no trained weights: {self._tokenizer_problem}")

    def train(self, mode: bool = True) -> AutoregressiveGenerator:
        super().train(mode)
        self.tokenizer.eval()                     # frozen
        return self

    # -- the transformer ---------------------------------------------------------------------
    def hidden(self, text: torch.Tensor | None, codes: torch.Tensor | None,
               cache: KVCache | None = None) -> torch.Tensor:
        """Final hidden states (B, T, C) of a chunk [text tokens ; codes] that continues the
        cached positions (or starts the sequence): text ids embed with the text table, codes with
        the code table plus a projection of their FSQ vectors."""
        parts = []
        if text is not None:
            parts.append(self.text_embed(text))
        if codes is not None:
            fsq = self.tokenizer.fsq
            parts.append(self.code_embed(codes) + self.code_proj(fsq.indices_to_codes(codes)))
        h = torch.cat(parts, 1)                                                 # (B, T, C)
        start = cache.length if cache is not None else 0
        h = h + self.pos[:, start:start + h.shape[1]]
        for i, block in enumerate(self.blocks):
            h = block(h, None, cache, i)
        if cache is not None:
            cache.advance(h.shape[1])
        return self.ln(h)

    def prefix(self, ids: torch.Tensor) -> torch.Tensor:
        """[BOS, ids] (B, L + 1)."""
        return torch.cat([torch.full_like(ids[:, :1], BOS), ids], 1)

    # -- training ----------------------------------------------------------------------------
    def forward(self, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None) -> dict:
        """``{"loss", "code_nll", "text_nll", "code_accuracy"}``: code cross-entropy plus
        text_loss_weight x caption cross-entropy, per token."""
        self._check_ready()
        if self.visual not in data or "text" not in data:
            raise ModelInputError(f"training needs data['text'] and data[{self.visual!r}]; the batch has {list(data)}")
        masks = masks or {}
        ids, x = data["text"].long(), data[self.visual]
        b = len(ids)
        codes = self.tokenizer.encode(x)                                        # (B, N)
        has_text = masks.get("text", torch.ones(b, dtype=torch.bool, device=ids.device))
        has_visual = masks.get(self.visual, torch.ones_like(has_text))
        drop = ~has_text
        if self.training and self.config.cond_dropout > 0:
            drop = drop | (torch.rand(b, device=ids.device) < self.config.cond_dropout)
        ids = ids.masked_fill(drop[:, None], PAD)                               # dropped: the empty caption
        h = self.hidden(self.prefix(ids), codes[:, :-1])                        # (B, L + N, C)
        text_logits = self.text_head(h[:, :self.text_len]).float()              # (B, L, V)
        code_logits = self.code_head(h[:, self.text_len:]).float()              # (B, N, K)
        tw = (ids != PAD).float()
        text_nll = (F.cross_entropy(text_logits.transpose(1, 2), ids, reduction="none") * tw).sum() / tw.sum().clamp_min(1)
        cw = has_visual[:, None].float().expand_as(codes)
        code_ce = F.cross_entropy(code_logits.transpose(1, 2), codes, reduction="none")
        code_nll = (code_ce * cw).sum() / cw.sum().clamp_min(1)
        acc = ((code_logits.argmax(-1) == codes).float() * cw).sum() / cw.sum().clamp_min(1)
        return {"loss": code_nll + self.config.text_loss_weight * text_nll, "code_nll": code_nll.detach(),
                "text_nll": text_nll.detach(), "code_accuracy": acc.detach()}

    # -- generation --------------------------------------------------------------------------
    def directions(self) -> list[tuple[tuple[str, ...], str]]:
        return [(("text",), self.visual)]

    def unconditional(self) -> list[str]:
        """What it samples from nothing: a caption from its language model, then its picture."""
        return ["text", self.visual] if self.config.text_loss_weight > 0 else []

    @torch.no_grad()
    def generate(self, given: Mapping[str, torch.Tensor], targets: Sequence[str],
                 generator: torch.Generator | None = None, temperature: float = 1.0,
                 batch_size: int | None = None, top_k: int | None = None, top_p: float | None = None,
                 cfg_scale: float | None = None, use_cache: bool = True) -> dict[str, torch.Tensor]:
        """``{visual: (B, ...)}`` from captions ``given["text"]`` (B, L); from nothing, a caption
        is sampled first (``{"text": ids}`` too when asked). Codes are drawn at ``temperature``
        (0: argmax) within ``top_k`` / ``top_p``, guided with ``cfg_scale`` (1: no guidance);
        defaults from the model config. The random stream is split in two (caption, codes) so a
        joint sample's caption is the same whichever targets are asked."""
        self._check_ready()
        check_given(given, targets, self.directions(), self.modalities, self.unconditional())
        cfg = self.config
        device = self.pos.device
        seeds = torch.randint(0, 2 ** 62, (2,), generator=generator, device=generator.device if generator else "cpu")
        gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        if "text" in given:
            ids = given["text"].long()
        else:
            if not batch_size:
                raise ModelInputError("unconditional generation needs batch_size")
            ids = self.sample_text(batch_size, gens[0], temperature, use_cache)
        out = {"text": ids} if "text" in targets else {}
        if self.visual in targets:
            codes = self.sample_codes(ids, gens[1], temperature, top_k or cfg.top_k, top_p or cfg.top_p,
                                      cfg.cfg_scale if cfg_scale is None else cfg_scale, use_cache)
            out[self.visual] = self.tokenizer.decode(codes)
        return out

    def sample_text(self, b: int, generator, temperature: float = 1.0, use_cache: bool = True) -> torch.Tensor:
        """Captions (b, L) from the caption language model: [w_1 .. w_n, EOS, PAD ...]."""
        device = self.pos.device
        cache = KVCache(len(self.blocks), self.text_len) if use_cache else None
        seq = torch.full((b, 1), BOS, dtype=torch.long, device=device)
        out = torch.full((b, self.text_len), PAD, dtype=torch.long, device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        for t in range(self.text_len):
            h = self.hidden(seq[:, -1:] if use_cache else seq, None, cache)[:, -1]
            logits = self.text_head(h).float()
            logits[:, PAD] = NEG_INF
            logits[:, BOS] = NEG_INF
            if t == self.text_len - 1:
                logits[:, :EOS] = NEG_INF
                logits[:, EOS + 1:] = NEG_INF
            nxt = sample_logits(logits, generator, temperature).masked_fill(done, PAD)
            out[:, t] = nxt
            done |= nxt == EOS
            if bool(done.all()):
                break
            seq = torch.cat([seq, nxt[:, None]], 1)
        return out

    def sample_codes(self, ids: torch.Tensor, generator, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None, cfg_scale: float = 1.0, use_cache: bool = True) -> torch.Tensor:
        """Codes (B, N) given captions ids (B, L), one at a time; with ``cfg_scale`` != 1 the
        empty caption runs alongside (batch 2B) for classifier-free guidance."""
        b, guided = len(ids), cfg_scale != 1.0
        prefix = self.prefix(ids)
        if guided:
            prefix = torch.cat([prefix, self.prefix(torch.full_like(ids, PAD))])  # (2B, L + 1)
        cache = KVCache(len(self.blocks), self.text_len + self.n_codes) if use_cache else None
        codes = torch.zeros(b, self.n_codes, dtype=torch.long, device=ids.device)
        h = self.hidden(prefix, None, cache)[:, -1]                              # predicts v_1
        for i in range(self.n_codes):
            logits = self.code_head(h).float()                                   # (B or 2B, K)
            if guided:
                logits = guide(logits[:b], logits[b:], cfg_scale)
            codes[:, i] = sample_logits(logits, generator, temperature, top_k, top_p)
            if i == self.n_codes - 1:
                break
            fed = codes[:, :i + 1].repeat(2, 1) if guided else codes[:, :i + 1]
            if use_cache:
                h = self.hidden(None, fed[:, -1:], cache)[:, -1]
            else:
                h = self.hidden(prefix, fed)[:, -1]
        return codes
