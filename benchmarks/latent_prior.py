"""A joint VAE with and without its learned latent prior (``synesthesia train-prior``), scored by
the world's oracles as ``synesthesia evaluate`` scores it.

    synesthesia train-prior runs/l5-it --steps 1500
    PYTHONPATH=src python benchmarks/latent_prior.py runs/l5-it --model "MoPoE, level 5, image+text" [--guidance 1,2]

For the run: ``synesthesia evaluate RUN --n N`` (kept in RUN/evaluation-baseline/ and reused, the ceiling too),
the same evaluation with ``--prior flow --cfg-scale G --flow-steps S`` for each ``--guidance``
(in RUN/evaluation-flow-gG/), and the ceiling a prior cannot pass: every modality decoded from
z ~ q(z | all modalities of the test sample), scored against what the sample conveys, and the
agreement of all of them (what joint coherence asks). Appends one row per guidance to
``benchmarks/results/latent-prior.jsonl`` (rendered by ``benchmarks/results_page.py``) and prints
a table.
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
RESULTS = ROOT / "benchmarks" / "results" / "latent-prior.jsonl"


@torch.no_grad()
def ceiling(pipe, n: int, seed: int = 0, batch: int = 250) -> dict:
    """Strict coherence of every modality decoded from z ~ q(z | all modalities) of ``n`` test
    samples, against what the sample's modalities convey, and ``joint``: all modalities agree."""
    from synesthesia.evaluation.generation import load_eval_data
    from synesthesia.evaluation.suite import conveyed
    from synesthesia.sampling.flow_vae import joint_posterior
    from synesthesia.world.judges.coherence import UNSPECIFIED, coherence
    from synesthesia.world.judges.oracles import get_oracle

    data = load_eval_data(pipe, None, n)
    model, g = pipe.model, torch.Generator().manual_seed(seed)
    zs = []
    for lo in range(0, data.n, batch):
        sub = {m: x[lo:lo + batch] for m, x in data.tensors.items()}
        z_mean, z_logvar, _ = joint_posterior(model, sub, generator=g)
        zs.append(z_mean + torch.randn(z_mean.shape, generator=g) * (0.5 * z_logvar).exp())
    z = torch.cat(zs)
    out, preds = {}, {}
    for m in pipe.modalities:
        oracle = get_oracle(data.world, m)
        attrs = [a for a in data.world.varied if a in oracle.attributes]
        truth = conveyed(data, tuple(pipe.modalities), attrs)
        scored = [a for a in attrs if (truth[a] != UNSPECIFIED).any()]
        decoded = torch.cat([model.decode(z[lo:lo + batch], [m], g)[m].float() for lo in range(0, len(z), batch)])
        preds[m] = oracle.predict(pipe.modalities[m].decode_batch(decoded))
        out[m] = coherence(preds[m], truth, scored).strict
    agree = np.ones(data.n, dtype=bool)
    for a in data.world.varied:
        showing = [p[a] for p in preds.values() if a in p]
        if len(showing) >= 2:
            agree &= np.all([(s == showing[0]) & (s != UNSPECIFIED) for s in showing], axis=0)
    out["joint"] = float(agree.mean())
    return out


def evaluated(pipe, folder: Path, n: int, cycle: int, log, **options) -> dict:
    """``synesthesia evaluate`` of ``pipe`` with ``options``, kept in ``folder`` and reused."""
    from synesthesia.evaluation.evaluate import evaluate

    kept = folder / "metrics.json"
    if kept.is_file():
        metrics = json.loads(kept.read_text())
        if metrics.get("n") == n and metrics.get("generate_options") == options:
            return metrics
    t0 = time.perf_counter()
    metrics = evaluate(pipe, n=n, out=folder, cycle_rounds=cycle, log=log, overwrite=True, **options)
    metrics["benchmark_seconds"] = round(time.perf_counter() - t0, 1)
    return metrics


def figures(metrics: dict) -> dict:
    """Strict coherence per direction and joint, and FID per generated modality."""
    out = {k: round(v["strict"], 3) for k, v in metrics["coherence"].items()}
    out["joint"] = round(metrics["joint_coherence"]["strict"], 3)
    for m, f in metrics.get("fidelity", {}).items():
        for kind in ("conditional", "unconditional"):
            if kind in f and "fid" in f[kind]:
                out[f"FID {m} {kind}"] = round(f[kind]["fid"], 2)
    return out


