"""The flow prior on a real (tiny) joint VAE: encoding its training data, generation through
the flow, and ``synesthesia train-prior``."""

import shutil

import numpy as np
import pytest
import torch

from synesthesia.cli import main
from synesthesia.pipeline import Options, PipelineError, load
from synesthesia.runs import load_flow_prior, save_flow_prior
from synesthesia.sampling.flow import FlowPriorError
from synesthesia.sampling.flow_fit import FlowTrainConfig
from synesthesia.sampling.flow_vae import encode_flow_data, expert_conditions, fit_flow_prior, flow_generate


@pytest.fixture(scope="module")
def vae(tiny_run):
    from synesthesia.runs import load_model

    model, modalities, _ = load_model(tiny_run)
    return model


@pytest.fixture(scope="module")
def fitted(vae, tiny_data):
    train = FlowTrainConfig(steps=30, batch_size=32, log_every=10)
    return fit_flow_prior(vae, tiny_data, train, net={"hidden": 32, "blocks": 1})


def test_flow_data_holds_every_expert_and_the_joint_posterior(vae, tiny_data):
    captions = tiny_data[list(range(len(tiny_data)))].data["text"]
    data = encode_flow_data(vae, tiny_data, batch_size=100, variants={"text": captions.flip(0)})
    d, m = vae.config.latent_dim, len(vae.names)
    assert data.z_mean.shape == (len(tiny_data), d) and data.condition.shape == (m, len(tiny_data), 2 * d)
    assert data.mask.all()
    batch = tiny_data[[0, 1, 2]]
    mu, logvar, mask = vae.experts(batch.data, batch.masks)
    pm, _ = vae.posterior(mu, logvar, mask)
    assert torch.allclose(data.z_mean[:3], pm, atol=1e-5)
    t = vae.names.index("text")
    assert torch.allclose(data.condition[t, :3], torch.cat([mu[t], logvar[t]], -1), atol=1e-5)
    # the variant rows are the experts of the given alternative inputs, row for row
    assert torch.allclose(data.variants[t][-1], data.condition[t, 0], atol=1e-5)


def test_generation_reads_only_the_given_modalities(vae, fitted, tiny_data):
    batch = tiny_data[list(range(6))]
    text = {"text": batch.data["text"]}
    g = lambda: torch.Generator().manual_seed(0)
    out = flow_generate(vae, fitted, text, ["image", "audio"], generator=g())
    assert out["image"].shape == batch.data["image"].shape and set(out) == {"image", "audio"}
    # an image marked absent does not change what text -> image draws
    hidden = {"text": batch.data["text"], "image": torch.rand_like(batch.data["image"])}
    absent = {"image": torch.zeros(6, dtype=torch.bool)}
    assert torch.equal(flow_generate(vae, fitted, hidden, ["image"], generator=g(), masks=absent)["image"],
                       out["image"])
    other = flow_generate(vae, fitted, {"text": batch.data["text"].roll(1, 0)}, ["image"], generator=g())
    assert not torch.equal(other["image"], out["image"])
    conds, masks = expert_conditions(vae, text)
    assert set(conds) == {"text"} and conds["text"].shape == (6, 2 * vae.config.latent_dim)


def test_unconditional_joint_samples_and_guidance_zero(vae, fitted, tiny_data):
    g = lambda: torch.Generator().manual_seed(1)
    joint = flow_generate(vae, fitted, {}, vae.names, generator=g(), batch_size=5)
    assert set(joint) == set(vae.names) and all(len(x) == 5 for x in joint.values())
    text = {"text": tiny_data[list(range(5))].data["text"]}
    guided = flow_generate(vae, fitted, text, ["image"], generator=g(), guidance=0.0)
    assert torch.equal(guided["image"], joint["image"])
    with pytest.raises(FlowPriorError, match="batch_size"):
        flow_generate(vae, fitted, {}, ["image"])
    with pytest.raises(FlowPriorError, match="cannot generate"):
        flow_generate(vae, fitted, text, ["smell"])


