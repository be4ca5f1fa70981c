"""Training a learned latent prior for a joint VAE run (``synesthesia train-prior RUN``): encode
the run's training data with its VAE (:func:`synesthesia.sampling.flow_vae.encode_flow_data`),
fit the conditional flow (:mod:`synesthesia.sampling.flow`) with the shared loop, and keep it in
the run folder (``RUN/priors/flow``), where ``prior="flow"`` finds it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from synesthesia.data.sources import WorldSource
from synesthesia.data.user_source import open_data
from synesthesia.runs import load_model, save_flow_prior
from synesthesia.sampling.flow import FlowPriorError
from synesthesia.sampling.flow_fit import FlowTrainConfig
from synesthesia.sampling.flow_vae import build_flow_prior, encode_flow_data


def partial_caption_tokens(source, n: int, p: float, text_modality) -> torch.Tensor | None:
    """Partial captions (each attribute left out with probability ``p``) of the first ``n``
    training samples of a world source, as model-form tokens; None when the source is no world."""
    if p <= 0 or not isinstance(source, WorldSource):
        return None
    world = dataclasses.replace(source.config, partial_caption_p=p)
    return text_modality.encode(WorldSource(world, source.cache).captions("train", n))


def train_flow_prior(run: str | Path, train: FlowTrainConfig | None = None, net: Mapping | None = None,
                     n: int | None = None, partial_captions: float = 0.3,
                     log: Callable[[str], None] | None = None) -> tuple[Path, dict]:
    """Fit a flow prior to the joint VAE in ``run`` on ``n`` of its training rows (default the
    run's ``data.n_train``) and save it there. ``net``: the flow's shape (hidden, blocks,
    time_features). ``partial_captions``: on the world, the text condition is also trained on
    partial captions of the same rows (each attribute left out with this probability), so a
    partial caption leaves what it does not name to the prior. Returns the saved path and the
    summary of the fit."""
    train = train or FlowTrainConfig()
    torch.manual_seed(train.seed)
    model, modalities, config = load_model(run)
    if config.family != "joint_vae":
        raise FlowPriorError(f"{run} is a {config.family} run; a flow prior models a joint VAE's latent")
    source = open_data(config.data)
    size = source.size("train")
    n = min(n or config.data.n_train, config.data.n_train, size or config.data.n_train)
    t0 = time.perf_counter()
    ds = source.dataset("train", n, modalities)
    variants = {}
    if "text" in modalities:
        tokens = partial_caption_tokens(source, len(ds), partial_captions, modalities["text"])
        if tokens is not None:
            variants["text"] = tokens
    data = encode_flow_data(model, ds, variants=variants)
    encode_s = time.perf_counter() - t0
    if log:
        log(f"encoded {len(ds)} training samples in {encode_s:.0f} s"
            + (f" (with partial captions, p = {partial_captions})" if variants else ""))
    flow = build_flow_prior(model, **dict(net or {}))
    summary = flow.fit(data, train, log)
    path = save_flow_prior(run, flow, {"encode_seconds": round(encode_s, 1), "rows": len(ds),
                                       "partial_caption_p": partial_captions if variants else 0.0})
    return path, summary
