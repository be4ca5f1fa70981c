"""Every reader on small files in its layout's real schema: detection, splits, captions, and
the errors for a wrong or missing column, a missing file and a path that leaves the folder."""

import json
import warnings

import layouts
import pytest

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.plan import make_plan
from synesthesia.data.readers import ReaderOptions, detect_format
from synesthesia.data.user_source import ReaderSource

SMALL = {"image": {"size": 16, "channels": 4, "feature_dim": 8},
         "audio": {"seconds": 0.25, "frames": 16, "n_mels": 16, "n_fft": 256},
         "video": {"size": 16, "frames": 4}}


def decoded(path, split="train", **options):
    """The plan and the decoded split of the dataset at ``path``."""
    source = ReaderSource.from_path(path, options=ReaderOptions(**options), max_rejected=1.0)
    mods = source.resolve_modalities(source.modalities, SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return source, source.dataset(split, 1000, mods)


@pytest.mark.parametrize("make, fmt, splits, modalities, captions", [
    (layouts.coco, "coco", {"train": 12, "val": 4}, ("image", "text"), ["a red square", "one red square"]),
    (layouts.karpathy, "karpathy", {"train": 12, "val": 2, "test": 2}, ("image", "text"),
     ["a red square", "a red square here"]),
    (layouts.flickr_csv, "flickr", {"train": 11, "val": 1}, ("image", "text"),
     ["a red square number 0", "a red square number 1", "a red square number 2"]),
    (layouts.flickr_token, "flickr", {"train": 11, "val": 1}, ("image", "text"), ["a red square"] * 2),
    (layouts.hf_imagefolder, "hf_folder", {"train": 12, "val": 3}, ("image", "text"), ["a red square"]),
    (layouts.hf_audiofolder, "hf_folder", {"train": 9, "test": 3}, ("text", "audio"),
     ["a red square", "a red square sound"]),
    (layouts.audiocaps, "audiocaps", {"train": 8, "val": 3}, ("text", "audio"), ["a red square"]),
    (layouts.clotho, "clotho", {"train": 8, "val": 3}, ("text", "audio"),
     [f"a red square take {j}" for j in range(1, 6)]),
    (layouts.msrvtt, "msrvtt", {"train": 6, "val": 2}, ("text", "video"), ["a red square", "a red square moving"]),
    (layouts.webdataset, "webdataset", {"train": 12, "val": 3}, ("image", "text"), ["a red square"]),
    (layouts.manifest, "manifest", {"train": 11, "val": 1}, ("image", "text"), ["a red square", "a red square again"]),
])
def test_each_layout_is_detected_and_read(tmp_path, make, fmt, splits, modalities, captions):
    path = make(tmp_path / fmt)
    assert detect_format(path) == fmt
    plan = make_plan(path)
    assert plan.format == fmt and plan.splits == splits and plan.modalities == modalities
    assert plan.samples[0].captions == captions
    source, ds = decoded(path)
    assert len(ds) == splits["train"] and source.summaries["train"]["rejected"] == 0
    batch = ds[list(range(len(ds)))]
    assert set(batch.data) == set(modalities)
    assert ds.references([0]) == [captions]
    ids, count = ds.caption_ids([0])
    assert int(count[0]) == len(captions)


def test_the_layout_is_found_from_its_metadata_file_too(tmp_path):
    root = layouts.coco(tmp_path / "coco")
    plan = make_plan(root / "annotations" / "captions_val2017.json")
    assert plan.splits == {"val": 4} and plan.root == root
    layouts.hf_imagefolder(tmp_path / "hf", fmt="jsonl")
    assert detect_format(tmp_path / "hf" / "train" / "metadata.jsonl") == "hf_folder"
    assert make_plan(tmp_path / "hf" / "train" / "metadata.jsonl").splits == {"train": 12}


def test_hf_metadata_in_parquet_and_a_chosen_caption_column(tmp_path):
    root = layouts.hf_imagefolder(tmp_path / "hf", fmt="parquet", caption_column="description")
    plan = make_plan(root, options=ReaderOptions(caption_column="description"))
    assert plan.samples[0].captions == ["a red square"]
    with pytest.raises(DataLayoutError, match=r"metadata.parquet: no caption column 'desc'.*found columns "
                                              r"\['file_name', 'description'\].*nearest: 'description'"):
        make_plan(root, options=ReaderOptions(caption_column="desc"))


def test_a_forced_format_wins_and_an_unknown_layout_says_what_it_looked_for(tmp_path):
    root = layouts.coco(tmp_path / "coco")
    assert make_plan(root, format="coco").format == "coco"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataLayoutError, match=r"(?s)no known dataset layout.*notes.txt.*coco: COCO.*data.format"):
        make_plan(tmp_path / "empty")
    with pytest.raises(DataLayoutError, match="'cocoa' is not a layout"):
        make_plan(root, format="cocoa")


