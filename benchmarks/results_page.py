"""Write docs/results.md from the measurements in benchmarks/results/*.jsonl.

    PYTHONPATH=src python benchmarks/results_page.py

One section per results file, in ``ORDER`` (then any other, alphabetically). Its words (title, a
fixed introduction: what was measured, how, on what machine, the command; the commentary beside
its tables) are ``docs/results/<file stem>.md``, where a line ``{{table}}`` or ``{{table NAME,...}}``
becomes a table the file's renderer builds from its rows, followed by their commands; a line
``<!-- cites: STEM, ... -->`` names other files the words quote. ``_intro.md`` opens the page.

Lines that are not JSON objects, rows a renderer cannot read, rows no table shows, and decimal
figures in the words found in no row are reported on stderr, not fatal. The page depends on the
files only, so running this twice writes the same bytes (atomically).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synesthesia.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("quickstart", "leaderboard", "models", "free-diversity", "tokenizer-ceiling", "mcmc", "latent-prior", "cycle",
         "evaluation-time", "oracles", "realdata", "train-speed", "train-speed-compare", "train-options", "shared-cpu", "cli-latency", "world-speed", "gan-speed", "transformer-speed")
SHORT = {"shape": "S", "size": "Z", "colour": "C", "position": "P", "background": "B", "motion": "M"}
FUSIONS = {"mopoe": "MoPoE", "moe": "MoE", "poe": "PoE"}
PLACEHOLDER = re.compile(r"^\{\{table(?: ([\w,-]+))?\}\}\s*$")
CITES = re.compile(r"^<!-- cites: ([\w, -]+) -->\s*$")
DECIMAL = re.compile(r"(?<![\w.])[-+−]?(\d{1,3}(?:,\d{3})+|\d+)\.(\d+)(?![\d.])")


class TableError(Exception):
    """A table a snippet asks for that the file's renderer does not know."""


@dataclass
class Page:
    """Every results file's rows and their line numbers (by stem), problems found on the way, and
    the rows some table shows (by id)."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    shown: dict[str, set[int]] = field(default_factory=dict)

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def show(self, stem: str, rows: list[dict]) -> None:
        self.shown.setdefault(stem, set()).update(id(r) for r in rows)


# -- formatting ---------------------------------------------------------------------------------
f2 = lambda x: f"{float(x):.2f}"
f3 = lambda x: f"{float(x):.3f}"
pct = lambda x, digits=1: f"{100 * float(x):.{digits}f} %"
count = lambda x: f"{int(x):,}"
minutes = lambda x: f"{float(x):g} min"
arrow = lambda direction: direction.replace("->", "→").replace("audio", "sound")


def per(d: dict | None) -> str:
    """``S 0.99 Z 0.98 ...`` in the world's attribute order."""
    d = d or {}
    return " ".join(f"{SHORT.get(a, a)} {f2(d[a])}" for a in [*SHORT, *sorted(set(d) - set(SHORT))] if a in d)


def table(header: list[str], body: list[list[str]]) -> list[str]:
    cell = lambda v: str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in body]


