"""COCO captions: ``annotations/captions_<split><year>.json`` holding
``images[{id, file_name, ...}]`` and ``annotations[{image_id, caption}]`` (about five captions
per image), with the images in ``<split><year>/`` beside ``annotations/`` (or ``images/``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import Reader, Sample, media_folder, require_keys, split_name
from synesthesia.data.readers.tables import read_json

PATTERN = "captions_*.json"


def caption_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob(PATTERN), *(folder / "annotations").glob(PATTERN)])


class CocoReader(Reader):
    format = "coco"

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        super().__init__(path, options)
        if path.is_file():
            self.files = [path]
            self.root = path.parent.parent if path.parent.name == "annotations" else path.parent
        else:
            self.files = caption_files(path)
            if not self.files:
                raise DataLayoutError(f"{path}: no COCO caption file; expected {PATTERN} in the folder "
                                      "or in its annotations/ folder")

    @property
    def metadata_files(self) -> list[Path]:
        return list(self.files)

    def samples(self) -> Iterator[Sample]:
        for path in self.files:
            yield from self._file(path)

    def _file(self, path: Path) -> Iterator[Sample]:
        doc = read_json(path, self.options.max_metadata_bytes)
        require_keys(doc, ["images", "annotations"], str(path), "a COCO caption file")
        tag = path.stem[len("captions_"):] if path.stem.startswith("captions_") else path.stem
        match = re.match(r"(train|val|test)", tag)
        split = split_name(match.group(1), str(path)) if match else None
        captions: dict = {}
        for k, ann in enumerate(doc["annotations"]):
            require_keys(ann, ["image_id", "caption"], f"{path}: annotations[{k}]", "an annotation")
            captions.setdefault(ann["image_id"], []).append(ann["caption"])
        images = doc["images"]
        for k, img in enumerate(images[:1]):
            require_keys(img, ["id", "file_name"], f"{path}: images[{k}]", "an image entry")
        probes = [str(img.get("file_name")) for img in images[:20]]
        folder = media_folder(self.root, [tag, f"images/{tag}", "images", ""], probes)
        known = set()
        for k, img in enumerate(images):
            if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
                yield Sample(f"{tag}/#{k}", split, origin=f"{path}: images[{k}]",
                             error=f"image entry without 'id' and 'file_name': {str(img)[:80]}")
                continue
            known.add(img["id"])
            yield Sample(f"{tag}/{img['id']}", split, {"image": self.file(img["file_name"], folder)},
                         list(captions.get(img["id"], [])), f"{path}: images[{k}]")
        orphans = len(set(captions) - known)
        if orphans:
            self.notes.append(f"{path}: {orphans} image id(s) in annotations have no entry in images")
