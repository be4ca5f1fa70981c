"""Time to first output of ``synesthesia generate``: from the command's start to its first output
line (the path of the first file written), median of several runs, for each run folder given.

    python benchmarks/cli_latency.py RUN [RUN ...] [--repeats 5] [--json out.jsonl]

Each run is asked for one output from an input of another modality it reads (``--to text
--image X.png`` where the run makes text from images; else the first direction it serves). The
input image is drawn from the world. Also reported: the seconds to import the command line, the
median seconds a fresh interpreter takes to ``import torch`` (the floor of any command that runs a
PyTorch model), the heavy modules an inference command loaded (Lightning, matplotlib, tensorboard should be
absent), and whether the CPU was shared (the 1-minute load average against the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HEAVY = ("lightning", "matplotlib", "tensorboard", "pandas", "scipy")


def first_output_seconds(cmd: list[str], env: dict) -> tuple[float, float]:
    """(seconds to the first stdout line, seconds to the end) of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    first = time.perf_counter() - t0
    _, err = proc.communicate()
    total = time.perf_counter() - t0
    if proc.returncode != 0 or not line:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return first, total


def import_torch_seconds(env: dict) -> float:
    """Seconds from starting a fresh interpreter to its first output line after ``import torch``:
    the floor of any command that runs a PyTorch model, timed as the first output is."""
    return first_output_seconds([sys.executable, "-c", "import torch; print('imported', flush=True)"], env)[0]


def loaded_heavy(run: Path, args: list[str], env: dict) -> list[str]:
    """Heavy top-level packages an in-process generate imports."""
    code = ("import sys\nfrom synesthesia.cli import main\n"
            f"main({['generate', str(run), *args]!r})\n"
            f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("LOADED")][-1]
    return json.loads(line.removeprefix("LOADED ").replace("'", '"'))


def direction(run: Path) -> tuple[str, str]:
    """(target, given) this run serves, image -> text first."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from synesthesia.runs.config import RunConfig

    mods = list(RunConfig.from_yaml(run / "config.yaml").modalities) or ["image", "text"]
    if "image" in mods and "text" in mods:
        return "text", "image"
    return mods[-1], mods[0]


def sample_input(modality: str, folder: Path) -> Path:
    """A file of ``modality`` for the command to read."""
    from PIL import Image

    path = folder / {"image": "input.png", "text": "input.txt"}.get(modality, "input.bin")
    if modality == "image":
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        return path
    raise SystemExit(f"no sample input for {modality}; give a run that reads images")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, help="append a row per run to this JSONL file")
    ap.add_argument("--note", default="", help="a note kept in the rows (e.g. how quiet the machine was)")
    args = ap.parse_args()
    env = {**os.environ}
    exe = [sys.executable, "-m", "synesthesia"]
    t0 = time.perf_counter()
    subprocess.run([*exe, "--version"], check=True, capture_output=True, env=env)
    start = time.perf_counter() - t0
    floor = statistics.median(import_torch_seconds(env) for _ in range(args.repeats))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs:
            to, given = direction(run)
            cli = ["--to", to, f"--{given}", str(sample_input(given, Path(tmp))), "--n", "1"]
            times = [first_output_seconds([*exe, "generate", str(run), *cli, "--out", f"{tmp}/o{k}"], env)
                     for k in range(args.repeats)]
            load = os.getloadavg()[0]
            row = {"benchmark": "cli_latency", "run": str(run), "direction": f"{given}->{to}",
                   "first_output_s_median": round(statistics.median(t for t, _ in times), 2),
                   "first_output_s": [round(t, 2) for t, _ in times],
                   "total_s_median": round(statistics.median(t for _, t in times), 2),
                   "cli_start_s": round(start, 2), "import_torch_s_median": round(floor, 2),
                   "heavy_modules_loaded": loaded_heavy(run, [*cli, "--out",
                                                                                           f"{tmp}/heavy"], env),
                   "cpus": os.cpu_count(), "load_1min": round(load, 1), "cpu_shared": load > 0.5 * os.cpu_count()}
            if args.note:
                row["note"] = args.note
            rows.append(row)
            print(json.dumps(row))
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
