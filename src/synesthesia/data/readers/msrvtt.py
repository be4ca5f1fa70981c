"""MSR-VTT: a JSON file (``train_val_videodatainfo.json``, ``test_videodatainfo.json``) holding
``videos[{video_id, split}]`` and ``sentences[{video_id, caption}]`` (twenty captions per clip),
with the clips ``<video_id>.mp4`` anywhere under the folder (``TrainValVideo/``, ``videos/``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import VIDEO_SUFFIXES, Media, Reader, Sample, index_files, require_keys, split_name
from synesthesia.data.readers.tables import read_json


def looks_like_msrvtt(path: Path) -> bool:
    """Whether a JSON file starts like an MSR-VTT one (its first 64 kB name videos and sentences)."""
    if not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return '"videos"' in head and ('"sentences"' in head or "videodatainfo" in path.name)


class MsrVttReader(Reader):
    format = "msrvtt"

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        super().__init__(path, options)
        self.files = [path] if path.is_file() else sorted(p for p in path.glob("*.json") if looks_like_msrvtt(p))
        if not self.files:
            raise DataLayoutError(f"{path}: no MSR-VTT file; expected a JSON file with 'videos' and "
                                  "'sentences' (train_val_videodatainfo.json)")

    @property
    def metadata_files(self) -> list[Path]:
        return list(self.files)

    def samples(self) -> Iterator[Sample]:
        clips = index_files(self.root, (*VIDEO_SUFFIXES, ".gif"))
        for path in self.files:
            doc = read_json(path, self.options.max_metadata_bytes)
            require_keys(doc, ["videos", "sentences"], str(path), "an MSR-VTT file")
            captions: dict[str, list] = {}
            for k, s in enumerate(doc["sentences"]):
                require_keys(s, ["video_id", "caption"], f"{path}: sentences[{k}]", "a sentence")
                captions.setdefault(str(s["video_id"]), []).append(s["caption"])
            for k, v in enumerate(doc["videos"]):
                where = f"{path}: videos[{k}]"
                require_keys(v, ["video_id"], where, "a video entry")
                vid = str(v["video_id"])
                media = (self.file(os.path.relpath(clips[vid], self.root)) if vid in clips else
                         Media(vid, None, error=f"no clip {vid}{'/'.join(VIDEO_SUFFIXES)} under {self.root}"))
                yield Sample(vid, split_name(v.get("split"), where), {"video": media},
                             list(captions.get(vid, [])), where)


