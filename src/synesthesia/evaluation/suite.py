"""The evaluation suite on the shapes world: every metric ``synesthesia evaluate`` reports.

* coherence of every (given subset -> target) direction, strict and per attribute, read by the
  target's oracle against the attributes the given modalities convey (a partial caption conveys
  only what it names);
* joint coherence of unconditional samples: do all modalities agree;
* fidelity (FID, KID, precision/recall on oracle features) of each generated modality;
* diversity: entropy of the attributes the conditioning leaves free, relative to the data's;
  distinct-n and self-BLEU of generated captions;
* the image -> text -> image cycle;
* importance-weighted bounds per modality (models that have ``iwae``);
* captioning scores (BLEU-4, CIDEr-D) of X -> text against five reference captions per sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from synesthesia.cycle import OTHER, cycle_runs, cycle_tensors
from synesthesia.evaluation.captioning import cider_d, corpus_bleu
from synesthesia.evaluation.diversity import distinct_n, entropy_ratio, self_bleu
from synesthesia.evaluation.fidelity import fidelity_scores
from synesthesia.evaluation.generation import Direction, EvalData, direction_name, generate_raw, model_directions
from synesthesia.world.captions import make_captions
from synesthesia.world.judges.coherence import UNSPECIFIED, coherence
from synesthesia.world.judges.oracles import SHOWN, get_oracle
from synesthesia.world.parser import parse_captions
from synesthesia.world.rng import BatchRandom
from synesthesia.world.world import split_id

DIVERSITY_INPUTS, DIVERSITY_PER_INPUT = 25, 20

def conveyed(data: EvalData, given: Sequence[str], attributes: Sequence[str]) -> dict[str, np.ndarray]:
    """The truth a direction is scored against: attribute -> codes (n,), -1 where no given
    modality conveys the attribute (text conveys what its caption names)."""
    out = {}
    for a in attributes:
        codes = np.full(data.n, UNSPECIFIED, dtype=np.int64)
        for m in given:
            if m == "text":

                named = parse_captions(data.raw["text"])[a] != UNSPECIFIED
                codes[named] = data.codes[a][named]
            elif a in SHOWN[m]:
                codes[:] = data.codes[a]
        out[a] = codes
    return out

# generation options of the learned flow prior that apply to unconditional samples too
FLOW_JOINT_OPTIONS = ("flow_steps", "flow_anchor", "cfg_scale")


class WorldEvaluation:
    """Runs the suite for ``pipe`` on ``data`` (world samples with attributes)."""

    def __init__(self, pipe, data: EvalData, seed: int = 0, temperature: float = 1.0,
                 oracle_dir=None, log: Callable[[str], None] = print, **generate_options) -> None:
        if data.codes is None or data.world is None:
            raise ValueError("WorldEvaluation needs world data with attributes")
        self.pipe, self.data, self.seed, self.temperature = pipe, data, seed, temperature
        self.options, self.log = generate_options, log
        self.varied = data.world.varied
        self.oracles = {m: get_oracle(data.world, m, oracle_dir) for m in pipe.modalities}
        self.samples: dict[str, Any] = {}            # direction -> generated raw batch (for the report)

    def attributes(self, modality: str) -> list[str]:
        return [a for a in self.varied if a in self.oracles[modality].attributes]

    def generate(self, given: Sequence[str], target: str, rows: np.ndarray | None = None,
                 repeat: int = 1, seed_offset: int = 0) -> Any:
        rows = np.arange(self.data.n) if rows is None else rows
        tensors = {m: self.data.tensors[m][rows].repeat_interleave(repeat, 0) for m in given}
        return generate_raw(self.pipe, tensors, target, seed=self.seed + seed_offset,
                            temperature=self.temperature, **self.options)

    # -- coherence per direction -----------------------------------------------------------
    def direction(self, given: tuple[str, ...], target: str) -> dict:
        attrs = self.attributes(target)
        out = self.generate(given, target)
        self.samples[direction_name(given, target)] = out
        truth = conveyed(self.data, given, attrs)
        scored = [a for a in attrs if (truth[a] != UNSPECIFIED).any()]
        result = coherence(self.oracles[target].predict(out), truth, scored) if scored else None
        row = {"strict": result.strict if result else float("nan"),
               "per_attribute": result.per_attribute if result else {},
               "attributes": scored, "free": [a for a in attrs if a not in scored]}
        if row["free"]:
            row["diversity"] = self.free_diversity(given, target, row["free"])
        return row

    def free_diversity(self, given, target, free) -> dict[str, float]:
        """Entropy of attributes the conditioning leaves free, within groups of samples that share
        one input, relative to the data's at the same group size."""
        rows = np.arange(min(DIVERSITY_INPUTS, self.data.n))
        out = self.generate(given, target, rows, DIVERSITY_PER_INPUT, seed_offset=1)
        pred = self.oracles[target].predict(out)
        groups = np.repeat(rows, DIVERSITY_PER_INPUT)
        return entropy_ratio({a: pred[a] for a in free}, self.data.codes, free, groups)

    # -- unconditional samples -------------------------------------------------------------
    def joint(self) -> dict:
        """Joint coherence: on unconditional samples, an attribute counts as coherent when every
        modality that shows it reads the same value; strict when all attributes do. The samples are
        drawn from the ``prior`` option when one is given (the learned flow prior too)."""
        n = self.data.n
        flow = self.options.get("prior") == "flow"
        prior = {k: v for k, v in self.options.items() if k == "prior" or (flow and k in FLOW_JOINT_OPTIONS)}
        preds = {}
        for m in self.pipe.modalities:
            out = generate_raw(self.pipe, {}, m, seed=self.seed + 2, count=n, temperature=self.temperature,
                               **prior)
            self.samples[f"prior->{m}"] = out
            preds[m] = self.oracles[m].predict(out)
        agree, per = np.ones(n, dtype=bool), {}
        for a in self.varied:
            showing = [preds[m][a] for m in preds if a in preds[m]]
            if len(showing) < 2:
                continue
            ok = np.all([(p == showing[0]) & (p != UNSPECIFIED) for p in showing], axis=0)
            per[a] = float(ok.mean())
            agree &= ok
        first = next(m for m in ("image", "video", "audio", "text") if m in preds)
        div = entropy_ratio({a: preds[first][a] for a in self.attributes(first)}, self.data.codes,
                            self.attributes(first))
        return {"strict": float(agree.mean()), "per_attribute": per, "diversity": div,
                "diversity_from": first}

    # -- fidelity ----------------------------------------------------------------------------
    def fidelity(self, directions: Sequence[Direction]) -> dict:
        """Per generated modality with an oracle: scores of its samples conditioned on text (else
        on every other modality) and of unconditional samples, against real test samples."""
        out = {}
        for m, oracle in self.oracles.items():
            if m == "text":
                continue
            given = ("text",) if ("text",) in [g for g, t in directions if t == m] else \
                max((g for g, t in directions if t == m), key=len, default=None)
            scores = {}
            if given is not None:
                fake = self.samples.get(direction_name(given, m))
                scores["conditional"] = fidelity_scores(self.data.raw[m], fake, oracle.feature_extractor(),
                                                        kid_subset_size=min(1000, self.data.n // 2))
                scores["conditional_on"] = "+".join(given)
            if f"prior->{m}" in self.samples:
                scores["unconditional"] = fidelity_scores(self.data.raw[m], self.samples[f"prior->{m}"],
                                                          oracle.feature_extractor(),
                                                          kid_subset_size=min(1000, self.data.n // 2))
            out[m] = scores
        return out

    # -- cycle -------------------------------------------------------------------------------
    def cycle(self, rounds: int = 3, start: str = "image") -> list[dict]:
        """``start -> other -> start -> ...`` (:func:`synesthesia.cycle.cycle_tensors`) on the
        model's own outputs: after each round, the strict agreement of both outputs with the
        attributes of the first ``start`` samples."""

        via = OTHER[start]
        attrs = self.attributes(start)
        truth = {a: self.data.codes[a] for a in attrs}
        via_attrs = [a for a in attrs if a in self.oracles[via].attributes]
        there, back = cycle_runs(self.pipe, start)
        rounds_out = []
        steps = cycle_tensors(self.pipe, start, self.data.tensors[start].to(self.pipe.device), rounds, self.seed,
                              self.temperature)
        for r, (mid, current) in enumerate(steps, 1):
            mid_raw = there.modalities[via].decode_batch(mid.cpu())
            back_raw = back.modalities[start].decode_batch(current.cpu())
            if r == 1:
                self.samples[f"cycle:{via}"], self.samples[f"cycle:{start}"] = mid_raw, back_raw
            rounds_out.append({"round": r,
                               via: coherence(self.oracles[via].predict(mid_raw), truth, via_attrs).strict,
                               start: coherence(self.oracles[start].predict(back_raw), truth, attrs).strict})
        return rounds_out

    # -- likelihood and captioning -------------------------------------------------------------
    def likelihood(self, n: int = 300, batch: int = 300) -> dict:
        """Mean importance-weighted bound (nats) of each modality alone and of all together, on
        the first ``n`` test samples (models that have ``iwae``)."""
        model = self.pipe.model
        if not hasattr(model, "iwae"):
            return {}
        n = min(n, self.data.n)
        out, g = {}, torch.Generator().manual_seed(self.seed)
        for key, mods in [*((m, [m]) for m in self.pipe.modalities), ("joint", list(self.pipe.modalities))]:
            vals = [model.iwae({m: self.data.tensors[m][lo:min(n, lo + batch)] for m in mods}, generator=g)
                    for lo in range(0, n, batch)]
            out[key] = float(torch.cat(vals).mean())
        out["k"] = int(getattr(getattr(model, "config", None), "iw_samples", 0))
        out["n"] = n
        return out

    def captioning(self, directions: Sequence[Direction], references: int = 5) -> dict:

        refs_by_seed = [make_captions(self.data.codes, self.varied,
                                      BatchRandom(1000 + k, split_id("test"), self.data.indices))
                        for k in range(references)]
        refs = [list(r) for r in zip(*refs_by_seed)]
        out = {}
        for given, target in directions:
            if target != "text" or len(given) != 1:
                continue
            hyps = self.samples[direction_name(given, target)]
            out[f"{given[0]}->text"] = {"bleu4": corpus_bleu(hyps, refs), "cider_d": cider_d(hyps, refs),
                                        "distinct_2": distinct_n(hyps, 2), "self_bleu": self_bleu(hyps[:300])}
        return out

    # -- everything ----------------------------------------------------------------------------
    def run(self, cycle_rounds: int = 3) -> dict:
        t0 = time.perf_counter()
        directions = model_directions(self.pipe)
        coh = {}
        for given, target in directions:
            coh[direction_name(given, target)] = self.direction(given, target)
            self.log(f"  {direction_name(given, target):28s} strict {coh[direction_name(given, target)]['strict']:.3f}")
        metrics: dict = {"coherence": coh, "joint_coherence": self.joint()}
        metrics["fidelity"] = self.fidelity(directions)
        metrics["fid"] = {m: v["conditional"]["fid"] for m, v in metrics["fidelity"].items() if "conditional" in v}
        metrics["diversity"] = {"joint": metrics["joint_coherence"]["diversity"],
                                **{k: v["diversity"] for k, v in coh.items() if "diversity" in v}}
        metrics["captioning"] = self.captioning(directions)
        metrics["diversity"].update({f"text:{k}": {"distinct_2": v["distinct_2"], "self_bleu": v["self_bleu"]}
                                     for k, v in metrics["captioning"].items()})
        if "image" in self.pipe.modalities and "text" in self.pipe.modalities and cycle_rounds > 0:
            metrics["cycle"] = self.cycle(cycle_rounds)
        metrics["likelihood"] = self.likelihood()
        metrics["oracle_accuracy"] = {m: o.accuracy for m, o in self.oracles.items()}
        metrics["seconds"] = round(time.perf_counter() - t0, 1)
        return metrics