def with_commands(header: list[str], body: list[list[str]], rows: list[dict]) -> list[str]:
    """The table, then the commands of its rows (with their notes): one line when they share one,
    else one line per command naming its rows by a leading # column."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows, 1):
        groups.setdefault((r.get("command", ""), r.get("note", "")), []).append(i)
    if len({command for command, _ in groups}) <= 1:
        notes = "".join(f" ({note})" for _, note in groups if note)
        return table(header, body) + [f"\nCommand: `{command}`{notes}" for command, _ in list(groups)[:1] if command]
    out = table(["#", *header], [[str(i), *row] for i, row in enumerate(body, 1)]) + [""]
    for (command, note), numbers in groups.items():
        spans = f"{numbers[0]}–{numbers[-1]}" if numbers == list(range(numbers[0], numbers[-1] + 1)) \
            and len(numbers) > 1 else ", ".join(map(str, numbers))
        out.append(f"- {spans}: `{command}`" + (f" ({note})" if note else ""))
    return out


# -- renderers: (rows, table name, page) -> markdown lines ----------------------------------------
def render_quickstart(rows, name, page):
    body = [[r["model"], str(r["level"]), ", ".join(r["modalities"]), minutes(r["budget_minutes"]),
             count(r["steps"]), f"{r['samples_per_s']:g}", f"{r['parameters_m']:g} M", arrow(r["direction"]),
             str(r["n"]), f3(r["strict"]), per(r["per_attribute"])] for r in rows]
    return with_commands(["model", "level", "modalities", "budget", "steps", "samples/s", "parameters", "direction",
                          "test samples", "strict", "per attribute"], body, rows)


def _lb_cells(metrics: dict, key: str) -> list[str]:
    d = metrics.get(key) if key == "joint_coherence" else metrics["coherence"].get(key)
    return [f3(d["strict"]), per(d["per_attribute"])] if d else ["", ""]


def render_leaderboard(rows, name, page):
    rows = sorted((r for r in rows if r["args"]["family"] == "joint_vae"),
                  key=lambda r: (int(r["args"]["level"]), list(FUSIONS).index(r["args"]["fusion"]),
                                 float(r["args"]["budget_minutes"])))
    body = []
    for r in rows:
        a, m = r["args"], r["metrics"]
        body.append([a["level"], FUSIONS[a["fusion"]], minutes(a["budget_minutes"]), count(r["steps"]),
                     *_lb_cells(m, "text->image"), *_lb_cells(m, "image->text"), *_lb_cells(m, "joint_coherence"),
                     f2(m["fid"]["image"])])
    page.show("leaderboard", rows)
    header = ["level", "fusion", "budget", "steps", "text→image strict", "per attribute", "image→text strict",
              "per attribute", "joint strict", "per attribute", "FID image"]
    return table(header, body)


def _model_other(r: dict, lb: dict | None) -> str:
    target, m = r["direction"].split("->")[-1], (lb["metrics"] if lb else {})
    fid = m.get("fid", {}).get(target, r.get("fid"))
    cond = (m.get("fidelity", {}).get(target) or {}).get("conditional") if target == "image" else None
    cap, g = m.get("captioning", {}).get(r["direction"]), r.get("guidance")
    parts = [f"FID{' (video oracle)' if target == 'video' else ''} {f2(fid)}" if fid is not None else "",
             f"precision {f2(cond['precision'])}, recall {f2(cond['recall'])}" if cond else "",
             f"CIDEr-D {f2(cap['cider_d'])}, BLEU-4 {f2(cap['bleu4'])}" if cap else "",
             f"guidance {g['cfg_scale']:g}: {f3(g['strict'])} ({g['n']} samples)" if g else "",
             f"{r['updates_per_s']:g} updates/s" if r.get("updates_per_s") else "",
             f"tokenizer `{r['tokenizer_run']}`" if r.get("tokenizer_run") else ""]
    return "; ".join(p for p in parts if p)


def render_models(rows, name, page):
    runs = {r["args"].get("out"): r for r in page.rows.get("leaderboard", [])}
    body, used = [], []
    for r in rows:
        lb = runs.get(r["leaderboard_run"]) if r.get("leaderboard_run") else None
        if r.get("leaderboard_run") and lb is None:
            page.problem(f"models.jsonl: {r['model']!r} names leaderboard run {r['leaderboard_run']} that "
                         "leaderboard.jsonl does not have; row left out")
            continue
        coh = lb["metrics"]["coherence"][r["direction"]] if lb else r
        budget = minutes(r["budget_minutes"]) + (f" + {r['expander_minutes']:g} min" if r.get("expander_minutes")
                                                 else "") + (", shared CPU" if r.get("cpu_shared") else "")
        updates = (count(r["updates"]) if "updates" in r else f"{count(lb['steps'])} optimiser steps")
        updates += f" + {count(r['expander_updates'])}" if r.get("expander_updates") else ""
        preset = f"`{r['preset']}`" if r.get("preset") else ""
        body.append([r["model"], preset, budget, updates, arrow(r["direction"]), f3(coh["strict"]),
                     per(coh["per_attribute"]), _model_other(r, lb)])
        used.append(r)
        if lb:
            page.show("leaderboard", [lb])
    header = ["model", "preset", "budget", "updates", "direction", "strict", "per attribute", "other"]
    return with_commands(header, body, used)


def render_free_diversity(rows, name, page):
    body = [[r["model"], f"yes ({r['expander_minutes']:g} min)" if r.get("expander") else "no",
             f"{r['temperature']:g}", f2(r["diversity"]), per(r.get("per_attribute")),
             pct(r["named_right"]) if "named_right" in r else ""] for r in rows]
    return with_commands(["model", "expander", "temperature", "free-attribute diversity", "per attribute",
                          "named attributes right"], body, rows)


def render_tokenizer_ceiling(rows, name, page):
    body = [[r["tokenizer"], f"`{r['run']}`", minutes(r["budget_minutes"]), f3(r["strict"]),
             per(r.get("per_attribute"))] for r in rows]
    return with_commands(["tokenizer", "run", "training", "reconstructions strict", "per attribute"], body, rows)


def _points(a: float, b: float) -> str:
    return f"{100 * (a - b):+.1f}".replace("-", "−")


def render_mcmc(rows, name, page):
    wanted = set((name or "").split(",")) - {""}
    known = {r.get("experiment") for r in page.rows["mcmc"]}
    if not wanted or wanted - known:
        raise TableError(f"mcmc tables are named by experiment: {', '.join(sorted(known))}")
    rows = [r for r in rows if r["experiment"] in wanted]
    page.show("mcmc", rows)
    if all("read_back" in r for r in rows):
        return _render_read_back(rows)
    body = []
    for r in rows:
        anc, res, hmc = r["ancestral"]["strict"], r["equal_time_resampled"]["strict"], r["hmc"]["strict"]
        model = r["model"] + (f" + caption expander ({r['expander_minutes']:g} min)" if r.get("expander") else "")
        body.append([model, arrow(r["direction"]), r["prior"], str(r["n"]), f3(anc), f"{f3(res)} ({r['proposals']})",
                     f3(hmc), f2(r["diagnostics"]["acceptance"]), _points(hmc, anc), _points(hmc, res)])
    steps = {r["diagnostics"]["steps"] for r in rows}
    header = ["model", "direction", "p(z)", "inputs", "ancestral", "equal time, resampled (K)",
              f"HMC, {'/'.join(map(str, sorted(steps)))} steps", "acceptance", "HMC − ancestral",
              "HMC − resampled"]
    return with_commands(header, body, rows)


def _render_read_back(rows):
    body = []
    for r in rows:
        for z in ("ancestral", "hmc"):
            rb = r["read_back"][z]
            body.append([r["model"], "HMC" if z == "hmc" else "ancestral", str(r["read_back_n"]),
                         f3(rb["image"]["strict"]), per(rb["image"]["per_attribute"]), f3(rb["caption"]["strict"]),
                         per(rb["caption"]["per_attribute"])])
    return with_commands(["model", "z", "inputs", "image strict", "image per attribute", "caption strict",
                          "caption per attribute"], body, rows)


def render_cycle(rows, name, page):
    rounds = max((len(r["agreement"]) for r in rows), default=0)
    body = [[r["pair"].replace("->", "→"), str(r["level"]), count(r["n"]), *[f3(a["both"]) for a in r["agreement"]]]
            for r in rows]
    return with_commands(["pair", "level", "captions", *[f"round {i + 1}" for i in range(rounds)]], body, rows)


def render_evaluation_time(rows, name, page):
    body = [[f"`{r['run']}`", r["what"], count(r["n"]), "yes" if r.get("oracles_cached") else "no",
             f"{r['seconds']:g} s", f"≤ {r['target_seconds']:g} s" if r.get("target_seconds") else ""] for r in rows]
    return with_commands(["run", "what", "test samples", "oracles cached", "time", "target"], body, rows)


def render_oracles(rows, name, page):
    levels = sorted({r["level"] for r in rows})
    cells = {(r["oracle"], r["level"]): ("100 %" if r["accuracy_min"] == 1 else pct(r["accuracy_min"], 2))
             + (f" ({r['lowest_attribute']})" if r.get("lowest_attribute") else "") for r in rows}
    body = [[o, *[cells.get((o, lv), "") for lv in levels]] for o in dict.fromkeys(r["oracle"] for r in rows)]
    return with_commands(["oracle", *[f"level {lv}" for lv in levels]], body, rows)


def render_train_speed(rows, name, page):
    mods = lambda m: "all four" if len(m) == 4 else "+".join(m)
    body = [[r["fusion"], mods(r["modalities"]), r["precision"], f"{r['samples_per_s']:.1f}", str(r["peak_rss_mb"]),
             f"{r['mflop_per_sample']:.1f}", f"{r['gflop_per_s']:.1f}", pct(r["of_fp32_matmul"]),
             f"{r['parameters_m']:.2f} M"] for r in rows]
    return with_commands(["fusion", "modalities", "precision", "samples/s", "peak RSS MB", "MFLOP/sample", "GFLOP/s",
                          "of fp32 matmul", "parameters"], body, rows)


def render_world_speed(rows, name, page):
    value = lambda r: f"{r['value']:,g} {r['unit']}" + (f" in {r['seconds']:g} s" if r.get("seconds") else "")
    target = lambda r: "" if "target" not in r else ("≥ " if r["target_kind"] == "at least" else "< ") + \
        f"{r['target']:,g} {r['unit']}"
    body = [[r["measure"], str(r["level"]), value(r), target(r)] for r in rows]
    return with_commands(["measure", "level", "value", "target"], body, rows)


def render_gan_speed(rows, name, page):
    setting = lambda r: f"`{r['setting']}`" if "=" in r["setting"] else r["setting"]
    body = [["+".join(r["modalities"]), setting(r), f"{r['updates_per_s']:.2f}", f"{r['samples_per_s']:.1f}",
             f"{r['parameters_m']:.2f} M"] for r in rows]
    return with_commands(["modalities", "setting", "updates/s", "samples/s", "parameters"], body, rows)


def render_transformer_speed(rows, name, page):
    pairs: dict[tuple, dict[bool, dict]] = {}
    for r in rows:
        pairs.setdefault((r["model"], r["decoding"]), {})[bool(r["kv_cache"])] = r
    unit = lambda model: ("codes", "images") if "autoregressive" in model else ("tokens", "captions")
    speed = lambda r, u: f"{r['tokens_per_s']:,.0f} {u[0]}/s ({r['items_per_s']:,.1f} {u[1]}/s)" if r else ""
    body = [[arrow(model), decoding, speed(p.get(True), unit(model)), speed(p.get(False), unit(model)),
             f"{p[True]['cache_speedup']:.1f}×" if True in p else ""] for (model, decoding), p in pairs.items()]
    return with_commands(["model", "decoding", "with KV cache", "without", "speed-up"], body, rows)


def render_latent_prior(rows, name, page):
    """One line per direction (and joint, FID) of each row: without the prior, with it, the gain,
    and the ceiling of decoding z ~ q(z | every modality); the lines of row k are numbered k, and
    the commands follow by row number."""
    body = []
    for i, r in enumerate(rows, 1):
        model = f"{r['model']} ({count(r['vae_steps'])} steps; prior {count(r['prior_steps'])} steps)"
        for key, before in r["without"].items():
            after, fid = r["with"].get(key), key.startswith("FID")
            ceil = None if fid else r.get("ceiling", {}).get(key.split("->")[-1])
            guidance = f"{r['guidance']:g}" + (f", {r['flow_anchor']} first" if r.get("flow_anchor") else "")
            body.append([str(i), model, arrow(key), guidance, (f2 if fid else f3)(before),
                         "" if after is None else (f2 if fid else f3)(after),
                         "" if after is None or fid else _points(after, before), "" if ceil is None else f3(ceil)])
    header = ["#", "model", "direction", "guidance", "without prior", "flow prior", "points",
              "ceiling: from q(z given all)"]
    commands = [f"- {i}: `{r['command']}`" + (f" ({r['note']})" if r.get("note") else "")
                for i, r in enumerate(rows, 1)]
    return table(header, body) + [""] + commands


def render_train_speed_compare(rows, name, page):
    body = [[FUSIONS.get(r["fusion"], r["fusion"]), f"{r['size']} px", str(r["threads"]), f"{r['reference_samples_per_s']:g}",
             f"{r['ours_samples_per_s']:g}", f2(r["ratio"]), f"{r['reference_cpu_s_per_step']:.3f} / {r['ours_cpu_s_per_step']:.3f}",
             f2(r["reference_cpu_s_per_step"] / r["ours_cpu_s_per_step"]),
             f"{r['reference_iwae']:.2f} / {r['ours_iwae']:.2f}",
             f"{r['reference_peak_rss_mb']} / {r['ours_peak_rss_mb']}", "yes" if r["cpu_shared"] else "no"] for r in rows]
    return with_commands(["fusion", "image", "threads", "reference samples/s", "ours samples/s", "ours / reference",
                          "CPU s per step (reference / ours)", "ours / reference by CPU time", "IWAE after equal steps (reference / ours)",
                          "peak RSS MB (reference / ours)", "CPU shared"], body, rows)


def render_realdata(rows, name, page):
    from realdata.results_table import UnknownTable, render

    try:
        return render(rows, name, page, with_commands)
    except UnknownTable as e:
        raise TableError(str(e)) from None


def render_generic(rows, name, page):
    keys = list(dict.fromkeys(k for r in rows for k, v in r.items()
                              if k != "command" and not isinstance(v, (dict, list))))
    body = [[str(r.get(k, "")) for k in keys] for r in rows]
    return with_commands(keys, body, rows)


RENDERERS: dict[str, Callable] = {
    "quickstart": render_quickstart, "leaderboard": render_leaderboard, "models": render_models,
    "free-diversity": render_free_diversity, "tokenizer-ceiling": render_tokenizer_ceiling, "mcmc": render_mcmc,
    "cycle": render_cycle, "evaluation-time": render_evaluation_time, "oracles": render_oracles,
    "train-speed": render_train_speed, "world-speed": render_world_speed, "gan-speed": render_gan_speed,
    "transformer-speed": render_transformer_speed, "latent-prior": render_latent_prior,
    "realdata": render_realdata, "train-speed-compare": render_train_speed_compare,
}
FILTERING = {"leaderboard", "mcmc", "realdata"}           # renderers that pick rows, and mark what they show


# -- reading ------------------------------------------------------------------------------------
def read_results(folder: Path, page: Page) -> None:
    """Every ``*.jsonl`` in ``folder`` into ``page.rows``; bad lines reported and skipped."""
    for path in sorted(folder.glob("*.jsonl")):
        rows, lines = [], []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row, why = json.loads(line), "not a JSON object"
            except json.JSONDecodeError as e:
                row, why = None, f"not JSON ({e.msg})"
            if not isinstance(row, dict):
                page.problem(f"{path.name}:{number}: {why}; left out")
                continue
            rows.append(row)
            lines.append(number)
        page.rows[path.stem], page.lines[path.stem] = rows, lines


def render(stem: str, name: str | None, page: Page) -> list[str]:
    """The table ``name`` of file ``stem``; rows its renderer cannot read are reported and left out."""
    renderer = RENDERERS.get(stem, render_generic)
    rows = page.rows[stem]
    good = []
    for row, number in zip(rows, page.lines[stem]):
        try:
            renderer([row], name, page)
            good.append(row)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            page.problem(f"{stem}.jsonl:{number}: row left out: {type(e).__name__} {e}")
    lines = renderer(good, name, page)
    if stem not in FILTERING:
        page.show(stem, good)
    return lines


# -- the page -----------------------------------------------------------------------------------
def slug(title: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def section(stem: str, snippets: Path, page: Page) -> tuple[str, str, str, str, list[str]]:
    """(title, markdown, its words, its tables, other results files the words cite) of one section."""
    path = snippets / f"{stem}.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else f"## {stem}\n\n{{{{table}}}}\n"
    out, prose, tables, cites = [], [], [], []
    for line in text.rstrip("\n").splitlines():
        match, cited = PLACEHOLDER.match(line), CITES.match(line)
        if cited:
            cites += [c.strip() for c in cited.group(1).split(",") if c.strip()]
        elif not match:
            out.append(line)
            prose.append(line)
        else:
            try:
                lines = render(stem, match.group(1), page)
            except TableError as e:
                page.problem(f"{path.name}: {{{{table {match.group(1)}}}}}: {e}")
                continue
            out.extend(lines)
            tables.extend(lines)
    title = next((line[3:] for line in out if line.startswith("## ")), stem)
    if not any(line.startswith("## ") for line in out):
        out.insert(0, f"## {title}\n")
    return title, "\n".join(out), "\n".join(prose), "\n".join(tables), cites


def numbers(obj) -> list[float]:
    """Every number in a row, however deep."""
    if isinstance(obj, (dict, list)):
        return [x for v in (obj.values() if isinstance(obj, dict) else obj) for x in numbers(v)]
    return [float(obj)] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def unbacked(prose: str, values: list[float], tables: str) -> list[str]:
    """Decimal figures of ``prose`` (outside code) found neither in ``tables`` nor, as a value or a
    percentage at the same precision, among ``values``."""
    missing = []
    for m in DECIMAL.finditer(re.sub(r"`[^`]*`", "", prose)):
        figure = m.group(0).lstrip("+-−")
        v, d = float(f"{m.group(1).replace(',', '')}.{m.group(2)}"), len(m.group(2))
        if re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d])", tables):
            continue
        if not any(abs(abs(round(x * s, d)) - v) < 1e-9 for x in values for s in (1, 100)):
            missing.append(m.group(0))
    return missing


def check_figures(sections: list[tuple], page: Page) -> None:
    """Report decimal figures in a section's words that are in neither its rows and tables nor
    those of the results files it cites."""
    texts = {stem: tables for stem, _, _, _, tables, _ in sections}
    for stem, _, _, prose, _, cites in sections:
        pool = [stem, *cites]
        values = [x for s in pool for r in page.rows.get(s, []) for x in numbers(r)]
        for figure in unbacked(prose, values, "\n".join(texts.get(s, "") for s in pool)):
            page.problem(f"docs/results/{stem}.md: the figure {figure} is in no row of {', '.join(pool)}")


def build(results: Path, snippets: Path, page: Page) -> str:
    read_results(results, page)
    stems = [s for s in ORDER if s in page.rows] + sorted(set(page.rows) - set(ORDER))
    intro = snippets / "_intro.md"
    head = intro.read_text(encoding="utf-8").rstrip("\n") if intro.is_file() else "# Results"
    sections = [(stem, *section(stem, snippets, page)) for stem in stems]
    check_figures(sections, page)
    for stem, rows in page.rows.items():
        left = [n for r, n in zip(rows, page.lines[stem]) if id(r) not in page.shown.get(stem, set())]
        if left:
            page.problem(f"{stem}.jsonl: {len(left)} row(s) shown in no table (lines {', '.join(map(str, left))})")
    toc = "\n".join(f"- [{title}](#{slug(title)})" for _, title, *_ in sections)
    note = ("<!-- Generated by benchmarks/results_page.py from benchmarks/results/*.jsonl and "
            "docs/results/*.md: edit those, then run the script. -->")
    return "\n\n".join([note, head, toc, *[text for _, _, text, *_ in sections]]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results", help="folder of *.jsonl")
    ap.add_argument("--snippets", type=Path, default=ROOT / "docs" / "results", help="folder of section texts")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md", help="page to write")
    args = ap.parse_args()
    page = Page()
    text = build(args.results, args.snippets, page)
    write_text_atomic(args.out, text)
    for problem in dict.fromkeys(page.problems):
        print(f"results_page: {problem}", file=sys.stderr)
    summary = ", ".join(f"{stem} {len(rows)}" for stem, rows in page.rows.items())
    print(f"wrote {args.out} ({len(text.splitlines())} lines) from {len(page.rows)} files: {summary} rows")


if __name__ == "__main__":
    main()