@pytest.mark.parametrize("layout, edit, message", [
    ("hf", lambda r: layouts.write_table(r / "train" / "metadata.csv", [{"filename": "0000.png", "text": "a"}]),
     r"train/metadata.csv: no file column; expected 'file_name'.*found \['filename', 'text'\].*nearest: 'filename'"),
    ("coco", lambda r: (r / "annotations" / "captions_val2017.json").write_text(json.dumps(
        {"images": [{"id": 1, "file_name": "x.jpg"}], "annotations": [{"image_id": 1, "captions": "a"}]})),
     r"captions_val2017.json: annotations\[0\]: an annotation has no 'caption'.*found \['captions', 'image_id'\]"
     r".*nearest: 'captions'"),
    ("coco", lambda r: (r / "annotations" / "captions_val2017.json").write_text(json.dumps({"images": []})),
     r"captions_val2017.json: a COCO caption file has no 'annotations'; expected \['images', 'annotations'\]"),
    ("karpathy", lambda r: (r / "dataset_flickr30k.json").write_text(json.dumps(
        {"images": [{"filename": "a.jpg", "split": "train", "sentence": []}]})),
     r"dataset_flickr30k.json: images\[0\]: an image entry has no 'sentences'.*nearest: 'sentence'"),
    ("audiocaps", lambda r: layouts.write_table(r / "val.csv", [{"audiocap_id": 1, "youtube_id": "y",
                                                                 "start": 0, "caption": "a"}]),
     r"val.csv: no AudioCaps column; expected 'start_time'.*found \['audiocap_id', 'youtube_id', 'start', "
     r"'caption'\]"),
    ("flickr", lambda r: (r / "results.csv").write_text("image| number| comment\n1.jpg| 0| a\n"),
     r"results.csv: expected the header 'image_name\| comment_number\| comment'.*found 'image\| number"),
    ("msrvtt", lambda r: (r / "train_val_videodatainfo.json").write_text(json.dumps(
        {"videos": [{"video_id": "video0"}], "sentences": [{"video_id": "video0", "text": "a"}]})),
     r"sentences\[0\]: a sentence has no 'caption'.*found \['text', 'video_id'\]"),
])
def test_wrong_or_missing_columns_name_the_file_what_was_expected_and_what_was_found(tmp_path, layout, edit,
                                                                                   message):
    make = {"hf": layouts.hf_imagefolder, "coco": layouts.coco, "karpathy": layouts.karpathy,
            "audiocaps": layouts.audiocaps, "flickr": layouts.flickr_csv, "msrvtt": layouts.msrvtt}[layout]
    root = make(tmp_path / layout)
    edit(root)
    with pytest.raises(DataLayoutError, match=message):
        make_plan(root)


def test_invalid_metadata_names_the_line(tmp_path):
    root = layouts.hf_imagefolder(tmp_path / "hf", fmt="jsonl")
    with open(root / "train" / "metadata.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(DataLayoutError, match=r"train/metadata.jsonl:13: not valid JSON"):
        make_plan(root)


@pytest.mark.parametrize("make, victim", [
    (layouts.coco, lambda r: r / "train2017" / "000000000003.jpg"),
    (layouts.karpathy, lambda r: r / "flickr30k-images" / "1002.jpg"),
    (layouts.hf_imagefolder, lambda r: r / "train" / "0002.png"),
    (layouts.audiocaps, lambda r: r / "audio" / "train" / "yt00002xyz_30.wav"),
    (layouts.clotho, lambda r: r / "development" / "development clip 2.wav"),
])
def test_a_missing_file_is_rejected_with_its_path_and_the_rest_is_kept(tmp_path, make, victim):
    root = make(tmp_path / "d")
    victim(root).unlink()
    source, ds = decoded(root)
    rejected = source.rejected["train"]
    assert len(rejected) == 1 and len(ds) == source.summaries["train"]["samples"] - 1
    assert victim(root).name.split("_30")[0] in rejected[0]["path"] + rejected[0]["reason"]
    assert "does not exist" in rejected[0]["reason"] or "no local clip" in rejected[0]["reason"]


def test_webdataset_members_are_read_by_offset_and_a_damaged_member_is_rejected(tmp_path):
    import io
    import tarfile

    root = layouts.webdataset(tmp_path / "wds", n=4, shards=1)
    with tarfile.open(root / "train-00000.tar", "a") as tar:
        for name, data in (("bad.png", b"not an image"), ("bad.txt", b"a broken picture")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        info = tarfile.TarInfo("link.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    source, ds = decoded(root)
    reasons = {r["key"]: r["reason"] for r in source.rejected["train"]}
    assert len(ds) == 4
    assert "cannot decode image" in reasons["train-00000.tar:bad"]
    assert "not a regular file" in reasons["train-00000.tar:link"]
