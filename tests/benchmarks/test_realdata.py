"""The real-data benchmark: its datasets built from the installed Debian packages (a subset of
tens of samples), its judges, and a tiny end-to-end run of the runner."""

import gzip
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from realdata import build, judges, run, sources, speech  # noqa: E402
from synesthesia.data.plan import make_plan  # noqa: E402

NEEDED = [sources.FASHION_DIR, sources.EMOJI_FONT, sources.EMOJI_TEST, sources.CLDR_EN]
MISSING = [str(p) for p in NEEDED if not p.exists()] + speech.missing_engines()
needs_packages = pytest.mark.skipif(bool(MISSING), reason=f"real-data packages not installed ({', '.join(MISSING)}): "
                                                           f"{sources.APT}")
SMALL = 12


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if MISSING:
        pytest.skip(f"real-data packages not installed ({', '.join(MISSING)}): {sources.APT}")
    root = tmp_path_factory.mktemp("realdata")
    build.build(root / "data", small=SMALL, workers=1, cache=root / "speech", log=lambda *_: None)
    return root


def metadata(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]


def test_idx_reader_reads_what_was_written(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">III", 2, 3, 4) + images.tobytes())
    assert np.array_equal(sources.read_idx(tmp_path / "x.gz"), images)


def test_a_missing_package_is_named(tmp_path):
    with pytest.raises(sources.MissingPackage, match="apt-get install"):
        sources.require(tmp_path / "nothing-here")


def test_ci_installs_the_packages_the_tests_name():
    script = (ROOT / ".ci" / "run").read_text()
    line = next(w for w in script.splitlines() if "for pkg in" in w)
    assert set(line.split(" in ", 1)[1].split(";")[0].split()) == set(sources.APT.split()[4:])


@needs_packages
def test_fashion_mnist_subset_is_a_dataset_synesthesia_reads(built):
    folder = built / "data" / "fashion-mnist"
    plan = make_plan(folder)
    assert plan.format == "hf_folder" and plan.modalities == ("image", "text", "audio")
    assert plan.splits == {"train": SMALL, "val": SMALL, "test": SMALL}
    rows = metadata(folder)
    parser = judges.parser()
    for r in rows:
        assert len(r["text"]) == build.CAPTIONS_PER_IMAGE and len(set(r["text"])) == len(r["text"])
        assert all(parser.parse(c) == r["label"] for c in r["text"])             # every caption names its class
        assert r["spoken"] == r["text"][0]
        image = Image.open(folder / r["image_file_name"])
        assert image.size == (28, 28) and image.mode == "L"
    train, _ = sources.fashion_mnist("train")
    first = next(r for r in rows if r["split"] == "validation")
    assert np.array_equal(np.asarray(Image.open(folder / first["image_file_name"])), train[-build.FASHION_VAL])


@needs_packages
def test_test_split_is_spoken_by_held_out_voices_only(built):
    for name in build.DATASETS:
        rows = metadata(built / "data" / name)
        voice = lambda r: r["voice"].split(" ")[0]
        test = {voice(r) for r in rows if r["split"] == "test"}
        others = {voice(r) for r in rows if r["split"] != "test"}
        assert test and others and not test & others
        info = json.loads((built / "data" / name / "dataset.json").read_text())
        assert 0.2 < info["speech"]["seconds_mean"] and info["speech"]["seconds_max"] < 6
    import soundfile as sf

    clip = built / "data" / "fashion-mnist" / metadata(built / "data" / "fashion-mnist")[0]["audio_file_name"]
    wave, rate = sf.read(str(clip))
    assert rate == speech.RATE and np.abs(wave).max() == pytest.approx(speech.PEAK, rel=0.05)


@needs_packages
def test_emoji_subset_images_and_captions(built):
    folder = built / "data" / "emoji"
    rows = metadata(folder)
    assert {r["split"] for r in rows} == {"train", "validation", "test"}
    names = {e.text: e.name for e in sources.read_emoji()}
    for r in rows:
        assert r["text"][0] == names[r["emoji"]]
        image = np.asarray(Image.open(folder / r["image_file_name"]))
        assert image.shape == (64, 64, 3) and image.std() > 10                    # something was drawn
    assert any(len(r["text"]) == 2 for r in rows)                                # CLDR keywords too


@needs_packages
def test_speech_cache_is_reused_and_an_existing_dataset_kept(built, tmp_path):
    cache = built / "speech"
    clips = sorted(cache.rglob("*.wav"))
    stamp = {p: p.stat().st_mtime_ns for p in clips}
    lines = []
    build.build(built / "data", ["fashion-mnist"], small=SMALL, cache=cache, log=lines.append)
    assert any("already built" in line for line in lines)
    build.build(tmp_path / "again", ["fashion-mnist"], small=SMALL, cache=cache, log=lines.append)
    assert not any("speaking" in line for line in lines)                        # every clip came from the cache
    assert {p: p.stat().st_mtime_ns for p in sorted(cache.rglob("*.wav"))} == stamp
    assert metadata(tmp_path / "again" / "fashion-mnist") == metadata(built / "data" / "fashion-mnist")


