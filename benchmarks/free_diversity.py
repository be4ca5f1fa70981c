"""Free-attribute diversity of X→image (or video) from partial captions.

    python benchmarks/free_diversity.py runs/gan-t2i-l5 [--p 0.5] [--captions 200] [--per 20] [--temperature 1]
                                        [--no-expand] [--prior flow] [--cfg-scale 1]
                                        [--model "what the run is" --write [--note TEXT]]

Test captions of the run's own world that leave each attribute out with probability ``--p``; for
each caption ``--per`` samples, read back by the world's oracle. Per attribute: coherence on the
captions that name it, and, over the captions that leave it free, the entropy of its generated
values within the samples of one caption relative to the data's entropy at the same group size
(:func:`synesthesia.evaluation.diversity.entropy_ratio`; 1.0 = as varied as the data). A run with
a caption expander (``synesthesia expander RUN``) completes each caption before generating, once
per sample; ``--no-expand`` measures the model alone. Prints JSON; ``--write`` also appends a row
(named by ``--model``) to ``benchmarks/results/free-diversity.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "free-diversity.jsonl"


def measure(pipe, p: float = 0.5, captions: int = 200, per: int = 20, target: str = "image",
            temperature: float = 1.0, expand: bool = False, **options) -> dict:
    """Free-attribute diversity and named-attribute coherence of ``pipe`` (a pipeline) from
    partial captions, generated with the pipeline's ``options`` (e.g. ``prior="flow"``)."""
    from synesthesia.data.sources import WorldSource
    from synesthesia.evaluation.diversity import entropy_ratio
    from synesthesia.evaluation.generation import generate_raw
    from synesthesia.world.judges.oracles import get_oracle
    from synesthesia.world.parser import parse_captions

    t0 = time.perf_counter()
    world = dataclasses.replace(pipe.config.data.world, partial_caption_p=p)
    source = WorldSource(world)
    raw = source.load("test", captions, ["text"])
    truth = {a: np.asarray(v) for a, v in raw["codes"].items()}
    named = parse_captions(raw["text"])
    tokens = pipe.modalities["text"].encode(raw["text"])
    out = generate_raw(pipe, {"text": tokens.repeat_interleave(per, 0)}, target, seed=1,
                       temperature=temperature, expand=expand, **options)
    oracle = get_oracle(source.config, target)
    pred = oracle.predict(out)
    groups = np.repeat(np.arange(captions), per)
    reference = source.load("test", 2000, [])["codes"]

    result: dict = {"p": p, "temperature": temperature, "expanded": expand, "captions": captions,
                    "per": per, "options": dict(options), "attributes": {}}
    strict = np.ones(len(groups), dtype=bool)
    for a in oracle.attributes:
        is_named = np.repeat(named[a] != -1, per)
        right = pred[a] == np.repeat(truth[a], per)
        strict &= ~is_named | right
        ratio = float("nan")
        if (~is_named).sum() >= 2:
            ratio = entropy_ratio({a: pred[a][~is_named]}, {a: np.asarray(reference[a])}, [a],
                                  groups[~is_named])[a]
        result["attributes"][a] = {"named_coherence": float(right[is_named].mean()) if is_named.any() else float("nan"),
                                   "free_entropy_ratio": ratio,
                                   "captions_naming": int(is_named.sum() // per),
                                   "captions_free": int((~is_named).sum() // per)}
    ratios = [v["free_entropy_ratio"] for v in result["attributes"].values() if not np.isnan(v["free_entropy_ratio"])]
    result["strict_on_named"] = float(strict.mean())
    result["free_entropy_ratio_mean"] = float(np.mean(ratios)) if ratios else float("nan")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--p", type=float, default=0.5, help="probability that a caption leaves an attribute out")
    ap.add_argument("--captions", type=int, default=200)
    ap.add_argument("--per", type=int, default=20, help="samples per caption")
    ap.add_argument("--target", default="image")
    ap.add_argument("--temperature", type=float, default=1.0, help="scale of the noise (GAN) or latent draws")
    ap.add_argument("--no-expand", action="store_true", help="give the captions as they are, without the run's expander")
    ap.add_argument("--prior", default=None, help="p(z) of a joint VAE, e.g. flow (the learned prior)")
    ap.add_argument("--cfg-scale", type=float, default=None, help="guidance of the flow prior (default 2)")
    ap.add_argument("--model", default=None, help="what the run is, as the results table names it")
    ap.add_argument("--note", default=None, help="a note kept in the row")
    ap.add_argument("--write", action="store_true", help=f"append a row to {RESULTS.name} (needs --model)")
    args = ap.parse_args()
    if args.write and not args.model:
        ap.error("--write needs --model (what the run is, for the results table)")
    options = {k: v for k, v in {"prior": args.prior, "cfg_scale": args.cfg_scale}.items() if v is not None}

    from synesthesia.pipeline import load

    pipe = load(args.run)
    result = measure(pipe, args.p, args.captions, args.per, args.target, args.temperature,
                     expand=pipe.runs[0].expander is not None and not args.no_expand, **options)
    print(json.dumps({"run": str(args.run), **result}, indent=1))
    if args.write:
        from synesthesia.io import append_jsonl

        append_jsonl(RESULTS, row(result, args.model, " ".join(["python", *sys.argv]), args.note))


def row(result: dict, model: str, command: str, note: str | None = None) -> dict:
    """The results table's row of one measurement (the CPU is taken as shared)."""
    attrs = {a: round(v["free_entropy_ratio"], 2) for a, v in result["attributes"].items()
             if not np.isnan(v["free_entropy_ratio"])}
    out = {"model": model, "expander": result["expanded"], "temperature": result["temperature"],
           "diversity": round(result["free_entropy_ratio_mean"], 2), "per_attribute": attrs,
           "named_right": round(result["strict_on_named"], 3), "captions": result["captions"],
           "per": result["per"], "p": result["p"], "options": result["options"], "cpu_shared": True,
           "command": command}
    return {**out, "note": note} if note else out


if __name__ == "__main__":
    main()
