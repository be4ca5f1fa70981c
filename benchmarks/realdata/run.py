"""The real-data benchmark: train every family on the real datasets, judge them, record the figures.

    PYTHONPATH=src python benchmarks/realdata/build.py --out data/realdata
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/realdata/run.py [--only vae-fashion,gan-fashion]
    PYTHONPATH=src python benchmarks/realdata/run.py --measure     # CPU seconds per step -> steps in 15 min

Each run in ``SPECS`` is trained through the normal ``synesthesia train`` command on its preset
(``configs/realdata/<name>.yaml``, with ``data.path`` set to the built dataset) for the preset's
fixed step budget, with ``--threads`` PyTorch threads; a run folder that already holds a model is
kept. It is then evaluated on the test split (:mod:`realdata.evaluate`): class accuracy read by the
judges on Fashion-MNIST, R-precision of the contrastive scorers on emoji. Rows go to
``benchmarks/results/realdata.jsonl`` (a run's earlier rows are replaced) and a picture grid per
direction to ``docs/realdata/``. ``--measure`` trains each preset twice for a few steps and
reports the CPU seconds per step, i.e. the wall time per step on a quiet machine with that many
threads, and so the steps a 15-minute budget reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realdata import evaluate as E
from realdata import judges as J
from realdata.grids import direction_grid
from synesthesia.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[2]
BUDGET_MINUTES = 15


@dataclass(frozen=True)
class Spec:
    name: str                  # run folder name and preset name under configs/realdata/
    dataset: str               # fashion-mnist or emoji
    model: str                 # as tables show it
    needs: str | None = None   # the tokenizer run an autoregressive generator is built on
    judged: bool = True        # evaluated (tokenizers only give their reconstruction ceiling)


SPECS = [Spec("vae-fashion", "fashion-mnist", "joint VAE (MoPoE)"),
         Spec("gan-fashion", "fashion-mnist", "conditional GAN"),
         Spec("gan-fashion-speech", "fashion-mnist", "conditional GAN"),
         Spec("gan-fashion-image-speech", "fashion-mnist", "conditional GAN"),
         Spec("captioner-fashion", "fashion-mnist", "transformer captioner"),
         Spec("tokenizer-fashion", "fashion-mnist", "FSQ tokenizer", judged=False),
         Spec("ar-fashion", "fashion-mnist", "autoregressive transformer", needs="tokenizer-fashion"),
         Spec("vae-emoji", "emoji", "joint VAE (MoPoE)"),
         Spec("gan-emoji", "emoji", "conditional GAN"),
         Spec("captioner-emoji", "emoji", "transformer captioner"),
         Spec("tokenizer-emoji", "emoji", "FSQ tokenizer", judged=False),
         Spec("ar-emoji", "emoji", "autoregressive transformer", needs="tokenizer-emoji")]


# -- training -----------------------------------------------------------------------------------
def train_command(spec: Spec, data: Path, runs: Path, out: Path, sets: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "synesthesia.cli", "train", f"realdata/{spec.name}", "--out", str(out),
           "--no-progress", "--no-gallery", "--set", f"data.path={(data / spec.dataset).resolve()}"]
    if spec.needs:
        cmd += ["--set", f"model.tokenizer_run={(runs / spec.needs).resolve()}"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def run_child(cmd: list[str], threads: int, log_file: Path) -> tuple[float, float]:
    """Run ``cmd`` with ``threads`` threads; (wall seconds, CPU seconds of the child)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log_file, "a", encoding="utf-8") as f:
        done = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (status {done.returncode}); see {log_file}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def train(spec: Spec, data: Path, runs: Path, threads: int, sets: list[str], log=print) -> dict:
    """Train ``spec`` unless its run exists; its timing record (kept beside the run)."""
    out, record = runs / spec.name, runs / f"{spec.name}.bench.json"
    if (out / "model.safetensors").is_file() and record.is_file():
        log(f"{spec.name}: trained already ({out})")
        return json.loads(record.read_text())
    cmd = train_command(spec, data, runs, out, [f"train.threads={threads}", *sets])
    log(f"{spec.name}: training ({' '.join(cmd[2:])})")
    wall, cpu = run_child(cmd, threads, runs / f"{spec.name}.log")
    training = json.loads((out / "metrics.json").read_text())["training"]
    info = {"steps": training["global_step"], "train_seconds": training["train_seconds"],
            "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "threads": threads,
            "load_average": round(os.getloadavg()[0], 1), "command": shown_command(cmd[3:], threads)}
    write_text_atomic(record, json.dumps(info, indent=2) + "\n")
    log(f"{spec.name}: {info['steps']} steps in {wall / 60:.1f} min wall, {cpu / 60:.1f} CPU-min")
    return info


