"""The flow prior on a known 2-D target: a mixture of two Gaussians, one per value of a label
condition, plus a second condition ("noise") that says nothing about the target.

Moment tolerances: with 1,500 draws the Monte Carlo standard error of a mean is at most
0.8 / sqrt(1500) ≈ 0.021 and the relative error of a standard deviation about 1 / sqrt(3000) ≈ 0.02,
so the 0.12 and 25 % allowed are the flow's own error after a few seconds of training (a flow that
ignored its condition would be off by 2 in the mean and 3 to 6 times in the spread).
"""

import json
import math

import pytest
import torch

from synesthesia.runs import load_flow_prior, save_flow_prior
from synesthesia.sampling.flow import FlowPrior, FlowPriorError
from synesthesia.sampling.flow_fit import FlowData, FlowTrainConfig
from synesthesia.sampling.flow_net import FlowPriorConfig

MEANS = torch.tensor([[2.0, -1.0], [-2.0, 1.0]])
STDS = torch.tensor([[0.5, 0.3], [0.3, 0.8]])


def _labels(k: int, n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.full((n,), k), 2).float()


def _mixture_log_prob(z: torch.Tensor) -> torch.Tensor:
    comps = [torch.distributions.Normal(MEANS[k], STDS[k]).log_prob(z).sum(-1) for k in range(2)]
    return torch.logsumexp(torch.stack(comps), 0) - math.log(2)


@pytest.fixture(scope="module")
def flow():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    n = 4000
    label = torch.randint(0, 2, (n,), generator=g)
    z = MEANS[label] + STDS[label] * torch.randn(n, 2, generator=g)
    condition = torch.stack([torch.nn.functional.one_hot(label, 2).float(), torch.randn(n, 2, generator=g)])
    flow = FlowPrior(FlowPriorConfig(latent_dim=2, modalities=["label", "noise"], condition_dim=2,
                                     hidden=48, blocks=2, time_features=16))
    flow.fit(FlowData(z, None, condition, torch.ones(2, n, dtype=torch.bool)),
             FlowTrainConfig(steps=800, batch_size=128, lr=3e-3, ema_decay=0.99, log_every=400))
    return flow


@pytest.mark.parametrize("method,steps", [("euler", 60), ("heun", 20), ("sde", 100)])
def test_conditional_samples_have_the_target_moments(flow, method, steps):
    for k in range(2):
        z = flow.sample(conditions={"label": _labels(k, 1500)}, steps=steps, method=method,
                        generator=torch.Generator().manual_seed(k))
        assert (z.mean(0) - MEANS[k]).abs().max() < 0.12, (method, k, z.mean(0))
        assert ((z.std(0) / STDS[k]) - 1).abs().max() < 0.25, (method, k, z.std(0))


def test_unconditional_samples_are_the_mixture(flow):
    z = flow.sample(n=3000, generator=torch.Generator().manual_seed(0))
    assert abs(float((z[:, 0] > 0).float().mean()) - 0.5) < 0.05
    assert (z.mean(0) - MEANS.mean(0)).abs().max() < 0.15
    var = (STDS.square() + MEANS.square()).mean(0) - MEANS.mean(0).square()
    assert ((z.var(0) / var) - 1).abs().max() < 0.15, (z.var(0), var)


def test_log_prob_is_a_density_close_to_the_target(flow):
    side = torch.linspace(-4.5, 4.5, 61)
    grid = torch.cartesian_prod(side, side)
    lp = torch.cat([flow.log_prob(chunk, steps=8) for chunk in grid.split(2048)])
    cell = float((side[1] - side[0]) ** 2)
    assert abs(float(lp.exp().sum()) * cell - 1.0) < 0.05
    # where the target has its mass, the flow's density is close to it
    pts = torch.cat([MEANS + 0.5 * STDS, MEANS - 0.5 * STDS])
    assert (flow.log_prob(pts, steps=20) - _mixture_log_prob(pts)).abs().max() < 0.35
    # conditioned on a label, the other component's mean is far less likely
    lp_cond = flow.log_prob(MEANS, {"label": _labels(0, 2)}, steps=20)
    assert lp_cond[0] > lp_cond[1] + 5


