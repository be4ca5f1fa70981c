"""MCMC against ancestral sampling for conditional generation with a joint VAE.

    python benchmarks/mcmc.py runs/l5-mopoe runs/l5-poe [--n 500] [--sampler hmc --steps 30]

For each run, two directions scored by the world's image oracle: sound→image and
partial-caption→image (test captions that leave each attribute out with probability 0.5; only
the attributes a caption names are scored). Each direction is generated three ways:

* ancestral: one draw from the amortised posterior q(z | given);
* ancestral at equal time: as many draws from q as fit in the MCMC's wall-clock time, one kept by
  importance resampling;
* MCMC (``--sampler``, default HMC) on the model's posterior, started from q.

``--complete-captions`` adds caption->image on complete captions, scored on every attribute, and
for 300 of them the image and the caption decoded from the same z ("read_back"): a caption read
back right beside a wrong image means the model's decoders disagree there, which no sampler of
its posterior can mend.
``--prior aggregate`` puts the aggregate posterior of 2,000 training samples in place of N(0, I)
in the MCMC and resampling targets; ``--prior gmm`` a Gaussian mixture fitted to it by EM (the
number of components chosen by held-out likelihood).

Prints strict coherence, per-attribute accuracy, seconds and sampler diagnostics, as JSON and a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def directions(pipe, world, n: int, complete: bool = False) -> dict:
    """name -> (given tensors, truth codes with -1 where unspecified). ``complete`` adds
    caption->image on complete captions: what the model's posterior knows of each attribute when
    the text names them all, a ceiling for the partial captions' attributes."""
    from synesthesia.data.store import encode_world_arrays, expand
    from synesthesia.world import WorldConfig
    from synesthesia.world.parser import parse_captions
    from synesthesia.world.world import ShapesWorld

    attrs = [a for a in world.varied if a != "motion"]
    out = {}
    if "audio" in pipe.modalities:
        raw = ShapesWorld(world).render("test", np.arange(n), ["audio"])
        x = expand(encode_world_arrays(raw, {"audio": pipe.modalities["audio"]}, world.sample_rate)["audio"])
        out["sound->image"] = ({"audio": x}, {a: raw["codes"][a] for a in attrs})
    if "text" in pipe.modalities:
        partial = WorldConfig.from_dict({**world.to_dict(), "partial_caption_p": 0.5})
        raw = ShapesWorld(partial).render("test", np.arange(n), ["text"])
        named = parse_captions(raw["text"])
        truth = {a: np.where(named[a] >= 0, raw["codes"][a], -1) for a in attrs}
        out["partial caption->image"] = ({"text": pipe.modalities["text"].encode(raw["text"])}, truth)
        if complete:
            raw = ShapesWorld(world).render("test", np.arange(n), ["text"])
            out["caption->image"] = ({"text": pipe.modalities["text"].encode(raw["text"])},
                                     {a: raw["codes"][a] for a in attrs})
    return out


def score(pipe, oracle, given, truth, **options) -> tuple[dict, float, dict | None]:
    from synesthesia.evaluation.generation import generate_tensors
    from synesthesia.world.judges.coherence import coherence

    t0 = time.perf_counter()
    images = generate_tensors(pipe, given, "image", seed=0, **options)
    seconds = time.perf_counter() - t0
    c = coherence(oracle.predict(pipe.modalities["image"].decode_batch(images)), truth)
    return summary(c), seconds, pipe.last_sampling


def summary(c) -> dict:
    """Strict and per-attribute coherence, rounded for the JSON rows."""
    return {"strict": round(c.strict, 4), "per_attribute": {a: round(v, 4) for a, v in c.per_attribute.items()}}


