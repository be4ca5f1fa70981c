"""Karpathy's splits of COCO and Flickr (``dataset_coco.json``, ``dataset_flickr30k.json``,
``dataset_flickr8k.json``): ``images[{filename, filepath?, split, sentences[{raw}]}]``, with
``restval`` counted as train. Image files are looked up as ``<filepath>/<filename>`` under the
JSON's folder or its ``images/``, ``flickr30k-images/``, ``Flicker8k_Dataset/`` folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import Reader, Sample, media_folder, require_keys, split_name
from synesthesia.data.readers.tables import read_json

PATTERN = "dataset_*.json"
IMAGE_FOLDERS = ["images", "flickr30k-images", "flickr30k_images", "Flicker8k_Dataset", "Images", ""]


class KarpathyReader(Reader):
    format = "karpathy"

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        super().__init__(path, options)
        if path.is_dir():
            found = sorted(path.glob(PATTERN))
            if len(found) != 1:
                raise DataLayoutError(f"{path}: expected one {PATTERN} file (Karpathy splits), found "
                                      f"{[p.name for p in found]}; name the file in data.path")
            self.path = found[0]

    def _relpath(self, img: dict) -> str:
        return str(Path(str(img.get("filepath") or "")) / str(img["filename"]))

    def samples(self) -> Iterator[Sample]:
        doc = read_json(self.path, self.options.max_metadata_bytes)
        require_keys(doc, ["images"], str(self.path), "a Karpathy split file")
        images = doc["images"]
        if images:
            require_keys(images[0], ["filename", "split", "sentences"], f"{self.path}: images[0]", "an image entry")
        folder = media_folder(self.root, IMAGE_FOLDERS, [self._relpath(i) for i in images[:20]
                                                          if isinstance(i, dict) and "filename" in i])
        for k, img in enumerate(images):
            where = f"{self.path}: images[{k}]"
            if not isinstance(img, dict) or "filename" not in img:
                yield Sample(f"#{k}", None, origin=where, error="image entry without 'filename'")
                continue
            sample = Sample(str(img.get("cocoid", img.get("imgid", self._relpath(img)))),
                            split_name(img.get("split"), where), origin=where)
            sample.media["image"] = self.file(self._relpath(img), folder)
            sentences = img.get("sentences") or []
            if all(isinstance(s, dict) and isinstance(s.get("raw"), str) for s in sentences):
                sample.captions = [s["raw"] for s in sentences]
            else:
                sample.error = "sentences must be objects with a 'raw' caption"
            yield sample
