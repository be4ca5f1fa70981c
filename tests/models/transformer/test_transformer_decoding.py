import torch

from synesthesia.models.transformer.decoding import beam_search, guide, sample_logits, top_k_filter, top_p_filter


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0]])
    kept = torch.isfinite(top_k_filter(logits, 2))
    assert kept.tolist() == [[False, True, False, True, False]]
    assert torch.equal(top_k_filter(logits, None), logits) and torch.equal(top_k_filter(logits, 9), logits)


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    assert torch.isfinite(top_p_filter(logits, 0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.6)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.9)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(top_p_filter(logits, 1e-6)).sum() == 1        # the top token always stays
    shuffled = logits[:, [2, 0, 3, 1]]                                  # order does not matter
    assert torch.isfinite(top_p_filter(shuffled, 0.6)).tolist() == [[False, True, False, True]]


def test_sampling_stays_within_the_support():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 50).expand(2000, 50)
    top3 = set(logits[0].topk(3).indices.tolist())
    draws = sample_logits(logits, g, temperature=1.0, top_k=3)
    assert set(draws.tolist()) == top3
    p = logits[0].softmax(-1)
    order = p.argsort(descending=True)
    nucleus = set(order[:int((p[order].cumsum(0) < 0.7).sum()) + 1].tolist())
    assert set(sample_logits(logits, g, 1.0, top_p=0.7).tolist()) <= nucleus
    assert torch.equal(sample_logits(logits, g, temperature=0.0), logits.argmax(-1))
    full = sample_logits(logits, g, temperature=1.0)
    assert len(set(full.tolist())) > 3


def test_guidance_interpolates_and_extrapolates():
    cond, uncond = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    assert torch.equal(guide(cond, uncond, 1.0), cond)
    assert torch.equal(guide(cond, uncond, 0.0), uncond)
    assert torch.equal(guide(cond, uncond, 3.0), torch.tensor([[4.0, -2.0]]))


def _toy_step(table: torch.Tensor):
    """A stateless 'model': next-token logits depend on the last token only."""
    return lambda last, t: table[last]


def test_beam_search_finds_the_better_sequence_greedy_misses():
    # from start 0: greedy takes 1 (p 0.6) then is stuck with 0.3 x; beam takes 2 (0.4) then 1.0 EOS
    eos, pad = 3, 4
    p = torch.full((5, 5), 1e-9)
    p[0, 1], p[0, 2] = 0.6, 0.4
    p[1, eos], p[1, 0] = 0.3, 0.7
    p[2, eos] = 1.0
    p[0, eos] = 1e-9
    table = p.log()
    greedy = beam_search(_toy_step(table), lambda i: None, 1, 1, 4, 0, eos, pad)
    beam = beam_search(_toy_step(table), lambda i: None, 1, 2, 4, 0, eos, pad)
    assert greedy[0, 0].item() == 1
    assert beam[0].tolist()[:2] == [2, eos] and beam[0, 2:].eq(pad).all()