def test_train_prior_command_trains_and_saves_a_prior(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["train-prior", str(run), "--steps", "20", "--n", "64", "--batch-size", "32",
                 "--hidden", "32", "--blocks", "1", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    flow = load_flow_prior(run)
    assert flow.summary["steps"] == 20 and set(flow.config.modalities) == {"image", "audio", "video", "text"}
    info = (run / "priors" / "flow.json").read_text()
    assert '"partial_caption_p": 0.3' in info and '"rows": 64' in info
    assert main(["train-prior", str(tmp_path / "none"), "--steps", "2"]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_anchored_joint_samples_draw_the_anchor_first(vae, fitted):
    g = lambda: torch.Generator().manual_seed(2)
    plain = flow_generate(vae, fitted, {}, ["text"], generator=g(), batch_size=4)["text"]
    anchored = flow_generate(vae, fitted, {}, ["image", "text"], generator=g(), batch_size=4, anchor="text",
                             guidance=1.0)
    assert anchored["image"].shape[0] == 4 and set(anchored) == {"image", "text"}
    # the second stage is the flow conditioned on the caption the first stage drew
    g2 = g()
    fitted.sample(n=4, generator=g2)                                               # the first stage's draw
    conds, masks = expert_conditions(vae, {"text": plain})
    z = fitted.sample(conditions=conds, masks=masks, generator=g2)
    assert torch.equal(anchored["image"], vae.decode(z, ["image"])["image"])
    with pytest.raises(FlowPriorError, match="cannot generate"):
        flow_generate(vae, fitted, {}, ["image"], batch_size=2, anchor="smell")


@pytest.fixture(scope="module")
def flow_run(tiny_run, fitted, tmp_path_factory):
    """A copy of the tiny run with the fitted flow prior saved in it."""
    run = tmp_path_factory.mktemp("flowrun") / "run"
    shutil.copytree(tiny_run, run)
    save_flow_prior(run, fitted)
    return run


def test_the_pipeline_draws_z_from_the_flow_prior(flow_run, fitted, tiny_data):
    pipe = load(flow_run)
    text = tiny_data[list(range(3))].data["text"]
    out = pipe.generate_tensors({"text": text}, ["image"], torch.Generator().manual_seed(4),
                                options=Options(prior="flow", flow_steps=7, cfg_scale=2.0))["image"]
    expected = flow_generate(pipe.model, fitted, {"text": text}, ["image"], torch.Generator().manual_seed(4),
                             steps=7, guidance=2.0)["image"]
    assert torch.equal(out, expected)
    plain = pipe.generate_tensors({"text": text}, ["image"], torch.Generator().manual_seed(4))["image"]
    assert not torch.equal(plain, out)                        # the default stays the encoder's posterior
    raw = pipe.generate("image", text=["a star", "a big red circle"], n=2, seed=0, prior="flow", flow_steps=3)
    assert len(raw) == 2 and all(len(group) == 2 for group in raw)
    joint = pipe.sample(n=3, seed=1, prior="flow", flow_steps=5)
    again = flow_generate(pipe.model, fitted, {}, list(pipe.modalities), pipe.generator(1), batch_size=3, steps=5)
    assert set(joint) == set(pipe.modalities) and len(joint["text"]) == 3
    assert joint["text"] == pipe.modalities["text"].decode(again["text"])


def test_the_pipeline_says_how_to_get_a_flow_prior(tiny_run, flow_run):
    pipe = load(tiny_run)
    with pytest.raises(PipelineError, match=f"synesthesia train-prior {tiny_run}"):
        pipe.generate("image", text="a star", prior="flow")
    with pytest.raises(PipelineError, match="synesthesia train-prior"):
        pipe.sample(n=2, prior="flow")
    flow_pipe = load(flow_run)
    with pytest.raises(PipelineError, match="do not combine"):
        flow_pipe.generate("image", text="a star", prior="flow", sampler="mala")
    with pytest.raises(PipelineError, match="give prior='flow'"):
        flow_pipe.generate("image", text="a star", flow_steps=5)
    with pytest.raises(PipelineError, match="give prior='flow'"):
        flow_pipe.generate("image", text="a star", prior="gmm", cfg_scale=2.0)


def test_generate_takes_the_flow_prior_from_the_command_line(flow_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", str(flow_run), "--to", "image", "--text", "a big red star", "--n", "2",
                 "--prior", "flow", "--flow-steps", "4", "--cfg-scale", "1.5", "-o", str(out)]) == 0
    assert len(list(out.glob("image-*.png"))) == 2
    with pytest.raises(SystemExit):
        main(["generate", str(flow_run), "--to", "image", "--text", "a star", "--prior", "flows", "-o", str(out)])
    assert "choose from 'standard', 'aggregate', 'gmm', 'flow'" in capsys.readouterr().err


def test_anchored_joint_samples_through_the_pipeline(flow_run, fitted):
    pipe = load(flow_run)
    out = pipe.generate_tensors({}, ["image"], pipe.generator(3), options=Options(
        prior="flow", flow_steps=4, flow_anchor="text", cfg_scale=2.0), batch_size=3)["image"]
    expected = flow_generate(pipe.model, fitted, {}, ["image"], pipe.generator(3), batch_size=3, steps=4,
                             anchor="text", guidance=2.0)["image"]
    assert torch.equal(out, expected)
    joint = pipe.sample(n=2, seed=0, prior="flow", flow_steps=3, flow_anchor="text")
    assert set(joint) == set(pipe.modalities)
    with pytest.raises(PipelineError, match="cannot generate"):
        pipe.sample(n=2, prior="flow", flow_anchor="smell")


def test_joint_samples_default_to_the_runs_flow_prior_anchored_on_the_caption(tiny_run, flow_run):
    pipe = load(flow_run)
    default = pipe.sample(n=3, seed=2, flow_steps=4)
    explicit = pipe.sample(n=3, seed=2, prior="flow", flow_steps=4, flow_anchor="text")
    assert default["text"] == explicit["text"]
    assert all(np.array_equal(a, b) for a, b in zip(default["image"], explicit["image"]))
    standard = pipe.sample(n=3, seed=2, prior="standard")
    assert standard["text"] != default["text"]
    assert standard["text"] == load(tiny_run).sample(n=3, seed=2)["text"]     # a run without one: N(0, I)
