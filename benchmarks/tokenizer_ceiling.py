"""Coherence of a visual tokenizer's reconstructions: the ceiling of an autoregressive generator.

    python benchmarks/tokenizer_ceiling.py runs/tok-l5-image [--n 1000]

An autoregressive generator draws codes and the tokenizer decodes them, so what the tokenizer
loses (a small shape blurred into another, a size off by one step) the generator cannot give back.
This encodes and decodes ``--n`` test samples of the run's own world and reads both the originals
and the reconstructions with the world's oracle. Accepts a tokenizer run or an autoregressive run
(whose frozen tokenizer is then measured). Prints JSON: strict and per-attribute accuracy of the
reconstructions (and of the originals, as a check of the oracle), and their mean squared error.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=250)
    args = ap.parse_args()

    from synesthesia.data.sources import WorldSource
    from synesthesia.models.transformer.tokenizer import VisualTokenizer
    from synesthesia.pipeline import load
    from synesthesia.world.judges.coherence import coherence
    from synesthesia.world.judges.oracles import get_oracle

    t0 = time.perf_counter()
    pipe = load(args.run)
    tok = pipe.model if isinstance(pipe.model, VisualTokenizer) else getattr(pipe.model, "tokenizer", None)
    if not isinstance(tok, VisualTokenizer):
        raise SystemExit(f"{args.run} is neither a tokenizer run nor an autoregressive run")
    tok.eval()
    visual = tok.name
    modality = pipe.modalities[visual]
    source = WorldSource(pipe.config.data.world)
    raw = source.load("test", args.n, [visual])
    x = modality.encode(raw[visual])
    with torch.no_grad():
        rec = torch.cat([tok.reconstruct(x[i:i + args.batch]) for i in range(0, len(x), args.batch)])
    oracle = get_oracle(source.config, visual)
    attrs = [a for a in source.config.varied if a in oracle.attributes]
    truth = {a: np.asarray(raw["codes"][a]) for a in attrs}

    def score(batch) -> dict:
        r = coherence(oracle.predict(batch), truth, attrs)
        return {"strict": round(r.strict, 4), "per_attribute": {a: round(v, 4) for a, v in r.per_attribute.items()}}

    result = {"run": str(args.run), "modality": visual, "n": args.n,
              "reconstruction": score(modality.decode(rec)), "original": score(raw[visual]),
              "mse": float((rec.float() - x.float()).square().mean()),
              "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
