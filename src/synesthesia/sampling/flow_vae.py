"""A flow prior for a joint VAE: its training data, and generation through it.

The flow models q(z | every modality) of the training rows (the aggregate posterior the
decoders were trained on), conditional on the unimodal experts q(z | x_m) of any subset of the
modalities: each condition vector is an expert's (mean, log-variance), so the flow needs no
encoder of its own and reads only the model's public ``experts`` / ``posterior`` / ``decode``.

    flow = fit_flow_prior(model, dataset, FlowTrainConfig(steps=20000))
    out = flow_generate(model, flow, {"text": tokens}, ["image"], guidance=1.0)   # text -> image
    joint = flow_generate(model, flow, {}, model.names, batch_size=16)             # joint samples
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from synesthesia.sampling.flow import FlowPrior, FlowPriorError
from synesthesia.sampling.flow_fit import FlowData, FlowTrainConfig
from synesthesia.sampling.flow_net import FlowPriorConfig

# guidance 2 scored above 1 in most directions and in joint samples at levels 3 and 5
# (benchmarks/latent_prior.py: docs/results.md, "latent prior")
DEFAULT_GUIDANCE = 2.0
DEFAULT_STEPS = 50


def build_flow_prior(model, **net) -> FlowPrior:
    """An untrained flow prior shaped for ``model`` (``net``: hidden, blocks, time_features)."""
    d = model.config.latent_dim
    return FlowPrior(FlowPriorConfig(latent_dim=d, modalities=list(model.names), condition_dim=2 * d, **net))


@torch.no_grad()
def expert_conditions(model, given: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None
                      ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The flow's condition vectors for ``given`` (modality -> model-form tensor): each given
    modality's expert as cat(mean, log-variance) (B, 2D), and its presence mask (B,)."""
    mu, logvar, mask = model.experts(given, masks)
    conds = {m: torch.cat([mu[i], logvar[i]], dim=-1) for i, m in enumerate(model.names) if m in given}
    return conds, {m: mask[model.names.index(m)] for m in conds}


@torch.no_grad()
def joint_posterior(model, data: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None = None,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """(mean, log-variance) (B, D) of q(z | every modality a row has) and the experts (mu,
    logvar, mask). A MoE's posterior is a mixture: one of the row's experts is drawn instead."""
    mu, logvar, mask = model.experts(data, masks)
    if model.config.fusion != "moe":
        return (*model.posterior(mu, logvar, mask), (mu, logvar, mask))
    scores = torch.rand(mask.shape, generator=generator, device=mask.device).masked_fill(~mask, -1.0)
    pick = scores.argmax(0)                                                     # (B,)
    rows = torch.arange(mask.shape[1], device=mask.device)
    return mu[pick, rows], logvar[pick, rows], (mu, logvar, mask)


@torch.no_grad()
def encode_flow_data(model, dataset, batch_size: int = 500,
                     variants: Mapping[str, torch.Tensor] | None = None) -> FlowData:
    """FlowData for the rows of ``dataset`` (``ds[list_of_indices]`` gives a batch with ``data``
    and ``masks``): latents of q(z | all the row's modalities) and every expert as a condition.
    ``variants`` (modality -> model-form tensor, one row per dataset row) are alternative inputs
    of a modality, such as partial captions of the same samples, encoded by its expert."""
    device = next(model.parameters()).device
    variants = dict(variants or {})
    unknown = [m for m in variants if m not in model.names]
    if unknown:
        raise FlowPriorError(f"variants for {unknown}: the model has {model.names}")
    g = torch.Generator(device=device).manual_seed(0)
    means, logvars, conds, masks = [], [], [], []
    alt: dict[str, list] = {m: [] for m in variants}
    for lo in range(0, len(dataset), batch_size):
        idx = list(range(lo, min(len(dataset), lo + batch_size)))
        batch = dataset[idx]
        data = {m: x.to(device) for m, x in batch.data.items() if m in model.names}
        sub_masks = {m: x.to(device) for m, x in batch.masks.items() if m in data}
        pm, pl, (mu, logvar, mask) = joint_posterior(model, data, sub_masks, g)
        means.append(pm.float().cpu())
        logvars.append(pl.float().cpu())
        conds.append(torch.cat([mu, logvar], dim=-1).float().cpu())
        masks.append(mask.cpu())
        for m, x in variants.items():
            c, _ = expert_conditions(model, {m: x[idx].to(device)})
            alt[m].append(c[m].float().cpu())
    rows = {model.names.index(m): torch.cat(v) for m, v in alt.items()}
    return FlowData(torch.cat(means), torch.cat(logvars), torch.cat(conds, dim=1), torch.cat(masks, dim=1), rows)


def fit_flow_prior(model, dataset, train: FlowTrainConfig | None = None, net: Mapping | None = None,
                   variants: Mapping[str, torch.Tensor] | None = None,
                   log: Callable[[str], None] | None = None) -> FlowPrior:
    """Encode ``dataset`` with ``model`` and fit a flow prior to it (see :func:`encode_flow_data`)."""
    model.eval()
    flow = build_flow_prior(model, **dict(net or {})).to(next(model.parameters()).device)
    flow.fit(encode_flow_data(model, dataset, variants=variants), train, log)
    return flow


@torch.no_grad()
def flow_generate(model, flow: FlowPrior, given: Mapping[str, torch.Tensor], targets: Sequence[str],
                  generator: torch.Generator | None = None, temperature: float = 1.0,
                  batch_size: int | None = None, guidance: float = DEFAULT_GUIDANCE, steps: int = DEFAULT_STEPS,
                  method: str = "heun", masks: Mapping[str, torch.Tensor] | None = None,
                  anchor: str | None = None) -> dict[str, torch.Tensor]:
    """Decode ``targets`` from z drawn by the flow prior conditioned on the experts of ``given``
    (``guidance``: 0 the unconditional prior, 1 the conditional flow, above 1 guided beyond it),
    or, with ``given`` empty, ``batch_size`` unconditional joint samples. With ``anchor`` (a
    modality) unconditional samples are drawn in two stages, as unCLIP draws a caption before
    its image: the anchor is decoded from z_0 of the unconditional flow, then z is drawn from the
    flow conditioned on that anchor (with ``guidance``) and every target decoded from it."""
    if list(flow.config.modalities) != list(model.names) or flow.config.latent_dim != model.config.latent_dim:
        raise FlowPriorError(f"this flow prior was fitted to a model with modalities {flow.config.modalities} "
                             f"and {flow.config.latent_dim} latent dims; this model has {model.names} and "
                             f"{model.config.latent_dim}: train the prior again for it")
    missing = [t for t in [*targets, *([anchor] if anchor else [])] if t not in model.names]
    if missing:
        raise FlowPriorError(f"this model cannot generate {missing}; it has {model.names}")
    options = dict(guidance=guidance, steps=steps, method=method, generator=generator, temperature=temperature)
    if not given:
        if not batch_size:
            raise FlowPriorError("unconditional samples need batch_size")
        z = flow.sample(n=batch_size, **options)
        if anchor is None:
            return model.decode(z, targets, generator)
        drawn = model.decode(z, [anchor], generator)[anchor]
        # what the model would be given: pixels within [0, 1], other outputs as they are
        given, masks = {anchor: drawn.clamp(0, 1) if anchor in ("image", "video") else drawn}, None
    conds, cond_masks = expert_conditions(model, given, masks)
    z = flow.sample(conditions=conds, masks=cond_masks, **options)
    return model.decode(z, targets, generator)
