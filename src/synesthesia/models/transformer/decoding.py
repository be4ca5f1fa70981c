"""Choosing the next token: temperature, top-k and top-p (nucleus) filtering, classifier-free
guidance, and beam search. Small pure functions; the models' decoding loops call them.

Shapes: logits (N, V).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

NEG_INF = float("-inf")


def top_k_filter(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Keep the ``k`` largest logits per row (ties with the k-th are kept), -inf elsewhere."""
    if k is None or k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, NEG_INF)


def top_p_filter(logits: torch.Tensor, p: float | None) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches ``p`` (Holtzman et
    al., 2020); the most likely token is always kept."""
    if p is None or p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.float().softmax(-1)
    before = probs.cumsum(-1) - probs                    # mass of the more likely tokens
    drop_sorted = before >= p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, NEG_INF)


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans, 2022) on logits: uncond + scale (cond - uncond);
    scale 1 is the conditional model, 0 the unconditional one."""
    return uncond + scale * (cond - uncond)


def sample_logits(logits: torch.Tensor, generator: torch.Generator | None = None,
                  temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Next tokens (N,): the argmax when ``temperature`` is 0, else a draw from
    softmax(logits / temperature) restricted by ``top_k`` and ``top_p``."""
    logits = logits.float()
    if temperature <= 0:
        return logits.argmax(-1)
    logits = top_p_filter(top_k_filter(logits / temperature, top_k), top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


def beam_search(step: Callable[[torch.Tensor, int], torch.Tensor], reorder: Callable[[torch.Tensor], None],
                batch: int, beams: int, steps: int, start: int, eos: int, pad: int,
                length_penalty: float = 0.0, device=None) -> torch.Tensor:
    """Beam search over ``steps`` tokens for ``batch`` sequences, ``beams`` hypotheses each.

    ``step(tokens (N,), t) -> logits (N, V)`` feeds the last tokens of the N = batch * beams
    hypotheses (rows b * beams + k) and returns the next-token logits (disallowed tokens at -inf);
    ``reorder(index (N,))`` makes the model's cache follow the surviving hypotheses. A hypothesis
    that emitted ``eos`` continues with ``pad`` at no cost. The best hypothesis maximises
    log p / length ** length_penalty. Returns tokens (batch, steps). One beam is greedy decoding.
    """
    scores = torch.zeros(batch, beams, device=device)
    scores[:, 1:] = NEG_INF                             # start from one live hypothesis per row
    tokens = torch.full((batch, beams, steps), pad, dtype=torch.long, device=device)
    finished = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    last = torch.full((batch * beams,), start, dtype=torch.long, device=device)
    offsets = torch.arange(batch, device=device)[:, None] * beams
    for t in range(steps):
        logp = step(last, t).float().log_softmax(-1)                        # (N, V)
        v = logp.shape[-1]
        logp = logp.view(batch, beams, v)
        done_row = torch.full((v,), NEG_INF, device=logp.device)
        done_row[pad] = 0.0
        logp = torch.where(finished[..., None], done_row, logp)
        cand = (scores[..., None] + logp).view(batch, beams * v)
        scores, idx = cand.topk(beams, dim=-1)                              # (B, K)
        src, tok = idx // v, idx % v
        tokens = tokens.gather(1, src[..., None].expand(-1, -1, steps)).clone()
        tokens[:, :, t] = tok
        finished = finished.gather(1, src) | (tok == eos)
        reorder((src + offsets).view(-1))
        last = tok.view(-1)
        if bool(finished.all()):
            break
    lengths = (tokens != pad).sum(-1).clamp_min(1).float()
    best = (scores / lengths ** length_penalty).argmax(-1)                 # (B,)
    return tokens[torch.arange(batch, device=device), best]
