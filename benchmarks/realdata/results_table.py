"""The tables of the real-data section of docs/results.md, from benchmarks/results/realdata.jsonl.

``benchmarks/results_page.py`` calls :func:`render` for a ``{{table NAME}}`` line of
docs/results/realdata.md; NAME picks the rows: ``judges``, ``fashion-mnist``, ``emoji``, ``limits``
(a joint VAE's reconstructions), ``train-test`` (the same directions on training samples) or
``speed``.
"""

from __future__ import annotations

from collections.abc import Callable

TABLES = ("judges", "fashion-mnist", "emoji", "limits", "train-test", "speed")
ARROWS = {"text": "caption", "audio": "speech", "image": "image"}
# the targets of the benchmark's issue: class accuracy on Fashion-MNIST, share of the real pairs'
# R-precision on emoji
TARGETS = {("fashion-mnist", "text->image"): 0.85, ("fashion-mnist", "image->text"): 0.88,
           ("fashion-mnist", "audio->image"): 0.80, ("fashion-mnist", "image->audio"): 0.70,
           ("emoji", "text->image"): 0.5, ("emoji", "image->text"): 0.5}


class UnknownTable(ValueError):
    """A table name this file does not render."""


def pct(x) -> str:
    return f"{100 * float(x):.1f} %"


def direction(name: str) -> str:
    given, target = name.split("->")
    return " + ".join(ARROWS.get(g, g) for g in given.split("+")) + " → " + ARROWS.get(target, target)


def minutes(r: dict) -> str:
    """Training's wall time, then the whole command's (reading the data too) and its CPU time."""
    threads = f"{r['threads']} thread{'s' * (r['threads'] > 1)}" + (", shared CPU" if r.get("cpu_shared") else "")
    whole = f"{r['wall_minutes']:g} min with data loading, {r['cpu_minutes']:g} CPU-min"
    if r.get("train_minutes") is None:
        return f"{whole} ({threads})"
    return f"{r['train_minutes']:g} min ({whole}; {threads})"


def target(r: dict) -> str:
    goal = r.get("target", TARGETS.get((r.get("dataset"), r["direction"])))
    return f"≥ {pct(goal)}" if goal is not None else ""


def grid(r: dict) -> str:
    path = r.get("grid")
    return f"[grid]({path.removeprefix('docs/')})" if path else ""


def _judges(rows):
    body = [[r["judge"], r["on"], pct(r["accuracy"]), f"{r['n']:,}"] for r in rows]
    return ["judge", "read on", "accuracy", "samples"], body


def _fashion(rows):
    body = [[r["model"], direction(r["direction"]), f"{r['steps']:,}", minutes(r), pct(r["value"]),
             target(r), f"{r['fid']:.2f}" if r.get("fid") is not None else "",
             grid(r)] for r in rows]
    return ["model", "direction", "steps", "training time", "class accuracy", "target", "FID (judge features)",
            "picture"], body


def _emoji(rows):
    body = [[r["model"], direction(r["direction"]), f"{r['steps']:,}", minutes(r), pct(r["value"]), pct(r["ceiling"]),
             pct(r["of_ceiling"]), target(r), grid(r)] for r in rows]
    return ["model", "direction", "steps", "training time", "R-precision", "real pairs", "share of real pairs",
            "target", "picture"], body


def _limits(rows):
    acc = lambda r, m: pct(r["class_accuracy"][m]) if m in r.get("class_accuracy", {}) else ""
    other = lambda r: (f"MSE {r['mse']:.4f} (pixel variance {r['data_variance']:.4f}); spread across inputs "
                       f"{r['spread']:.2f} (real images {r['data_spread']:.2f})") if "mse" in r else ""
    body = [[r["run"], r["what"], acc(r, "image"), acc(r, "text"), acc(r, "audio"),
             f"{r['fid']:.2f}" if r.get("fid") is not None else "", other(r)] for r in rows]
    return ["run", "what", "image class accuracy", "caption", "speech", "FID", "reconstructions"], body


def _train_test(rows):
    def cell(r, split):
        real = r.get(f"{split}_ceiling")
        return pct(r[split]) + (f" (real pairs {pct(real)})" if real is not None else "")

    body = [[r["run"], direction(r["direction"]), r.get("metric", "class accuracy"), cell(r, "test"),
             cell(r, "train"), f"{100 * (r['train'] - r['test']):+.1f} points"] for r in rows]
    return ["run", "direction", "measure", "test samples", "training samples", "gap"], body


def _speed(rows):
    body = [[f"`realdata/{r['run']}`", str(r["threads"]), f"{r['cpu_seconds_per_step']:.3f}",
             f"{r['steps_in_budget']:,}"] for r in rows]
    budget = f"steps in {rows[0]['budget_minutes']} min" if rows else ""
    return ["preset", "threads", "CPU seconds per step", budget], body


KINDS = {"judges": ("judge", _judges), "limits": ("limit", _limits), "train-test": ("limit", _train_test),
         "speed": ("speed", _speed),
         "fashion-mnist": ("direction", _fashion), "emoji": ("direction", _emoji)}


def render(rows: list[dict], name: str | None, page, with_commands: Callable) -> list[str]:
    if name not in KINDS:
        raise UnknownTable(f"realdata tables are named: {', '.join(TABLES)}")
    kind, build = KINDS[name]
    chosen = [r for r in rows if r.get("kind") == kind and (kind != "direction" or r.get("dataset") == name)
              and (kind != "limit" or (r.get("what") == "training samples") == (name == "train-test"))]
    page.show("realdata", chosen)
    header, body = build(chosen)
    return with_commands(header, body, chosen)