@needs_packages
@pytest.mark.slow
def test_runner_trains_judges_evaluates_and_records_a_tiny_run(built, tmp_path):
    results, docs, runs = tmp_path / "realdata.jsonl", tmp_path / "docs", tmp_path / "runs"
    args = ["--data", str(built / "data"), "--runs", str(runs), "--only", "vae-fashion", "--n", "8", "--small",
            "--results", str(results), "--docs", str(docs), "--set", "train.max_steps=2", "--set", "data.n_train=12",
            "--set", "data.n_val=4", "--set", "modalities.image.channels=8", "--set", "modalities.audio.channels=8",
            "--set", "modalities.text.max_len=48"]            # BPE of 12 captions cuts them finely
    assert run.main(args) == 0
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    directions = [r for r in rows if r["kind"] == "direction"]
    assert len(directions) == 9 and {r["direction"] for r in directions} >= {"text->image", "image->text",
                                                                               "audio->image", "image->audio"}
    for r in directions:
        assert r["steps"] == 2 and 0.0 <= r["value"] <= 1.0 and r["n"] == 8
        assert Path(r["grid"]).is_file() and Image.open(r["grid"]).size[0] > 200
    assert {r["judge"] for r in rows if r["kind"] == "judge"} == {"caption parser", "image classifier",
                                                                  "audio classifier"}
    assert any(r["kind"] == "limit" and set(r.get("class_accuracy", ())) == {"image", "text", "audio"} for r in rows)
    seen = {r["direction"]: r for r in rows if r["kind"] == "limit" and r["what"] == "training samples"}
    assert set(seen) == {r["direction"] for r in directions if not r["direction"].endswith("->audio")}
    assert all(0.0 <= r["train"] <= 1.0 and r["n"] == 8 for r in seen.values())
    import results_page

    page = results_page.Page()
    results_page.read_results(tmp_path, page)
    _, markdown, _, tables, _ = results_page.section("realdata", ROOT / "docs" / "results", page)
    assert not page.problems, page.problems
    assert "image classifier" in tables and "caption → image" in tables and "training samples" in tables
    assert (runs / "judges" / "image" / "judge.json").is_file()
    lines, judge_file = [], runs / "judges" / "audio" / "judge.safetensors"
    stamp = judge_file.stat().st_mtime_ns
    spec = next(s for s in run.SPECS if s.name == "vae-fashion")
    assert run.train(spec, built / "data", runs, 1, [], log=lines.append)["steps"] == 2   # the trained run kept
    assert lines == [f"vae-fashion: trained already ({runs / 'vae-fashion'})"]
    judges.get_judges(built / "data" / "fashion-mnist", runs / "judges", small=True, log=lines.append)
    assert judge_file.stat().st_mtime_ns == stamp                                      # the judges kept


def test_a_recorded_row_replaces_its_earlier_row_in_place(tmp_path):
    path = tmp_path / "realdata.jsonl"
    direction = lambda run_, value: {"kind": "direction", "run": run_, "direction": "text->image", "value": value}
    run.replace_rows(path, [{"kind": "judge", "judge": "image classifier", "on": "test"}, direction("a", 0.1)])
    run.replace_rows(path, [direction("b", 0.3), direction("a", 0.2)])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r.get("run") for r in rows] == [None, "a", "b"] and rows[1]["value"] == 0.2


def test_a_vae_evaluated_through_its_prior_is_its_own_row_with_the_priors_time(tmp_path):
    spec = next(s for s in run.SPECS if s.name == "vae-fashion")
    info = {"cpu_seconds": 100.0, "command": "synesthesia train realdata/vae-fashion"}
    with pytest.raises(SystemExit, match="has no flow prior; train one first: synesthesia train-prior"):
        run.with_prior(spec, tmp_path, info, "flow")
    (tmp_path / "priors").mkdir()
    (tmp_path / "priors" / "flow.json").write_text(json.dumps({"summary": {"steps": 1500, "cpu_seconds": 50.5}}))
    (tmp_path / "priors" / "flow.safetensors").write_bytes(b"")           # only its description is read
    shown, options = run.with_prior(spec, tmp_path, info, "flow")
    assert shown.name == "vae-fashion-flow" and "flow prior (1500 steps)" in shown.model
    assert options["prior"] == "flow" and options["info"]["cpu_seconds"] == 150.5
    assert options["info"]["command"].endswith("--steps 1500")
    shown, options = run.with_prior(spec, tmp_path, info, "flow", 4.0)
    assert shown.name == "vae-fashion-flow-g4" and options["cfg_scale"] == 4.0 and "guidance 4" in shown.model
    gan = next(s for s in run.SPECS if s.name == "gan-fashion")            # not a joint VAE: as it is
    assert run.with_prior(gan, tmp_path, info, "flow") == (gan, {"info": info})


def test_sound_strip_draws_the_envelope_where_the_sound_is():
    from realdata.grids import CELL, sound_strip

    audio = judges.modality("audio")
    t = np.arange(audio.sample_rate * 3) / audio.sample_rate
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) * (t < 1.5)).astype(np.float32)       # sound, then silence
    strip = np.asarray(sound_strip(audio.encode([(wave, audio.sample_rate)])[0]))
    assert strip.shape == (CELL, CELL, 3)
    height = lambda x: int((strip[CELL * 2 // 3:, x] != 255).any(-1).sum())
    assert height(CELL // 8) > 10 and height(CELL - CELL // 8) <= 2


def test_test_data_of_a_dataset_without_classes_has_no_labels():
    from realdata.evaluate import TestData

    unlabelled = TestData({}, None, [{"text": ["a face"]}, {"text": ["a cat"]}, {"text": ["a dog"]}])
    assert unlabelled.n == 3
    labelled = TestData({}, judges.labels([{"label": 1}, {"label": 0}]), [])
    assert labelled.n == 2 and labelled.labels.tolist() == [1, 0]
