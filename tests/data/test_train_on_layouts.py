"""Models train a few steps on datasets in users' layouts (read in memory, or prepared), the run
stores the dataset's absolute path, and ``synesthesia generate`` works on the result."""

import json
import os
import warnings

import layouts
import pytest
import yaml

from synesthesia.cli import main
from synesthesia.runs import RunConfig
from synesthesia.training.run import train

MODALITIES = {"image": {"size": 16, "channels": 8, "feature_dim": 32},
              "audio": {"seconds": 0.25, "frames": 16, "n_mels": 16, "n_fft": 256, "channels": 16,
                        "feature_dim": 32},
              "text": {"feature_dim": 32, "embed": 16, "hidden": 32}}
FAMILIES = {
    "joint_vae": ({"fusion": "mopoe", "latent_dim": 8}, {}),
    "gan": ({"noise_dim": 8, "cond_dim": 16, "w_dim": 16, "g_channels": 8, "d_channels": 8},
            {"gradient_clip": None, "schedule": "constant"}),
    "transformer": ({"kind": "captioner", "width": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1,
                     "stem_channels": 8, "patch": 4}, {}),
}


def config(path, family="joint_vae", modalities=None, **data) -> RunConfig:
    model, train_options = FAMILIES[family]
    mods = {m: dict(c) for m, c in MODALITIES.items() if not modalities or m in modalities}
    return RunConfig.from_dict({
        "family": family, "model": model, "modalities": mods,
        "data": {"path": str(path), "n_train": 64, "n_val": 8, **({"modalities": modalities} if modalities else {}),
                 **data},
        "train": {"batch_size": 4, "max_steps": 2, "max_epochs": 5, "checkpoint_every": 10, "log_every": 1,
                  "samples_every_epoch": False, "precision": "32-true", **train_options},
    })


def fit(cfg, out):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(cfg, out, progress=False)


