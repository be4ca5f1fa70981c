"""The evaluation suite on constructed 'models' with known answers."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from synesthesia.evaluation.evaluate import evaluate
from synesthesia.modalities import build_modality
from synesthesia.modalities.text import TextModality
from synesthesia.pipeline import Pipeline
from synesthesia.world import WorldConfig
from synesthesia.world.judges.oracles import OracleTraining, get_oracle
from synesthesia.world.world import ShapesWorld

TINY = OracleTraining(n_train=1536, epochs=2, n_test=500)
WORLD = WorldConfig(level=1, image_size=16, modalities=("image", "text"))
N = 120
# the image judge here is a tiny oracle trained for two epochs: on the real images a perfect model
# returns it reads 98-100 % right, depending on the thread count it was trained with
JUDGED = 0.95


class LookupModel(nn.Module):
    """Answers with real samples from ``bank``: the sample whose given modality matches the input
    ("perfect"), always sample 0 ("fixed"), or a random sample ("shuffled")."""

    def __init__(self, bank: dict[str, torch.Tensor], mode: str) -> None:
        super().__init__()
        self.bank, self.mode = bank, mode

    def directions(self):
        return [(("text",), "image"), (("image",), "text")]

    def generate(self, given, targets, generator=None, temperature=1.0, batch_size=None):
        n = batch_size if not given else len(next(iter(given.values())))
        if self.mode == "fixed":
            rows = torch.zeros(n, dtype=torch.long)
        elif self.mode == "shuffled" or not given:
            rows = torch.randint(0, len(self.bank["image"]), (n,), generator=generator)
        else:
            m, x = next(iter(given.items()))
            flat, bank = x.flatten(1), self.bank[m].flatten(1)
            rows = torch.stack([torch.nonzero((bank == row).all(1))[0, 0] for row in flat])
        return {t: self.bank[t][rows] for t in targets}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    cache = tmp_path_factory.mktemp("oracles")
    get_oracle(WORLD, "image", cache_dir=cache, training=TINY)
    test = ShapesWorld(WORLD).render("test", np.arange(N))
    mods = {"image": build_modality("image", size=16),
            "text": TextModality.from_captions(test["text"])}
    bank = {"image": mods["image"].encode(list(test["image"])), "text": mods["text"].encode(test["text"])}
    return cache, mods, bank


def _pipe(setup, mode):
    cache, mods, bank = setup
    from synesthesia.runs import RunConfig

    return Pipeline.from_model(LookupModel(bank, mode), mods, RunConfig.from_dict({"data": {"world": WORLD.to_dict()}}))


def test_a_perfect_model_scores_full_coherence_and_near_zero_fid(setup):
    m = evaluate(_pipe(setup, "perfect"), n=N, oracle_dir=setup[0], cycle_rounds=2, log=lambda s: None)
    assert m["coherence"]["text->image"]["strict"] >= JUDGED
    assert m["coherence"]["image->text"]["strict"] == pytest.approx(1.0)
    assert all(r["image"] >= JUDGED and r["text"] >= JUDGED for r in m["cycle"])
    fixed = evaluate(_pipe(setup, "fixed"), n=N, oracle_dir=setup[0], cycle_rounds=0, log=lambda s: None)
    assert m["fid"]["image"] < 0.05 * fixed["fid"]["image"]
    assert m["fidelity"]["image"]["conditional"]["precision"] > 0.9
    assert m["captioning"]["image->text"]["cider_d"] > fixed["captioning"]["image->text"]["cider_d"]


def test_a_fixed_sample_model_has_no_diversity(setup):
    m = evaluate(_pipe(setup, "fixed"), n=N, oracle_dir=setup[0], cycle_rounds=0, log=lambda s: None)
    assert m["diversity"]["joint"]["shape"] == 0.0
    assert m["diversity"]["text:image->text"]["distinct_2"] < 0.1
    perfect = evaluate(_pipe(setup, "perfect"), n=N, oracle_dir=setup[0], cycle_rounds=0, log=lambda s: None)
    assert perfect["diversity"]["joint"]["shape"] > 0.8


def test_shuffled_pairs_score_chance_coherence(setup):
    from synesthesia.world.judges import chance_coherence

    m = evaluate(_pipe(setup, "shuffled"), n=N, oracle_dir=setup[0], cycle_rounds=0, log=lambda s: None)
    truth = ShapesWorld(WORLD).render("test", np.arange(N), ["image"])["codes"]
    chance = chance_coherence({"shape": truth["shape"]}).strict
    assert abs(m["coherence"]["text->image"]["strict"] - chance) < 0.12
    assert m["coherence"]["text->image"]["strict"] < 0.4


def test_report_is_written_atomically(setup, tmp_path, monkeypatch):
    out = tmp_path / "eval"
    evaluate(_pipe(setup, "perfect"), n=N, out=out, oracle_dir=setup[0], cycle_rounds=1, log=lambda s: None)
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("coherence", "joint_coherence", "fid", "diversity", "cycle", "oracle_accuracy",
                "run_fingerprint", "data_fingerprint"):
        assert key in metrics, key
    assert metrics["coherence"]["text->image"]["strict"] >= JUDGED
    html = (out / "report.html").read_text()
    assert "figures/coherence.png" in html and (out / "figures" / "coherence.png").is_file()
    assert (out / "figures" / "grid-text-to-image.png").is_file()

    import synesthesia.evaluation.report as report

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "cycle_plot", broken)
    again = tmp_path / "eval2"
    with pytest.raises(RuntimeError, match="disk full"):
        evaluate(_pipe(setup, "perfect"), n=N, out=again, oracle_dir=setup[0], cycle_rounds=1, log=lambda s: None)
    assert not again.exists() and not list(tmp_path.glob(".eval2*"))
    from synesthesia.errors import OutputError

    with pytest.raises(OutputError, match="--overwrite"):
        evaluate(_pipe(setup, "perfect"), n=N, out=out, oracle_dir=setup[0], cycle_rounds=1, log=lambda s: None)
    with pytest.raises(RuntimeError):
        evaluate(_pipe(setup, "perfect"), n=N, out=out, oracle_dir=setup[0], cycle_rounds=1, log=lambda s: None,
                 overwrite=True)
    assert json.loads((out / "metrics.json").read_text()) == metrics     # the old report is intact


class PriorLookup(LookupModel):
    """A lookup model whose generate takes a prior and a sampler, and records what it was given."""

    def __init__(self, bank, mode):
        super().__init__(bank, mode)
        self.calls = []

    def generate(self, given, targets, generator=None, temperature=1.0, batch_size=None, prior=None, sampler=None):
        self.calls.append({"given": sorted(given), "prior": prior, "sampler": sampler})
        return super().generate(given, targets, generator, temperature, batch_size)


def test_joint_samples_are_drawn_from_the_prior_option(setup):
    from synesthesia.evaluation.generation import load_eval_data
    from synesthesia.evaluation.suite import WorldEvaluation
    from synesthesia.runs import RunConfig

    cache, mods, bank = setup
    model = PriorLookup(bank, "perfect")
    pipe = Pipeline.from_model(model, mods, RunConfig.from_dict({"data": {"world": WORLD.to_dict()}}))
    suite = WorldEvaluation(pipe, load_eval_data(pipe, None, N), oracle_dir=cache, log=lambda s: None,
                            prior="flow", sampler="hmc")
    suite.joint()
    assert model.calls and all(c == {"given": [], "prior": "flow", "sampler": None} for c in model.calls)
    suite.direction(("text",), "image")
    assert model.calls[-1] == {"given": ["text"], "prior": "flow", "sampler": "hmc"}
