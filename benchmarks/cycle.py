"""Agreement of the image→text→image cycle with its start, per round.

    python benchmarks/cycle.py RUN [RUN ...] [--route 'text->image=RUN'] [--n 200] [--rounds 5]

Starts from ``--n`` test captions of the first run's world (full captions) and runs ``--rounds``
rounds of text→image→text with the given run, or several runs composed (each direction to the
best of them, or to ``--route``). After each round, the fraction of chains whose caption, image, and
both keep every attribute of the start (captions parsed, images read by the world's image oracle).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--route", action="append", default=[], metavar="DIRECTION=RUN")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import synesthesia as syn
    from synesthesia.world import WorldConfig
    from synesthesia.world.world import ShapesWorld

    routes = dict(r.split("=", 1) for r in args.route)
    pipe = syn.load(*args.runs, routes=routes)
    world = WorldConfig.from_dict(pipe.config.data.world)
    texts = ShapesWorld(world).render("test", np.arange(args.n), ["text"])["text"]
    t0 = time.perf_counter()
    result = pipe.cycle(text=texts, rounds=args.rounds)
    out = {"runs": [str(r) for r in args.runs], "routes": routes, "level": world.level, "n": args.n,
           "seconds": round(time.perf_counter() - t0, 1), "agreement": result.agreement,
           "example": [caps[0] for caps in result.captions]}
    print(json.dumps(out, indent=2))
    print("\n| round | caption keeps the start | image keeps the start | both |\n|---|---|---|---|")
    for a in result.agreement:
        print(f"| {a['round']} | {a['caption']:.3f} | {a['image']:.3f} | {a['both']:.3f} |")


if __name__ == "__main__":
    main()