def test_log_prob_is_differentiable_in_z(flow):
    z = torch.tensor([[1.5, -0.8]], requires_grad=True)
    lp = flow.log_prob(z, steps=8)
    (grad,) = torch.autograd.grad(lp.sum(), z)
    eps = 1e-2
    fd = torch.stack([(flow.log_prob(z.detach() + eps * e, steps=8) - flow.log_prob(z.detach() - eps * e, steps=8))
                      / (2 * eps) for e in torch.eye(2)], -1)
    assert torch.allclose(grad, fd, atol=0.05 * float(fd.abs().max()) + 1e-3), (grad, fd)


def test_a_condition_acts_only_where_it_is_given(flow):
    g = lambda: torch.Generator().manual_seed(3)
    label, noise = _labels(0, 64), torch.randn(64, 2)
    absent = {"noise": torch.zeros(64, dtype=torch.bool)}
    base = flow.sample(conditions={"label": label, "noise": noise}, masks=absent, generator=g())
    other_noise = flow.sample(conditions={"label": label, "noise": 5 + noise}, masks=absent, generator=g())
    assert torch.equal(base, other_noise)                   # an absent modality's values never matter
    assert torch.equal(base, flow.sample(conditions={"label": label}, generator=g()))
    other_label = flow.sample(conditions={"label": _labels(1, 64), "noise": noise}, masks=absent, generator=g())
    assert (other_label - base).abs().mean() > 1.0          # the given one does


def test_guidance_zero_is_the_unconditional_prior(flow):
    g = lambda: torch.Generator().manual_seed(5)
    guided = flow.sample(conditions={"label": _labels(0, 100)}, guidance=0.0, generator=g())
    assert torch.equal(guided, flow.sample(n=100, generator=g()))
    assert torch.allclose(flow.log_prob(guided[:4], {"label": _labels(0, 4)}, guidance=0.0, steps=4),
                          flow.log_prob(guided[:4], steps=4))
    strong = flow.sample(conditions={"label": _labels(0, 500)}, guidance=3.0, generator=g())
    assert (strong.mean(0) - MEANS[0]).abs().max() < 0.5     # guidance > 1 stays on the condition


def test_save_and_load_give_the_same_prior(flow, tmp_path):
    save_flow_prior(tmp_path, flow, {"note": "test"})
    assert (tmp_path / "priors" / "flow.safetensors").is_file() and (tmp_path / "priors" / "flow.json").is_file()
    again = load_flow_prior(tmp_path)
    assert again.config == flow.config and again.summary["steps"] == 800
    assert json.loads((tmp_path / "priors" / "flow.json").read_text())["note"] == "test"
    for (k, a), (_, b) in zip(flow.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    cond = {"label": _labels(1, 50)}
    assert torch.equal(flow.sample(conditions=cond, generator=torch.Generator().manual_seed(0)),
                       again.sample(conditions=cond, generator=torch.Generator().manual_seed(0)))
    assert load_flow_prior(tmp_path / "elsewhere") is None
    # weights that do not fit the saved config are refused, not half-loaded
    meta = json.loads((tmp_path / "priors" / "flow.json").read_text())
    meta["config"]["hidden"] = 16
    (tmp_path / "priors" / "flow.json").write_text(json.dumps(meta))
    with pytest.raises(FlowPriorError, match="train the prior again"):
        load_flow_prior(tmp_path)


def test_bad_requests_say_what_to_give(flow):
    with pytest.raises(FlowPriorError, match="no condition"):
        flow.sample(conditions={"colour": torch.zeros(3, 2)})
    with pytest.raises(FlowPriorError, match="numbers per sample"):
        flow.sample(conditions={"label": torch.zeros(3, 5)})
    with pytest.raises(FlowPriorError, match="method"):
        flow.sample(n=3, method="rk45")
    with pytest.raises(FlowPriorError, match="number of samples"):
        flow.sample()