def table(rows: list[dict]) -> str:
    keys = list(rows[0]["without"])
    lines = ["| | without prior | " + " | ".join(f"flow prior, guidance {r['guidance']:g}"
                                                 + (f", anchor {r['flow_anchor']}" if r["flow_anchor"] else "")
                                                 for r in rows)
             + " | ceiling |", "|---" * (3 + len(rows)) + "|"]
    for k in keys:
        ceil = rows[0].get("ceiling", {}).get(k.split("->")[-1] if "->" in k else k)
        lines.append(f"| {k} | {rows[0]['without'][k]} | " + " | ".join(str(r["with"].get(k, "")) for r in rows)
                     + f" | {'' if ceil is None else round(ceil, 3)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--model", default="", help="what the run is (kept in the results), e.g. 'MoPoE, level 5'")
    ap.add_argument("--n", type=int, default=1000, help="test samples (default 1000)")
    ap.add_argument("--guidance", default="1", help="comma-separated guidance scales (--cfg-scale; default 1)")
    ap.add_argument("--flow-steps", type=int, default=50, help="ODE steps of the flow (default 50)")
    ap.add_argument("--flow-anchor", default=None, help="draw joint samples in two stages through this modality")
    ap.add_argument("--cycle", type=int, default=3, help="image→text→image rounds (default 3)")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the reconstructions from q(z | all)")
    ap.add_argument("--note", default="", help="a note kept in the rows")
    ap.add_argument("--no-write", action="store_true", help="print only; append no rows")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    from synesthesia.io import append_jsonl, write_text_atomic
    from synesthesia.pipeline import load
    from synesthesia.runs import load_flow_prior, read_metrics

    log = lambda s: print(s, file=sys.stderr, flush=True)
    pipe = load(args.run)
    flow = load_flow_prior(args.run)
    if flow is None:
        raise SystemExit(f"{args.run} has no flow prior; run 'synesthesia train-prior {args.run}' first")
    vae_steps = read_metrics(args.run).get("training", {}).get("global_step")
    base = evaluated(pipe, args.run / "evaluation-baseline", args.n, args.cycle, log)
    kept = args.run / "evaluation-baseline" / f"ceiling-{args.n}.json"
    ceil = {} if args.no_ceiling else json.loads(kept.read_text()) if kept.is_file() else ceiling(pipe, args.n)
    if ceil and not kept.is_file():
        write_text_atomic(kept, json.dumps(ceil))
    rows = []
    for g in [float(x) for x in args.guidance.split(",")]:
        options = {"prior": "flow", "cfg_scale": g, "flow_steps": args.flow_steps,
                   **({"flow_anchor": args.flow_anchor} if args.flow_anchor else {})}
        folder = f"evaluation-flow-g{g:g}" + (f"-{args.flow_anchor}" if args.flow_anchor else "")
        metrics = evaluated(pipe, args.run / folder, args.n, args.cycle, log, **options)
        train = flow.summary.get("train", {})
        row = {"model": args.model or str(args.run), "run": str(args.run), "vae_steps": vae_steps,
               "fusion": pipe.config.model.fusion, "modalities": list(pipe.modalities),
               "prior_steps": flow.summary.get("steps"), "prior_seconds": flow.summary.get("seconds"),
               "prior_cpu_seconds": flow.summary.get("cpu_seconds"), "prior_rows": flow.summary.get("rows"),
               "prior_batch_size": train.get("batch_size"), "prior_latent": train.get("latent"),
               "guidance": g, "flow_steps": args.flow_steps, "flow_anchor": args.flow_anchor, "n": args.n,
               "without": figures(base), "with": figures(metrics), "ceiling": ceil,
               "evaluate_seconds": metrics.get("benchmark_seconds"), "cpu_shared": True,
               "command": f"synesthesia train-prior {args.run} --steps {flow.summary.get('steps')}; "
                          f"synesthesia evaluate {args.run} --n {args.n} --prior flow --cfg-scale {g:g} "
                          f"--flow-steps {args.flow_steps}"
                          + (f" --flow-anchor {args.flow_anchor}" if args.flow_anchor else ""),
               **({"note": args.note} if args.note else {})}
        if "note" not in row and pipe.run is not None:
            row["note"] = f"VAE: {pipe.run}/config.yaml"
        rows.append(row)
        if not args.no_write:
            append_jsonl(RESULTS, row)
    print(f"{args.run} ({args.model}): VAE {vae_steps} steps; prior {flow.summary.get('steps')} steps "
          f"in {flow.summary.get('cpu_seconds')} CPU s; CPU shared")
    print(table(rows))


if __name__ == "__main__":
    main()
