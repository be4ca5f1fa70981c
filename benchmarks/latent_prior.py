"""A joint VAE with and without its learned latent prior (the conditional flow of
``synesthesia train-prior``), scored by the world's oracles as ``synesthesia evaluate`` scores it.

    python benchmarks/latent_prior.py runs/l5-it --train-prior --prior-steps 20000 --label "l5 image+text"
    python benchmarks/latent_prior.py runs/l5-it --guidance 1,2 --free-diversity --ceiling

For the run: the evaluation without the prior (kept in RUN/evaluation-baseline/ and reused),
the same evaluation with z drawn by the flow (one per ``--guidance``), the ceiling the prior
cannot pass (``--ceiling``: every modality decoded from z ~ q(z | all modalities of the test
sample), scored against its truth, and the agreement of all of them), and the free-attribute
diversity of partial captions (``--free-diversity``). Appends one row per guidance to
``benchmarks/results/latent-prior.jsonl`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "latent-prior.jsonl"


class FlowPriorModel(torch.nn.Module):
    """The joint VAE with z drawn by its flow prior: the ``generate`` / ``directions`` contract
    the evaluation reads (the pipeline will offer this as ``prior="flow"``)."""

    def __init__(self, vae, flow, **options) -> None:
        super().__init__()
        self.vae, self.flow, self.options = vae, flow, options

    def directions(self):
        return self.vae.directions()

    def generate(self, given, targets, generator=None, temperature=1.0, batch_size=None, **options):
        from synesthesia.sampling.flow_vae import flow_generate

        return flow_generate(self.vae, self.flow, given, targets, generator=generator, temperature=temperature,
                             batch_size=batch_size, **{**self.options, **options})


def flow_pipeline(pipe, flow, **options):
    """The one adapter between this benchmark and the pipeline: ``pipe`` with its model's latent
    drawn by ``flow``."""
    from synesthesia.pipeline import Pipeline

    out = Pipeline(FlowPriorModel(pipe.model, flow, **options), pipe.modalities, pipe.config, pipe.run)
    out.expander = None
    return out


@torch.no_grad()
def ceiling(pipe, n: int, seed: int = 0, batch: int = 250, mean: bool = False) -> dict:
    """Every modality decoded from z ~ q(z | all modalities) of ``n`` test samples (its mean
    with ``mean``), read by the oracles: per modality strict/per-attribute against what the
    sample's modalities convey (as ``synesthesia evaluate`` scores a direction), and ``joint``:
    all modalities agree with each other (what joint coherence asks of unconditional samples)."""
    from synesthesia.evaluation.attribute_coherence import UNSPECIFIED, coherence
    from synesthesia.evaluation.generation import load_eval_data
    from synesthesia.evaluation.oracles import get_oracle
    from synesthesia.evaluation.suite import conveyed
    from synesthesia.sampling.flow_vae import joint_posterior

    data = load_eval_data(pipe, None, n)
    model, g = pipe.model, torch.Generator().manual_seed(seed)
    zs = []
    for lo in range(0, data.n, batch):
        sub = {m: x[lo:lo + batch] for m, x in data.tensors.items()}
        z_mean, z_logvar, _ = joint_posterior(model, sub, generator=g)
        zs.append(z_mean if mean else z_mean + torch.randn(z_mean.shape, generator=g) * (0.5 * z_logvar).exp())
    z = torch.cat(zs)
    out, preds = {}, {}
    for m in pipe.modalities:
        oracle = get_oracle(data.world, m)
        attrs = [a for a in data.world.varied if a in oracle.attributes]
        truth = conveyed(data, tuple(pipe.modalities), attrs)
        scored = [a for a in attrs if (truth[a] != UNSPECIFIED).any()]
        decoded = torch.cat([model.decode(z[lo:lo + batch], [m], g)[m].float() for lo in range(0, len(z), batch)])
        preds[m] = oracle.predict(pipe.modalities[m].decode_batch(decoded))
        c = coherence(preds[m], truth, scored)
        out[m] = {"strict": c.strict, "per_attribute": c.per_attribute}
    agree = np.ones(data.n, dtype=bool)
    for a in data.world.varied:
        showing = [p[a] for p in preds.values() if a in p]
        if len(showing) >= 2:
            agree &= np.all([(s == showing[0]) & (s != UNSPECIFIED) for s in showing], axis=0)
    out["joint"] = {"strict": float(agree.mean())}
    return out


def train_prior(run: Path, steps: int, minutes: float | None, extra: list[str]) -> None:
    from synesthesia.cli import main

    argv = ["train-prior", str(run), "--steps", str(steps), *(["--minutes", str(minutes)] if minutes else []), *extra]
    if main(argv) != 0:
        raise SystemExit("train-prior failed")


def baseline(pipe, run: Path, n: int, cycle: int, log) -> dict:
    """The run's evaluation without the prior, kept in RUN/evaluation-baseline/ and reused."""
    from synesthesia.evaluation.evaluate import evaluate

    kept = run / "evaluation-baseline" / "metrics.json"
    if kept.is_file():
        metrics = json.loads(kept.read_text())
        if metrics.get("n") == n:
            return metrics
    return evaluate(pipe, n=n, out=run / "evaluation-baseline", cycle_rounds=cycle, log=log)


