"""``metrics.json`` and ``report.html`` of an evaluation, written into a folder atomically (a
temporary folder renamed into place, so a reader never sees half a report).

The report: a table per direction, a heat map of strict coherence for (given subset -> target),
sample grids with the conditioning shown beside each output, the cycle and fidelity tables, and
plots made with matplotlib.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from synesthesia.io import write_into, write_text_atomic
from synesthesia.reports import html
from synesthesia.world.preview import font, save_image


def coherence_matrix(coherence: Mapping[str, dict], key: str = "strict") -> tuple[list[str], list[str], np.ndarray]:
    """Rows (given subsets), columns (targets) and the ``key`` score (nan where not served)."""
    pairs = [(k.split("->")[0], k.split("->")[1]) for k in coherence]
    givens = sorted({g for g, _ in pairs}, key=lambda g: (g.count("+"), g))
    targets = sorted({t for _, t in pairs})
    m = np.full((len(givens), len(targets)), np.nan)
    for (g, t), v in zip(pairs, coherence.values()):
        m[givens.index(g), targets.index(t)] = v[key]
    return givens, targets, m

def heatmap(coherence: Mapping[str, dict], path: Path, key: str = "strict") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    givens, targets, m = coherence_matrix(coherence, key)
    fig, ax = plt.subplots(figsize=(1.4 * len(targets) + 2.5, 0.42 * len(givens) + 1.4))
    im = ax.imshow(np.ma.masked_invalid(m), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(targets)), targets)
    ax.set_yticks(range(len(givens)), givens)
    ax.set_xlabel("generated")
    ax.set_ylabel("given")
    for i in range(len(givens)):
        for j in range(len(targets)):
            if not math.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center",
                        color="white" if m[i, j] < 0.6 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, label=key.replace("_", " "))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

def cycle_plot(cycle: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    rounds = [c["round"] for c in cycle]
    for key in [k for k in cycle[0] if k != "round"]:
        ax.plot(rounds, [c[key] for c in cycle], marker="o", label=key)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("round")
    ax.set_ylabel("agreement with the start")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

def _as_frames(raw: Any, i: int) -> np.ndarray:
    """One sample as an image to show: images as they are, videos as a strip of 4 frames."""
    x = np.asarray(raw[i])
    if x.ndim == 4:
        pick = np.linspace(0, len(x) - 1, 4).round().astype(int)
        return np.concatenate(list(x[pick]), axis=1)
    return x

def sample_grid(inputs: Mapping[str, Any], outputs: Any, labels: list[str], path: Path, n: int = 6,
                height: int = 80) -> None:
    """One row per sample: the visual inputs, then the output (videos as 4-frame strips), with the
    row's label (the caption given, or what was generated) written beside it."""

    rows = []
    for i in range(min(n, len(labels))):
        shown = (*inputs.values(), outputs) if outputs is not None else tuple(inputs.values())
        cells = [_as_frames(v, i) for v in shown]
        cells = [Image.fromarray(c).resize((int(c.shape[1] * height / c.shape[0]), height), Image.NEAREST)
                 for c in cells]
        rows.append((cells, labels[i]))
    width = max(sum(c.width + 6 for c in cells) for cells, _ in rows) + 360
    canvas = Image.new("RGB", (width, len(rows) * (height + 8) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (cells, label) in enumerate(rows):
        x, y = 8, 8 + r * (height + 8)
        for c in cells:
            canvas.paste(c, (x, y))
            x += c.width + 6
        lines = textwrap.wrap(label, 48)[: max(1, height // 15)]
        for k, line in enumerate(lines):
            draw.text((x + 6, y + height // 2 - 7 * len(lines) + 14 * k), line, fill="black", font=font(12))
    save_image(canvas, path)

REPORT_FILES = ("metrics.json", "report.html", "figures")

def write_report(out: str | Path, metrics: dict, grids: Mapping[str, tuple] | None = None,
                 overwrite: bool = False) -> Path:
    """Write ``out/metrics.json``, ``out/report.html`` and ``out/figures/`` (``out`` is created if
    missing; other files in it are left alone, and these are replaced only with ``overwrite``);
    return the HTML."""
    with write_into(out, REPORT_FILES, overwrite) as tmp:
        figs = tmp / "figures"
        figs.mkdir()
        write_text_atomic(tmp / "metrics.json", json.dumps(metrics, indent=2, default=float))
        parts = [f"<h1>Evaluation of {html.esc(metrics.get('run', ''))}</h1>",
                 f"<p>{metrics.get('n', '')} test samples; data {metrics.get('data_fingerprint', '')}; "
                 f"run {metrics.get('run_fingerprint', '')}; {metrics.get('seconds', '')} s</p>"]
        coh = metrics.get("coherence") or {}
        if coh and "strict" in next(iter(coh.values())):
            heatmap(coh, figs / "coherence.png")
            parts.append("<h2>Coherence (strict) of every direction</h2><img src='figures/coherence.png'>")
            rows = [[k, v["strict"], ", ".join(f"{a} {x:.3f}" for a, x in v["per_attribute"].items()),
                     ", ".join(v.get("free", [])),
                     html.fmt(v.get("diversity", {}).get("mean", float("nan")))] for k, v in coh.items()]
            parts.append(html.table(["direction", "strict", "per attribute", "free attributes",
                                 "free diversity"], rows))
        elif coh:
            heatmap(coh, figs / "coherence.png", key="r_precision")
            parts.append("<h2>Coherence (contrastive scorer R-precision) of every direction</h2>"
                         "<img src='figures/coherence.png'>")
            rows = [[k, v["r_precision"], v["similarity"]] for k, v in coh.items()]
            rows += [[f"real pairs {k}", v["r_precision"], v["similarity"]]
                     for k, v in metrics.get("real_pairs", {}).items()]
            parts.append(html.table(["direction", "R-precision", "similarity"], rows))
        parts += _sections(metrics, figs)
        for name, (inputs, outputs, labels) in (grids or {}).items():
            fname = f"grid-{name.replace('->', '-to-').replace('+', '-')}.png"
            sample_grid(inputs, outputs, labels, figs / fname)
            parts.append(f"<h3>{html.esc(name)}</h3><img src='figures/{fname}'>")
        write_text_atomic(tmp / "report.html", html.page("synesthesia evaluation", parts))
    return Path(out) / "report.html"

def _sections(metrics: dict, figs: Path) -> list[str]:
    parts = []
    joint = metrics.get("joint_coherence")
    if joint:
        parts.append("<h2>Joint coherence of unconditional samples</h2>" + html.table(
            ["strict", *joint["per_attribute"]], [[joint["strict"], *joint["per_attribute"].values()]]))
    if metrics.get("scorer_fidelity"):
        parts.append("<h2>Fidelity (contrastive scorer embeddings)</h2>" + html.table(
            ["modality", "conditioned on", "FID", "KID", "samples"],
            [[m, v["conditional_on"], v["fid"], v["kid"], v["samples"]] for m, v in metrics["scorer_fidelity"].items()]))
    elif metrics.get("fid") and not metrics.get("fidelity"):
        parts.append("<h2>FID (scorer embeddings)</h2>" + html.table(list(metrics["fid"]), [list(metrics["fid"].values())]))
    if metrics.get("fidelity"):
        rows = []
        for m, v in metrics["fidelity"].items():
            for kind in ("conditional", "unconditional"):
                if kind in v:
                    s = v[kind]
                    rows.append([m, kind + (f" on {v['conditional_on']}" if kind == "conditional" else ""),
                                 s["fid"], s["kid"], s["precision"], s["recall"]])
        parts.append("<h2>Fidelity (oracle features)</h2>" +
                     html.table(["modality", "samples", "FID", "KID", "precision", "recall"], rows))
    if metrics.get("cycle"):
        cycle_plot(metrics["cycle"], figs / "cycle.png")
        keys = [k for k in metrics["cycle"][0] if k != "round"]
        parts.append("<h2>Cycle</h2><img src='figures/cycle.png'>" +
                     html.table(["round", *keys], [[c["round"], *[c[k] for k in keys]] for c in metrics["cycle"]]))
    if metrics.get("captioning"):
        parts.append("<h2>Captioning</h2>" + html.table(
            ["direction", "BLEU-4", "CIDEr-D", "distinct-2", "self-BLEU"],
            [[k, v["bleu4"], v["cider_d"], v["distinct_2"], v["self_bleu"]] for k, v in metrics["captioning"].items()]))
    if metrics.get("likelihood"):
        lik = {k: v for k, v in metrics["likelihood"].items() if k not in ("k", "n")}
        parts.append(f"<h2>Importance-weighted bounds (nats, K={metrics['likelihood'].get('k')})</h2>" +
                     html.table(list(lik), [list(lik.values())]))
    if metrics.get("oracle_accuracy"):
        parts.append("<h2>Oracle accuracy on real test samples</h2>" + html.table(
            ["modality", "per attribute"],
            [[m, ", ".join(f"{a} {x:.4f}" for a, x in acc.items())] for m, acc in metrics["oracle_accuracy"].items()]))
    return parts
