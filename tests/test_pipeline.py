import numpy as np
import pytest
from PIL import Image

import synesthesia as syn
from synesthesia.errors import SynesthesiaError
from synesthesia.modalities import InputAdjusted, ModalityError
from synesthesia.pipeline import Pipeline, PipelineError


@pytest.fixture(scope="module")
def pipe(tiny_run):
    return syn.load(tiny_run)


@pytest.fixture(scope="module")
def sample(tiny_world):
    return tiny_world.render("test", np.arange(3))


def test_every_direction_returns_raw_values(pipe, sample):
    images = pipe.generate(to="image", text="a big red star", n=3, seed=0)
    assert len(images) == 3 and all(isinstance(i, Image.Image) and i.size == (16, 16) for i in images)
    captions = pipe.generate_text(image=Image.fromarray(sample["image"][0]), seed=0)
    assert len(captions) == 1 and isinstance(captions[0], str)
    clips = pipe.generate_video(text="a blue square moving left", seed=0)
    assert len(clips[0]) == 4 and clips[0][0].size == (16, 16)
    sound = pipe.generate_audio(image=Image.fromarray(sample["image"][0]))
    wave, rate = sound[0]
    assert rate == 8000 and wave.shape == (2000,) and np.abs(wave).max() <= 1
    both = pipe.generate_image(text="a star", audio=(sample["audio"][0], 8000), seed=0)
    assert len(both) == 1
    joint = pipe.sample(n=2, seed=0)
    assert set(joint) == {"image", "text", "audio", "video"} and len(joint["text"]) == 2


def test_batched_inputs_give_one_group_per_input(pipe, sample):
    groups = pipe.generate("image", text=sample["text"], n=2, seed=0)
    assert len(groups) == 3 and all(len(g) == 2 for g in groups)
    with pytest.raises(PipelineError, match="disagree on batch size"):
        pipe.generate("image", text=sample["text"], audio=[(sample["audio"][0], 8000)])


def test_deterministic_for_a_seed(pipe):
    a = pipe.generate("image", text="a small green heart", n=2, seed=7)
    b = pipe.generate("image", text="a small green heart", n=2, seed=7)
    c = pipe.generate("image", text="a small green heart", n=2, seed=8)
    assert [x.tobytes() for x in a] == [x.tobytes() for x in b]
    assert [x.tobytes() for x in a] != [x.tobytes() for x in c]


def test_input_files_and_policies(pipe, sample, tmp_path):
    from synesthesia.modalities.files import write_png, write_wav

    big = Image.fromarray(sample["image"][0]).resize((40, 40))
    with pytest.warns(InputAdjusted, match="resized to 16x16"):
        pipe.generate_text(image=big)
    clear = big.convert("RGBA")
    clear.putalpha(128)
    with pytest.warns(InputAdjusted, match="transparency composited on background"):
        pipe.generate_text(image=clear)
    wave16k = np.repeat(sample["audio"][0], 2)
    path = write_wav(wave16k, 16000, tmp_path / "clip.wav")
    with pytest.warns(InputAdjusted, match=r"resampled to 8000 Hz \(e.g. 16000 Hz\)"):
        assert len(pipe.generate_image(audio=str(path))) == 1
    png = write_png(sample["image"][1], tmp_path / "in.png")
    assert isinstance(pipe.generate_text(image=str(png))[0], str)
    out = pipe.save(pipe.generate_image(text="a star")[0], "image", tmp_path / "out" / "star.png")
    assert Image.open(out).size == (16, 16)


def test_clear_errors(pipe, tiny_run):
    with pytest.raises(PipelineError, match="give at least one input"):
        pipe.generate("image")
    with pytest.raises(ModalityError, match="empty"):
        pipe.generate("image", text="  ")
    with pytest.raises(ModalityError, match="'unicorn'"):
        pipe.generate("image", text="a red unicorn")
    with pytest.raises(PipelineError, match="no loaded run has a 'smell' modality"):
        pipe.generate("smell", text="a star")
    with pytest.raises(PipelineError, match="both given and asked for"):
        pipe.generate("text", text="a star")
    with pytest.raises(PipelineError, match="n must be between 1 and"):
        pipe.generate("image", text="a star", n=0)
    with pytest.raises(PipelineError, match="n must be a whole number"):
        pipe.generate("image", text="a star", n=2.5)
    with pytest.raises(PipelineError, match="n must be between 1 and 4096 per call"):
        pipe.generate("image", text="a star", n=100_000)
    with pytest.raises(ModalityError, match="image file does/not/exist.png does not exist"):
        pipe.generate_text(image="does/not/exist.png")
    # a model without a modality says which ones it has
    from synesthesia.models.joint_vae import JointVAE, JointVAEConfig

    mods = {m: pipe.modalities[m] for m in ("image", "text")}
    small = Pipeline.from_model(JointVAE(mods, JointVAEConfig(latent_dim=8)), mods)
    with pytest.raises(PipelineError, match="no 'audio' modality to condition on; it has image, text"):
        small.generate("image", audio=("x", 8000))
    with pytest.raises(SynesthesiaError, match="not a run folder"):
        syn.load(tiny_run.parent / "nothing")
