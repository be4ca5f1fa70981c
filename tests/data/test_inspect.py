"""``synesthesia data inspect``: layout, splits, counts, captions, media headers, problems."""

import json

import layouts

from synesthesia.cli import main


def test_inspect_reports_layout_counts_media_and_what_it_could_not_read(tmp_path, capsys):
    root = layouts.coco(tmp_path / "coco")
    (root / "train2017" / "000000000002.jpg").unlink()
    (root / "train2017" / "000000000003.jpg").write_bytes(b"junk")
    assert main(["data", "inspect", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "coco" and report["splits"] == {"train": 12, "val": 4}
    assert report["modalities"] == {"image": {"train": 12, "val": 4}, "text": {"train": 12, "val": 4}}
    assert report["captions"]["per_sample"].startswith("2 .. 2 .. 2")
    assert report["media"]["image"]["size"] == "24x24 ×14" and report["media"]["image"]["read"] == 14
    problems = " ".join(report["unreadable"]["first"])
    assert "000000000002.jpg: image file does not exist" in problems
    assert "000000000003.jpg: header unreadable" in problems
    assert len(report["examples"]) == 3


def test_inspect_reads_sound_and_video_headers(tmp_path, capsys):
    assert main(["data", "inspect", str(layouts.hf_audiofolder(tmp_path / "a"))]) == 0
    out = capsys.readouterr().out
    assert "layout: hf_folder" in out and "rate: 8000 .. 8000 .. 8000" in out and "seconds: 0.25" in out
    assert main(["data", "inspect", str(layouts.msrvtt(tmp_path / "v")), "--json"]) == 0
    video = json.loads(capsys.readouterr().out)["media"]["video"]
    assert video["size"] == "16x16 ×8" and video["fps"].startswith("4 ")


def test_inspect_errors_are_short_and_name_the_file(tmp_path, capsys):
    root = layouts.hf_imagefolder(tmp_path / "hf")
    assert main(["data", "inspect", str(root), "--caption-column", "txt"]) == 2
    err = capsys.readouterr().err
    assert "metadata.csv: no caption column 'txt'" in err and "nearest: 'text'" in err
    assert "Traceback" not in err