def shown_command(args: list[str], threads: int) -> str:
    """The training command as a person types it from the repository (paths relative to it)."""
    root = str(ROOT) + os.sep
    words = [a.replace(root, "") for a in args]
    return f"OMP_NUM_THREADS={threads} synesthesia " + " ".join(w if " " not in w else repr(w) for w in words)


def measure(spec: Spec, data: Path, runs: Path, threads: int, sets: list[str], log=print) -> dict:
    """CPU seconds per step of ``spec`` with ``threads`` threads (two short runs, their
    difference: start-up and data loading cancel), and the steps 15 minutes reach at that speed."""
    import tempfile

    cpu = {}
    with tempfile.TemporaryDirectory(prefix="realdata-measure-", dir=runs) as tmp:
        for steps in (10, 60):
            out = Path(tmp) / f"{spec.name}-{steps}"
            short = [f"train.threads={threads}", f"train.max_steps={steps}", "data.n_train=2000", "data.n_val=64",
                     "train.checkpoint_every=100000"]
            cmd = train_command(spec, data, runs, out, [*sets, *short])
            cpu[steps] = run_child(cmd, threads, Path(tmp) / "log")[1]
    per_step = (cpu[60] - cpu[10]) / 50
    row = {"kind": "speed", "run": spec.name, "threads": threads, "cpu_seconds_per_step": round(per_step, 4),
           "steps_in_budget": int(BUDGET_MINUTES * 60 / per_step), "budget_minutes": BUDGET_MINUTES,
           "command": f"python benchmarks/realdata/run.py --measure --only {spec.name}"}
    log(f"{spec.name}: {per_step:.3f} CPU s/step -> {row['steps_in_budget']} steps in {BUDGET_MINUTES} min")
    return row


# -- evaluation ---------------------------------------------------------------------------------
ARROW = {"text": "caption", "audio": "speech", "image": "image"}


def labels_for(given, target, data: E.TestData, entry: dict, classes: list[str]) -> list[str]:
    out = []
    for i, row in enumerate(data.rows[:16]):
        parts = []
        if "text" in given:
            parts.append(f"“{row['text'][0]}”")
        if "audio" in given:
            parts.append(f"said: “{row['spoken']}” ({row['voice'].split(' ')[0].split(':')[1]})")
        if target == "text":
            parts.append(f"-> “{entry['outputs'][i]}”")
        if not set(given) & {"text", "audio"}:
            parts.append(f"true: {row['class']}")
        read = entry["read"][i]
        parts.append(f"[read: {classes[read] if read >= 0 else '?'}]")
        out.append("\n".join(parts))
    return out


def _shown_path(path: Path | None) -> str | None:
    if path is None:
        return None
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def direction_row(spec: Spec, name: str, entry: dict, info: dict, grid: Path | None, extra: dict) -> dict:
    return {"kind": "direction", "dataset": spec.dataset, "run": spec.name, "model": spec.model, "direction": name,
            "steps": info["steps"], "train_minutes": round(info["train_seconds"] / 60, 1),
            "wall_minutes": round(info["wall_seconds"] / 60, 1),
            "cpu_minutes": round(info["cpu_seconds"] / 60, 1), "threads": info["threads"], "cpu_shared": True,
            "n": entry["n"], "grid": _shown_path(grid),
            "command": info["command"], **extra}