def generate(run, tmp_path, capsys, *args):
    out = tmp_path / "gen"
    assert main(["generate", str(run), *args, "--n", "2", "-o", str(out)]) == 0
    return capsys.readouterr().out, sorted(p.name for p in out.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("make", [layouts.coco, layouts.karpathy, layouts.hf_imagefolder, layouts.webdataset])
def test_the_joint_vae_trains_on_image_caption_layouts_and_generates(tmp_path, capsys, monkeypatch, make):
    root = make(tmp_path / "data")
    run = fit(config(root), tmp_path / "run")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["path"] == str(root.resolve()) and os.path.isabs(saved["data"]["path"])
    assert json.loads((run / "metrics.json").read_text())["training"]["global_step"] == 2
    monkeypatch.chdir(tmp_path)                              # the run works from anywhere
    text, files = generate(run, tmp_path, capsys, "--to", "image", "--text", "a red square")
    assert files == ["image-00.png", "image-01.png"]
    picture = layouts.write_image(tmp_path / "in.png", 0)
    text, files = generate(run, tmp_path / "t", capsys, "--to", "text", "--image", str(picture))
    assert len(text.strip().splitlines()) == 2


@pytest.mark.slow
def test_the_joint_vae_trains_on_an_audiofolder_and_generates_sound_from_text(tmp_path, capsys):
    root = layouts.hf_audiofolder(tmp_path / "data")
    run = fit(config(root), tmp_path / "run")
    _, files = generate(run, tmp_path, capsys, "--to", "audio", "--text", "a red square")
    assert files == ["audio-00.wav", "audio-01.wav"]


@pytest.mark.slow
def test_training_on_a_prepared_folder_uses_its_sizes_and_tokenizer(tmp_path, capsys):
    root = layouts.coco(tmp_path / "coco")
    assert main(["data", "prepare", str(root), "--out", str(tmp_path / "prep"), "--image-size", "16",
                 "--no-progress"]) == 0
    run = fit(config(tmp_path / "prep"), tmp_path / "run")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["modalities"]["image"]["size"] == 16 and saved["modalities"]["image"]["channels"] == 8
    tokenizer = (tmp_path / "prep" / "assets" / "tokenizer.json").read_text()
    assert (run / "assets" / "tokenizer.json").read_text() == tokenizer
    _, files = generate(run, tmp_path, capsys, "--to", "image", "--text", "one blue circle")
    assert files == ["image-00.png", "image-01.png"]
    with pytest.raises(Exception, match=r"prepared with modalities.image.size=16; the config asks for size=32"):
        cfg = config(tmp_path / "prep")
        cfg.modalities["image"].size = 32
        fit(cfg, tmp_path / "run2")


@pytest.mark.slow
def test_bad_files_loaded_in_memory_go_to_the_run_folder_and_the_limit_stops_training(tmp_path):
    root = layouts.hf_imagefolder(tmp_path / "data", n=24)
    (root / "train" / "0003.png").write_bytes(b"junk")
    with pytest.raises(Exception, match=r"(?s)1 of 24 samples are bad.*0003.png: cannot decode image"):
        fit(config(root), tmp_path / "strict")
    run = fit(config(root, max_rejected=0.1), tmp_path / "run")
    lines = [json.loads(line) for line in (run / "rejected.jsonl").read_text().splitlines()]
    assert [e["key"] for e in lines] == ["train/0003.png"]
    data = json.loads((run / "metrics.json").read_text())["training"]["data"]
    assert data["train"] == {"samples": 24, "kept": 23, "rejected": 1, "captions_dropped": 0}


IMAGE_LAYOUTS = [layouts.coco, layouts.karpathy, layouts.hf_imagefolder, layouts.webdataset]


@pytest.mark.slow
@pytest.mark.parametrize("family, make", [("gan", m) for m in IMAGE_LAYOUTS]       # a GAN makes images/videos
                         + [("transformer", m) for m in (*IMAGE_LAYOUTS, layouts.hf_audiofolder)])
def test_other_families_train_on_each_layout_and_generate(tmp_path, capsys, family, make):
    root = make(tmp_path / "data")
    medium = "audio" if make is layouts.hf_audiofolder else "image"
    run = fit(config(root, family=family, modalities=[medium, "text"]), tmp_path / "run")
    if family == "gan":                                  # text -> image (or sound)
        _, files = generate(run, tmp_path, capsys, "--to", medium, "--text", "a red square")
        assert len(files) == 2 and files[0].startswith(medium)
    else:                                                # the captioner: image (or sound) -> text
        given = (layouts.write_image(tmp_path / "in.png", 0) if medium == "image"
                 else layouts.write_sound(tmp_path / "in.wav", 0))
        text, _ = generate(run, tmp_path, capsys, "--to", "text", f"--{medium}", str(given))
        assert len(text.strip().splitlines()) == 2


@pytest.mark.slow
def test_a_validation_caption_with_a_word_unseen_in_training_does_not_stop_training(tmp_path):
    root = tmp_path / "files"
    rows = []
    for i in range(20):                                  # no split: the last two rows are validation
        layouts.write_image(root / "image" / f"{i}.png", i)
        rows.append({"image": f"image/{i}.png", "caption": layouts.caption(i) + (" 18" if i == 19 else "")})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config(root / "manifest.jsonl")
    cfg.modalities["text"].tokenizer = "word"               # a closed vocabulary: the caption is dropped
    run = fit(cfg, tmp_path / "run")
    lines = [json.loads(line) for line in (run / "rejected.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["kind"] == "caption" and "'18'" in lines[0]["reason"]
    data = json.loads((run / "metrics.json").read_text())["training"]["data"]
    assert data["val"] == {"samples": 2, "kept": 2, "rejected": 0, "captions_dropped": 1}
    run = fit(config(root / "manifest.jsonl"), tmp_path / "bpe")   # the default, subwords: it is kept
    data = json.loads((run / "metrics.json").read_text())["training"]["data"]
    assert data["val"]["captions_dropped"] == 0