def summary(metrics: dict) -> dict:
    """The figures of a metrics dict this benchmark reports."""
    coh = metrics["coherence"]
    fid = {m: {k: v[k]["fid"] for k in ("conditional", "unconditional") if k in v}
           for m, v in metrics.get("fidelity", {}).items()}
    return {"coherence": {k: {"strict": v["strict"], "per_attribute": v["per_attribute"]} for k, v in coh.items()},
            "joint": metrics["joint_coherence"], "fid": fid, "cycle": metrics.get("cycle"),
            "seconds": metrics.get("seconds")}


def table(rows: list[dict]) -> str:
    base = rows[0]["baseline"]
    heads = " | ".join(f"flow g={r['options']['guidance']:g}" + (f", anchor {r['options']['anchor']}"
                       if r['options'].get('anchor') else "") for r in rows)
    lines = [f"| direction | without prior | {heads} |", "|---" * (2 + len(rows)) + "|"]
    single = [k for k in base["coherence"] if "+" not in k.split("->")[0]]
    for k in single + [k for k in base["coherence"] if k not in single]:
        vals = " | ".join(f"{r['flow']['coherence'][k]['strict']:.3f}" for r in rows)
        lines.append(f"| {k} | {base['coherence'][k]['strict']:.3f} | {vals} |")
    lines.append(f"| joint | {base['joint']['strict']:.3f} | "
                 + " | ".join(f"{r['flow']['joint']['strict']:.3f}" for r in rows) + " |")
    for m, f in base["fid"].items():
        for kind in f:
            lines.append(f"| FID {m} {kind} | {f[kind]:.2f} | "
                         + " | ".join(f"{r['flow']['fid'][m][kind]:.2f}" for r in rows) + " |")
    if rows[0].get("free_diversity"):
        lines.append(f"| free-attribute diversity | {rows[0]['free_diversity_baseline']['free_entropy_ratio_mean']:.3f} | "
                     + " | ".join(f"{r['free_diversity']['free_entropy_ratio_mean']:.3f}" for r in rows) + " |")
    if rows[0].get("ceiling"):
        lines.append("| ceiling (decoded from q(z given all)) | "
                     + ", ".join(f"{m} {v['strict']:.3f}" for m, v in rows[0]["ceiling"].items()) + " | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--label", default="", help="what the row measures (kept in the results)")
    ap.add_argument("--n", type=int, default=1000, help="test samples (default 1000)")
    ap.add_argument("--train-prior", action="store_true", help="train the prior first (else use the run's)")
    ap.add_argument("--prior-steps", type=int, default=20000, help="with --train-prior: update budget")
    ap.add_argument("--prior-minutes", type=float, default=None, help="with --train-prior: wall-clock budget")
    ap.add_argument("--prior-arg", action="append", default=[], help="extra train-prior option, e.g. --prior-arg=--hidden=384")
    ap.add_argument("--guidance", default="1", help="comma-separated guidance scales (default 1)")
    ap.add_argument("--steps", type=int, default=50, help="ODE steps (default 50)")
    ap.add_argument("--method", default="heun", help="euler, heun or sde (default heun)")
    ap.add_argument("--anchor", default=None,
                    help="draw unconditional samples in two stages through this modality (e.g. text)")
    ap.add_argument("--cycle", type=int, default=3, help="image→text→image rounds (default 3)")
    ap.add_argument("--ceiling", action="store_true", help="also score reconstructions from q(z | all)")
    ap.add_argument("--free-diversity", action="store_true", help="also measure free-attribute diversity")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    from synesthesia.evaluation.evaluate import evaluate
    from synesthesia.io import write_text_atomic
    from synesthesia.pipeline import load
    from synesthesia.sampling.flow import FlowPrior

    log = lambda s: print(s, file=sys.stderr, flush=True)                          # noqa: E731
    if args.train_prior:
        train_prior(args.run, args.prior_steps, args.prior_minutes, args.prior_arg)
    pipe = load(args.run)
    pipe.config.data.world["partial_caption_p"] = 0.0        # complete captions, as the leaderboard scores
    flow = FlowPrior.load(args.run)
    vae_steps = json.loads((args.run / "metrics.json").read_text())["training"]["global_step"]
    base = baseline(pipe, args.run, args.n, args.cycle, log)
    extra: dict = {}
    if args.ceiling:
        extra["ceiling"] = ceiling(pipe, args.n)
        extra["ceiling_at_mean"] = ceiling(pipe, args.n, mean=True)
    if args.free_diversity:
        from free_diversity import measure

        extra["free_diversity_baseline"] = measure(pipe, expand=False)
    rows = []
    for guidance in [float(x) for x in args.guidance.split(",")]:
        options = {"guidance": guidance, "steps": args.steps, "method": args.method, "anchor": args.anchor}
        fpipe = flow_pipeline(pipe, flow, **options)
        metrics = evaluate(fpipe, n=args.n, cycle_rounds=args.cycle, log=log)
        row = {"run": str(args.run), "label": args.label, "vae_steps": vae_steps, "options": options,
               "prior": {**flow.summary, "losses": None}, "n": args.n, "cpu_shared": True,
               "date": time.strftime("%Y-%m-%d %H:%M"), "baseline": summary(base), "flow": summary(metrics),
               **extra}
        if args.free_diversity:
            row["free_diversity"] = measure(fpipe, expand=False)
        rows.append(row)
        old = RESULTS.read_text() if RESULTS.is_file() else ""
        write_text_atomic(RESULTS, old + json.dumps(row, default=float) + "\n")
    print(f"{args.run} ({args.label}): VAE {vae_steps} steps; prior {flow.summary.get('steps')} steps "
          f"in {flow.summary.get('seconds')} s; CPU shared")
    print(table(rows))


if __name__ == "__main__":
    main()
