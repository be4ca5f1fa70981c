"""``synesthesia train-prior RUN``: fit a flow prior to a joint VAE run and save it in the run."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def partial_caption_tokens(source, n: int, p: float, text_modality):
    """Partial captions (each attribute left out with probability ``p``) of the first ``n``
    training samples of a world source, as model-form tokens; None when the source is no world."""
    from synesthesia.data.sources import WorldSource

    if p <= 0 or not isinstance(source, WorldSource):
        return None
    world = {**source.config.to_dict(), "partial_caption_p": p}
    captions = WorldSource.from_config(world).captions("train", n)
    return text_modality.encode(captions)


def cmd_train_prior(args: argparse.Namespace) -> int:
    import torch

    from synesthesia.data.sources import open_source
    from synesthesia.runs import load_model
    from synesthesia.sampling.flow import FlowPriorError
    from synesthesia.sampling.flow_fit import FlowTrainConfig
    from synesthesia.sampling.flow_vae import encode_flow_data, build_flow_prior

    torch.manual_seed(args.seed)
    model, modalities, config = load_model(args.run)
    if config.family != "joint_vae":
        raise FlowPriorError(f"{args.run} is a {config.family} run; a flow prior serves joint VAEs' latents")
    data = config.data
    source = open_source(data.world, data.cache, data.manifest)
    size = getattr(source, "size", lambda split: None)("train")
    n = min(args.n or data.n_train, size) if size else (args.n or data.n_train)
    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    t0 = time.perf_counter()
    ds = source.dataset("train", n, modalities)
    variants = {}
    if "text" in modalities:
        tokens = partial_caption_tokens(source, len(ds), args.partial_captions, modalities["text"])
        if tokens is not None:
            variants["text"] = tokens
    flow_data = encode_flow_data(model, ds, variants=variants)
    encode_s = time.perf_counter() - t0
    say(f"encoded {len(ds)} training samples in {encode_s:.0f} s" +
        (f" (with partial captions, p = {args.partial_captions})" if variants else ""))
    train = FlowTrainConfig(steps=args.steps, minutes=args.minutes, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, latent=args.latent)
    flow = build_flow_prior(model, hidden=args.hidden, blocks=args.blocks)
    summary = flow.fit(flow_data, train, log=say)
    path = flow.save(args.run, {"encode_seconds": round(encode_s, 1), "rows": len(ds),
                                "partial_caption_p": args.partial_captions if variants else 0.0})
    print(json.dumps({k: v for k, v in summary.items() if k not in ("losses", "train")}))
    print(f"wrote {path}; generate with it through synesthesia.sampling.flow_vae.flow_generate")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-prior", help="fit a learned latent prior (conditional flow) to a joint VAE run",
                       description="Encode the run's training data with its joint VAE and fit a conditional "
                                   "rectified flow over the latent, conditional on any subset of the "
                                   "modalities; saved as RUN/priors/flow.safetensors and flow.json.")
    p.add_argument("run", type=Path, help="joint VAE run folder")
    p.add_argument("--steps", type=int, default=20000, help="update budget (default 20000)")
    p.add_argument("--minutes", type=float, default=None,
                   help="optional wall-clock budget; training stops at whichever comes first")
    p.add_argument("--n", type=int, default=None, help="training samples to encode (default the run's data.n_train)")
    p.add_argument("--batch-size", type=int, default=256, help="rows per update (default 256)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 0.001)")
    p.add_argument("--hidden", type=int, default=256, help="width of the velocity network (default 256)")
    p.add_argument("--blocks", type=int, default=4, help="residual blocks (default 4)")
    p.add_argument("--latent", default="sample", choices=["sample", "mean"],
                   help="fit draws from each row's posterior or its mean (default sample)")
    p.add_argument("--partial-captions", type=float, default=0.3,
                   help="on the world, also condition on partial captions of the same samples, each attribute "
                        "left out with this probability (default 0.3; 0 turns it off)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train_prior)
