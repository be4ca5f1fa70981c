"""Generation speed of the transformer family, with and without the key/value cache.

    python benchmarks/transformer_speed.py                       # preset sizes, random weights
    python benchmarks/transformer_speed.py --captioner runs/cap-l5-image --generator runs/ar-l5-image

Measures greedy captioning (caption tokens per second; beam search too) and autoregressive
image / video generation (codes per second and images or videos per second, tokenizer decoding
included), each with the KV cache and without it (every step recomputes the whole prefix), and
reports the cache's speed-up measured in the same run. Without run folders the models are built
at the presets' sizes with random weights (speed does not depend on the weights, except that a
trained captioner stops at its captions' EOS). Prints JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _modalities(config):
    from synesthesia.data.sources import WorldSource
    from synesthesia.training.run import resolve_modalities

    return resolve_modalities(config, WorldSource.from_config(config.data.world))


def from_preset(name: str):
    """A model with random weights at a preset's sizes, its modalities and world."""
    from synesthesia.models.registry import build_model
    from synesthesia.runs.config import RunConfig

    config = RunConfig.from_yaml(ROOT / "configs" / "transformer" / f"{name}.yaml", ["data.n_train=2000"])
    mods = _modalities(config)
    if config.model.kind == "autoregressive":
        config.model.tokenizer_run = None                     # the embedded tokenizer config suffices
    model = build_model("transformer", mods, config.model).eval()
    if hasattr(model, "tokenizer_ready"):
        model.tokenizer_ready.fill_(True)                     # random tokenizer weights: speed only
    return model, mods, config


def from_run(run: str):
    from synesthesia.runs import load_model

    return load_model(run)


def _time(fn, repeats: int) -> float:
    fn()                                                       # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def captioner_speed(model, mods, config, batch: int, repeats: int) -> list[dict]:
    from synesthesia.data.sources import WorldSource
    from synesthesia.modalities.text import PAD

    source = model.sources[0]
    data = WorldSource.from_config(config.data.world).dataset("test", batch, {source: mods[source]})
    x = {source: data[list(range(batch))].data[source]}
    rows = []
    for method, extra in (("greedy", {}), ("beam", {"beam_size": 4})):
        for cache in (True, False):
            out = model.generate(x, ["text"], method=method, use_cache=cache, **extra)["text"]
            tokens = int((out != PAD).sum())
            secs = _time(lambda: model.generate(x, ["text"], method=method, use_cache=cache, **extra), repeats)
            rows.append({"model": f"captioner {source}->text", "decoding": method + (" x4" if extra else ""),
                         "kv_cache": cache, "batch": batch, "tokens_per_s": tokens / secs,
                         "items_per_s": batch / secs, "seconds_per_batch": secs})
    return rows


def generator_speed(model, batch: int, repeats: int, cfg_scale: float) -> list[dict]:
    text = model.modalities["text"]
    ids = text.encode(["a big red star at the top left on a striped background"] * batch)
    rows = []
    for cache in (True, False):
        def run():
            g = torch.Generator().manual_seed(0)
            return model.generate({"text": ids}, [model.visual], g, cfg_scale=cfg_scale, use_cache=cache)
        secs = _time(run, repeats)
        rows.append({"model": f"autoregressive text->{model.visual}", "decoding": f"sample, cfg {cfg_scale:g}",
                     "kv_cache": cache, "batch": batch, "tokens_per_s": batch * model.n_codes / secs,
                     "items_per_s": batch / secs, "seconds_per_batch": secs})
    return rows


def with_speedups(rows: list[dict]) -> list[dict]:
    for r in rows:
        base = next(b for b in rows if b["model"] == r["model"] and b["decoding"] == r["decoding"] and not b["kv_cache"])
        r["cache_speedup"] = base["seconds_per_batch"] / r["seconds_per_batch"]
    return rows


def table(rows: list[dict]) -> str:
    head = "| model | decoding | KV cache | batch | tokens/s | items/s | speed-up from the cache |\n|---|---|---|---|---|---|---|"
    lines = [f"| {r['model']} | {r['decoding']} | {'yes' if r['kv_cache'] else 'no'} | {r['batch']} | "
             f"{r['tokens_per_s']:,.0f} | {r['items_per_s']:,.1f} | {r['cache_speedup']:.2f}x |" for r in rows]
    return "\n".join([head, *lines])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captioner", default=None, help="captioner run (default: preset captioner-l5-image, random)")
    ap.add_argument("--generator", action="append", default=None,
                    help="generator run(s) (default: presets ar-l5-image and ar-l5-video, random)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cfg-scale", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    with torch.no_grad():
        cap = from_run(args.captioner) if args.captioner else from_preset("captioner-l5-image")
        rows = captioner_speed(*cap, args.batch, args.repeats)
        gens = args.generator or ["ar-l5-image", "ar-l5-video"]
        for g in gens:
            model = (from_run(g) if Path(g).is_dir() else from_preset(g))[0]
            rows += generator_speed(model, args.batch if model.visual == "image" else max(1, args.batch // 4),
                                    args.repeats, args.cfg_scale)
    rows = with_speedups(rows)
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=2))
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
