"""MCMC against ancestral sampling for conditional generation with a joint VAE.

    python benchmarks/mcmc.py runs/l5-mopoe runs/l5-poe [--n 500] [--sampler hmc --steps 30]

For each run, two directions scored by the world's image oracle: sound→image and
partial-caption→image (test captions that leave each attribute out with probability 0.5; only
the attributes a caption names are scored). Each direction is generated three ways:

* ancestral: one draw from the amortised posterior q(z | given);
* ancestral at equal time: as many draws from q as fit in the MCMC's wall-clock time, one kept by
  importance resampling;
* MCMC (``--sampler``, default HMC) on the model's posterior, started from q.

``--prior aggregate`` puts the aggregate posterior of 2,000 training samples in place of N(0, I)
in the MCMC and resampling targets.

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


def directions(pipe, world, n: int) -> dict:
    """name -> (given tensors, truth codes with -1 where unspecified)."""
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
    return out


def score(pipe, oracle, given, truth, **options) -> tuple[dict, float, dict | None]:
    from synesthesia.evaluation.attribute_coherence import coherence
    from synesthesia.evaluation.generation import generate_tensors

    t0 = time.perf_counter()
    images = generate_tensors(pipe, given, "image", seed=0, **options)
    seconds = time.perf_counter() - t0
    c = coherence(oracle.predict(pipe.modalities["image"].decode_batch(images)), truth)
    return {"strict": round(c.strict, 4), "per_attribute": {a: round(v, 4) for a, v in c.per_attribute.items()}}, \
        seconds, getattr(pipe.model, "last_sampling", None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--sampler", default="hmc")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--prior", default="standard", choices=["standard", "aggregate"],
                    help="p(z) of the MCMC and resampling targets (aggregate: the aggregate posterior of "
                         "2,000 training samples)")
    args = ap.parse_args()

    import synesthesia as syn
    from synesthesia.evaluation.oracles import get_oracle
    from synesthesia.world import WorldConfig

    rows = []
    for run in args.runs:
        pipe = syn.load(run)
        world = WorldConfig.from_dict(pipe.config.data.world)
        oracle = get_oracle(world, "image")
        for name, (given, truth) in directions(pipe, world, args.n).items():
            anc, t_anc, _ = score(pipe, oracle, given, truth)
            mc, t_mc, diag = score(pipe, oracle, given, truth, sampler=args.sampler, steps=args.steps,
                                   chains=args.chains, prior=args.prior)
            k = max(2, int(round(t_mc / max(t_anc, 1e-6))))
            sir, t_sir, _ = score(pipe, oracle, given, truth, proposals=k, prior=args.prior)
            row = {"run": str(run), "fusion": pipe.config.model.get("fusion"), "direction": name, "prior": args.prior,
                   "ancestral": anc, "ancestral_s": round(t_anc, 1),
                   "equal_time_resampled": sir, "proposals": k, "resampled_s": round(t_sir, 1),
                   args.sampler: mc, f"{args.sampler}_s": round(t_mc, 1), "diagnostics": diag}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n| run | direction | ancestral | ancestral, equal time (K proposals) | {args.sampler} "
          f"({args.steps} steps) | seconds (anc / equal / {args.sampler}) | acceptance |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        d = r["diagnostics"] or {}
        print(f"| {r['fusion']} | {r['direction']} | {r['ancestral']['strict']:.3f} | "
              f"{r['equal_time_resampled']['strict']:.3f} (K={r['proposals']}) | {r[args.sampler]['strict']:.3f} | "
              f"{r['ancestral_s']} / {r['resampled_s']} / {r[args.sampler + '_s']} | {d.get('acceptance', float('nan')):.2f} |")


if __name__ == "__main__":
    main()