def evaluate_fashion(spec: Spec, pipe, data_dir: Path, runs: Path, judges: dict, info: dict, n: int, docs: Path,
                     log=print, **options) -> list[dict]:
    J.check_settings(pipe.modalities)
    dataset = data_dir / "fashion-mnist"
    data = E.test_data(dataset, pipe.modalities, n)
    scores = E.score_labelled(pipe, data, judges, log=log, **options)
    classes, rows = judges["image"].classes, []
    for name, entry in scores.items():
        given, target = entry["given"], entry["target"]
        grid = docs / f"{spec.name}-{'-'.join(given)}-to-{target}.png"
        title = f"{spec.model}, Fashion-MNIST, {' + '.join(ARROW[g] for g in given)} -> {ARROW[target]}: " \
                f"class accuracy {entry['accuracy']:.1%} ({info['steps']} steps)"
        direction_grid(pipe, given, target, data.tensors, entry["outputs"],
                       labels_for(given, target, data, entry, classes), title, grid)
        extra = {"metric": "class accuracy", "value": entry["accuracy"], "per_class": entry["per_class"]}
        if "fid" in entry:
            extra["fid"] = entry["fid"]
        rows.append(direction_row(spec, name, entry, info, grid, extra))
    rows += train_vs_test(spec, pipe, dataset, judges, scores, info, n, log, **options)
    if spec.name.startswith("vae") and not options:
        rec = E.reconstructions(pipe, data, judges)
        rows.append({"kind": "limit", "dataset": spec.dataset, "run": spec.name, "what": "reconstruction",
                     "class_accuracy": rec, "n": data.n, "command": info["command"]})
    if spec.needs:
        ceiling = E.tokenizer_ceiling(runs / spec.needs, data, judges)
        rows.append({"kind": "limit", "dataset": spec.dataset, "run": spec.needs, "what": "tokenizer reconstruction",
                     "class_accuracy": {"image": ceiling["accuracy"]}, "fid": ceiling["fid"], "n": data.n,
                     "command": info["command"]})
    return rows


def train_vs_test(spec: Spec, pipe, dataset: Path, judges: dict, scores: dict, info: dict, n: int,
                  log=print, **options) -> list[dict]:
    """The same directions from ``n`` training samples (speech in the training voices): a gap to the
    test figure is what the model did not carry over to unseen samples or voices. Speech outputs are
    left out (their Griffin-Lim round trip is the slow part) unless the run generates nothing else."""
    log(f"{spec.name}: the same directions on {n:,} training samples")
    targets = ("image", "text") if any(t != "audio" for _, t in pipe.directions()) else ("audio",)
    seen = E.score_labelled(pipe, E.test_data(dataset, pipe.modalities, n, split="train"), judges,
                            log=log, targets=targets, **options)
    return [{"kind": "limit", "dataset": spec.dataset, "run": spec.name, "what": "training samples",
             "direction": name, "train": entry["accuracy"], "test": scores[name]["accuracy"], "n": entry["n"],
             "command": info["command"]} for name, entry in seen.items()]


def evaluate_emoji(spec: Spec, pipe, run: Path, data_dir: Path, runs: Path, info: dict, n: int, docs: Path,
                   log=print) -> list[dict]:
    dataset = data_dir / "emoji"
    metrics = E.score_paired(run, dataset, n, runs / f"{spec.name}-eval", log)
    data = E.test_data(dataset, pipe.modalities, 16)
    rows = []
    for name, coh in metrics["coherence"].items():
        given, target = name.split("->")
        given = given.split("+")
        ceiling = metrics["real_pairs"].get(f"{given[0]}<->{target}") or \
            metrics["real_pairs"].get(f"{target}<->{given[0]}")
        out = E.generate(pipe, {g: data.tensors[g] for g in given}, target)
        outputs = pipe.modalities["text"].decode(out) if target == "text" else out
        labels = [(f"“{r['text'][0]}”" if target != "text" else f"-> “{outputs[i]}”\ntrue: {r['text'][0]}")
                  for i, r in enumerate(data.rows)]
        shown = ["image"]                              # the real emoji (given, or beside the generated one)
        grid = docs / f"{spec.name}-{'-'.join(given)}-to-{target}.png"
        title = f"{spec.model}, emoji, {' + '.join(ARROW[g] for g in given)} -> {ARROW[target]}: " \
                f"R-precision {coh['r_precision']:.1%} (real pairs {ceiling['r_precision']:.1%}; {info['steps']} steps)"
        direction_grid(pipe, shown, target, data.tensors, outputs, labels, title, grid)
        extra = {"metric": "R-precision", "value": coh["r_precision"], "ceiling": ceiling["r_precision"],
                 "of_ceiling": coh["r_precision"] / max(1e-9, ceiling["r_precision"]),
                 "similarity": coh["similarity"], "fid_scorer": (metrics.get("fid") or {}).get(target)}
        rows.append(direction_row(spec, name, {"n": metrics["n"]}, info, grid, extra))
    log(f"{spec.name}: the same directions on {metrics['n']:,} training emoji")
    for name, seen in E.score_paired_training(pipe, dataset, metrics["n"], log=log).items():
        test = next((r for r in rows if r["direction"] == name), None)
        if test is not None:
            rows.append({"kind": "limit", "dataset": spec.dataset, "run": spec.name, "what": "training samples",
                         "direction": name, "train": seen["r_precision"], "test": test["value"],
                         "train_ceiling": seen["ceiling"], "test_ceiling": test["ceiling"], "n": seen["samples"],
                         "metric": "R-precision", "command": info["command"]})
    return rows


