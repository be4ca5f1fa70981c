"""Speed and size of the shapes world.

Prints samples/second for image+caption at 32 px and 64 px, all four modalities (image 64 px,
video 8 frames at 32 px, sound 1 s at 8 kHz), and the cache size on disk per 10,000 samples,
as JSON and a markdown table. Level 5 (every attribute varies) throughout.

    python benchmarks/world.py [--n 20000] [--cache-n 10000] [--full-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from synesthesia.world import WorldConfig
from synesthesia.world.cache import write_cache
from synesthesia.world.world import ShapesWorld


def rate(world: ShapesWorld, n: int, modalities, chunk: int = 2048, repeats: int = 2) -> float:
    """Best of ``repeats`` timed passes over ``n`` samples (after a warm-up chunk)."""
    world.render("train", range(min(chunk, n)), modalities)            # warm sprite caches
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _lo, _batch in world.render_chunks("train", n, chunk=chunk, modalities=modalities):
            pass
        best = max(best, n / (time.perf_counter() - t0))
    return best


def cache_bytes(world: ShapesWorld, n: int, root: Path) -> tuple[int, float]:
    out = root / "cache"
    t0 = time.perf_counter()
    write_cache(world, out, n, overwrite=True)
    secs = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    shutil.rmtree(out)
    return size, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="samples per speed measurement")
    ap.add_argument("--cache-n", type=int, default=10000, help="samples in the cache-size measurement")
    ap.add_argument("--full-cache", action="store_true",
                    help="also write the default 50,000-sample L5 cache and report its size")
    args = ap.parse_args()

    results: dict = {"cpu_count": os.cpu_count(), "level": 5}
    w32 = ShapesWorld(WorldConfig(level=5, image_size=32, modalities=("image", "text")))
    w64 = ShapesWorld(WorldConfig(level=5, image_size=64, modalities=("image", "text")))
    all4 = ShapesWorld(WorldConfig(level=5, image_size=64, video_size=32, video_frames=8))
    results["image+text 32px samples/s"] = round(rate(w32, args.n, ("image", "text")))
    results["image+text 64px samples/s"] = round(rate(w64, args.n, ("image", "text")))
    results["all four 64px samples/s"] = round(rate(all4, max(args.n // 4, 2048), None, chunk=1024))
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        size, secs = cache_bytes(all4, args.cache_n, Path(tmp))
        results["cache MB per 10k samples (all four, 64px)"] = round(size / 1e6 * 10000 / args.cache_n, 1)
        results["cache write samples/s"] = round(args.cache_n / secs)
        results["50k cache GB (extrapolated)"] = round(size / 1e9 * 50000 / args.cache_n, 2)
        if args.full_cache:
            size, secs = cache_bytes(all4, 50000, Path(tmp))
            results["50k cache GB (written)"] = round(size / 1e9, 2)
            results["50k cache write seconds"] = round(secs, 1)
    targets = {"image+text 32px samples/s": (">=", 20000), "all four 64px samples/s": (">=", 1000),
               "50k cache GB (extrapolated)": ("<", 3.0), "50k cache GB (written)": ("<", 3.0)}
    print(json.dumps(results, indent=2))
    print("\n| measure | value | target |\n|---|---|---|")
    for k, v in results.items():
        t = targets.get(k)
        print(f"| {k} | {v} | {' '.join(map(str, t)) if t else ''} |")


if __name__ == "__main__":
    main()