@torch.no_grad()
def read_back(pipe, oracle, given, truth, n: int = 300, **options) -> dict:
    """Decode the image and the caption from the same z (ancestral, or the MCMC of ``options``)
    for the first ``n`` inputs, and score both: where the caption is read back right and the
    image is not, the model's decoders disagree at that z and no sampler of its posterior helps."""
    from synesthesia.sampling.latent import mcmc_latents
    from synesthesia.world.judges.coherence import coherence
    from synesthesia.world.parser import parse_captions

    model, g = pipe.model, torch.Generator().manual_seed(0)
    sub = {m: x[:n] for m, x in given.items()}
    if options.get("sampler"):
        prior = pipe.runs[0].prior(options.get("prior") or "standard")
        z, _ = mcmc_latents(model, sub, options["sampler"], options.get("steps", 30), generator=g, prior=prior)
    else:
        z = model.sample_posterior(sub, g)
    out = model.decode(z, ["image", "text"], g)
    want = {a: v[:n] for a, v in truth.items()}
    image = coherence(oracle.predict(pipe.modalities["image"].decode_batch(out["image"])), want)
    named = parse_captions(pipe.modalities["text"].decode_batch(out["text"]))
    text = coherence({a: named[a] for a in want}, want)
    return {"image": summary(image), "caption": summary(text)}


def main() -> None:
    from synesthesia.sampling.densities import DENSITIES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--sampler", default="hmc")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--prior", default="standard", choices=list(DENSITIES),
                    help="p(z) of the MCMC and resampling targets (aggregate: the aggregate posterior of "
                         "2,000 training samples; gmm: a Gaussian mixture fitted to it)")
    ap.add_argument("--complete-captions", action="store_true",
                    help="also score caption->image on complete captions (the attributes the model's posterior "
                         "carries from text at all)")
    ap.add_argument("--directions", nargs="+", default=None,
                    help="score only these (sound->image, 'partial caption->image', caption->image)")
    args = ap.parse_args()

    import synesthesia as syn
    from synesthesia.world.judges.oracles import get_oracle

    rows = []
    for run in args.runs:
        pipe = syn.load(run)
        world = pipe.config.data.world
        oracle = get_oracle(world, "image")
        for name, (given, truth) in directions(pipe, world, args.n, args.complete_captions).items():
            if args.directions and name not in args.directions:
                continue
            anc, t_anc, _ = score(pipe, oracle, given, truth)
            prior = None if args.prior == "standard" else args.prior
            mc, t_mc, diag = score(pipe, oracle, given, truth, sampler=args.sampler, steps=args.steps,
                                   chains=args.chains, prior=prior)
            k = max(2, int(round(t_mc / max(t_anc, 1e-6))))
            sir, t_sir, _ = score(pipe, oracle, given, truth, proposals=k, prior=prior)
            row = {"run": str(run), "fusion": pipe.config.model.fusion, "direction": name, "prior": args.prior,
                   "ancestral": anc, "ancestral_s": round(t_anc, 1),
                   "equal_time_resampled": sir, "proposals": k, "resampled_s": round(t_sir, 1),
                   args.sampler: mc, f"{args.sampler}_s": round(t_mc, 1), "diagnostics": diag}
            if name == "caption->image":        # what the decoders make of the same z
                row["read_back"] = {"ancestral": read_back(pipe, oracle, given, truth),
                                    args.sampler: read_back(pipe, oracle, given, truth, sampler=args.sampler,
                                                            steps=args.steps, prior=prior)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n| run | direction | ancestral | ancestral, equal time (K proposals) | {args.sampler} "
          f"({args.steps} steps) | seconds (anc / equal / {args.sampler}) | acceptance |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        d = r["diagnostics"] or {}
        print(f"| {Path(r['run']).name} ({r['fusion']}) | {r['direction']} | {r['ancestral']['strict']:.3f} | "
              f"{r['equal_time_resampled']['strict']:.3f} (K={r['proposals']}) | {r[args.sampler]['strict']:.3f} | "
              f"{r['ancestral_s']} / {r['resampled_s']} / {r[args.sampler + '_s']} | {d.get('acceptance', float('nan')):.2f} |")


if __name__ == "__main__":
    main()