def with_prior(spec: Spec, run: Path, info: dict, prior: str | None,
               cfg_scale: float | None = None) -> tuple[Spec, dict]:
    """The spec as tables name it and the generation options: a joint VAE evaluated through its
    learned prior is shown as its own row (``RUN-flow``, ``RUN-flow-gG`` at guidance ``cfg_scale``
    other than the default), with the prior's fitting in its CPU time (encoding the training data
    for it is not counted)."""
    from synesthesia.runs import flow_prior_info

    if prior is None or not spec.name.startswith("vae"):
        return spec, {"info": info}
    fit = flow_prior_info(run)
    if fit is None:
        raise SystemExit(f"{run} has no {prior} prior; train one first: synesthesia train-prior {run}")
    summary = fit.get("summary", {})
    steps = summary.get("steps")
    info = {**info, "cpu_seconds": info["cpu_seconds"] + float(summary.get("cpu_seconds") or 0),
            "command": f"{info['command']}; synesthesia train-prior {_shown_path(run)} --steps {steps}"}
    guided = {} if cfg_scale is None else {"cfg_scale": cfg_scale}
    shown = Spec(f"{spec.name}-{prior}" + (f"-g{cfg_scale:g}" if guided else ""), spec.dataset,
                 f"{spec.model} + {prior} prior ({steps} steps)" + (f", guidance {cfg_scale:g}" if guided else ""))
    return shown, {"info": info, "prior": prior, **guided}


def replace_rows(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` into the results: a row replaces the earlier row of the same kind, run and
    direction or measurement in its place (so a rerun leaves the file's order); new ones are appended."""
    key = lambda r: (r.get("kind"), r.get("run"), r.get("direction"), r.get("what"), r.get("judge"), r.get("on"))
    new = {key(r): r for r in rows}
    old = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.is_file() else []
    placed = [new.pop(key(r), r) for r in old]
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in placed + list(new.values())))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/realdata", type=Path)
    p.add_argument("--runs", default="runs/realdata", type=Path)
    p.add_argument("--only", default="", help="comma-separated run names (default: all)")
    p.add_argument("--n", type=int, default=1000, help="test samples evaluated")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--measure", action="store_true", help="measure CPU seconds per step instead")
    p.add_argument("--no-eval", action="store_true", help="train only")
    p.add_argument("--results", default=ROOT / "benchmarks/results/realdata.jsonl", type=Path)
    p.add_argument("--docs", default=ROOT / "docs/realdata", type=Path)
    p.add_argument("--small", action="store_true", help="judges of a few steps (tests)")
    p.add_argument("--set", action="append", default=[], help="key=value passed to every training")
    p.add_argument("--prior", choices=["flow"], default=None,
                   help="evaluate joint VAEs through their learned prior (synesthesia train-prior RUN first); "
                        "rows and grids are named RUN-flow")
    p.add_argument("--cfg-scale", type=float, default=None,
                   help="the prior's guidance (default the pipeline's, 2); rows are named RUN-flow-gG")
    a = p.parse_args(argv)
    wanted = [s for s in SPECS if not a.only or s.name in a.only.split(",")]
    a.runs.mkdir(parents=True, exist_ok=True)
    a.docs.mkdir(parents=True, exist_ok=True)
    if a.measure:
        replace_rows(a.results, [measure(s, a.data, a.runs, a.threads, a.set) for s in wanted])
        return 0
    judges = None
    for spec in wanted:
        info = train(spec, a.data, a.runs, a.threads, a.set)
        if a.no_eval or not spec.judged:
            continue
        from synesthesia.pipeline import load

        pipe, run = load(a.runs / spec.name), a.runs / spec.name
        if spec.dataset == "fashion-mnist":
            if judges is None:
                judges = J.get_judges(a.data / "fashion-mnist", a.runs / "judges", a.small)
                replace_rows(a.results, J.judge_rows(judges, a.data / "fashion-mnist",
                                                     "python benchmarks/realdata/judges.py"))
            shown, options = with_prior(spec, run, info, a.prior, a.cfg_scale)
            rows = evaluate_fashion(shown, pipe, a.data, a.runs, judges, options.pop("info"), a.n, a.docs,
                                    **options)
        else:
            rows = evaluate_emoji(spec, pipe, run, a.data, a.runs, info, a.n, a.docs)
        replace_rows(a.results, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
