"""What reading a large photo costs: a 12,000 x 12,000 image brought to a 32-px model input.

Each case runs in its own process; memory added is its peak resident set minus the peak after
the imports (torch included):

* ``jpeg whole``: the JPEG decoded at full size with Pillow (limits raised), then resized;
* ``jpeg drafted``: the image modality's reader, which decodes the JPEG at 1/8 scale (``draft``);
* ``png refused``: the same picture as a PNG, which has no reduced decode: refused from its header
  by ``limits.image_pixels`` before any pixel is decoded.

Prints JSON lines and a markdown table; the machine may be shared (say so with the figures).

    python benchmarks/media.py [--side 12000] [--size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "jpeg whole": ("big.jpg", "whole"),
    "jpeg drafted": ("big.jpg", "modality"),
    "png refused": ("big.png", "modality"),
}


def run_case(path: Path, how: str, size: int) -> dict:
    """In a child process: decode ``path`` and report seconds and peak RSS (MB)."""
    import resource

    from PIL import Image

    from synesthesia.limits import LimitExceeded, set_limits
    from synesthesia.modalities import build_modality

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # imports (torch) included
    t0 = time.perf_counter()
    outcome = "decoded"
    if how == "whole":
        set_limits(image_pixels=10 ** 9)
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as img:
            img.convert("RGB").resize((size, size))
    else:
        try:
            build_modality("image", size=size).encode([path])
        except LimitExceeded:
            outcome = "refused"
    return {"seconds": round(time.perf_counter() - t0, 3), "outcome": outcome,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "added_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before, 1)}


def make_files(folder: Path, side: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    tile = rng.integers(0, 255, (side // 100, side // 100, 3), dtype=np.uint8)
    img = Image.fromarray(tile).resize((side, side), Image.NEAREST)
    img.save(folder / "big.jpg", quality=90)
    img.save(folder / "big.png", compress_level=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=12000, help="image side in px (default 12000)")
    ap.add_argument("--size", type=int, default=32, help="model input size (default 32)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(Path(args.file), CASES[args.case][1], args.size)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        make_files(Path(tmp), args.side)
        for case, (name, _) in CASES.items():
            out = subprocess.run([sys.executable, __file__, "--case", case, "--file", str(Path(tmp) / name),
                                  "--size", str(args.size)], capture_output=True, text=True, check=True)
            row = {"case": case, "side": args.side, "file_mb": round((Path(tmp) / name).stat().st_size / 2 ** 20, 1),
                   "cpu_count": os.cpu_count(), **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| case | outcome | seconds | memory added (MB) | peak RSS (MB) | file (MB) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['outcome']} | {r['seconds']} | {r['added_mb']} | {r['peak_rss_mb']} | {r['file_mb']} |")


if __name__ == "__main__":
    main()
