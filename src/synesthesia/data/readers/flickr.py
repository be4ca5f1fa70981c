"""Flickr30k (and Flickr8k) captions without Karpathy splits: ``results.csv``
(``image_name| comment_number| comment``) or the ``.token`` file (``name.jpg#k<TAB>caption``),
with the images in ``flickr30k_images/`` (or ``flickr30k-images/``, ``images/``, ...). These
files carry no split: samples get one later (see :mod:`synesthesia.data.plan`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import Reader, Sample, media_folder
from synesthesia.data.readers.safety import read_metadata

IMAGE_FOLDERS = ["flickr30k_images", "flickr30k-images", "Flicker8k_Dataset", "Flickr8k_Dataset", "images",
                 "Images", ""]


def caption_file(folder: Path) -> Path | None:
    for pattern in ("results.csv", "*.token", "*.token.txt"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


class FlickrReader(Reader):
    format = "flickr"

    def __init__(self, path: Path, options=None) -> None:
        path = Path(path)
        super().__init__(path, options)
        if path.is_dir():
            found = caption_file(path)
            if found is None:
                raise DataLayoutError(f"{path}: no Flickr caption file; expected results.csv or a "
                                      "*.token file")
            self.path = found

    def _rows(self) -> Iterator[tuple[int, str, str]]:
        """(line, image name, caption) from either file format."""
        try:
            text = read_metadata(self.path, self.options.max_metadata_bytes).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise DataLayoutError(f"{self.path}: not UTF-8 text ({err.reason})") from None
        lines = text.splitlines()
        csv = self.path.suffix.lower() == ".csv"
        if csv:
            header = [h.strip() for h in lines[0].split("|")] if lines else []
            if header[:3] != ["image_name", "comment_number", "comment"]:
                raise DataLayoutError(f"{self.path}: expected the header 'image_name| comment_number| "
                                      f"comment' (fields separated by '|'); found {lines[0][:80]!r}"
                                      if lines else f"{self.path}: empty file")
        for k, line in enumerate(lines[1:] if csv else lines, 2 if csv else 1):
            if not line.strip():
                continue
            if csv:
                parts = line.split("|", 2)
                if len(parts) != 3:
                    yield k, parts[0].strip(), None
                    continue
                yield k, parts[0].strip(), parts[2].strip()
            else:
                name, tab, caption = line.partition("\t")
                if not tab or "#" not in name:
                    raise DataLayoutError(f"{self.path}:{k}: expected 'name.jpg#k<TAB>caption', found "
                                          f"{line[:80]!r}")
                yield k, name.rsplit("#", 1)[0].strip(), caption.strip()

    def samples(self) -> Iterator[Sample]:
        groups: dict[str, Sample] = {}
        for k, name, caption in self._rows():
            sample = groups.get(name)
            if sample is None:
                sample = groups[name] = Sample(name, None, origin=f"{self.path}:{k}")
            if caption is None:
                sample.error = f"{self.path}:{k}: expected 3 fields separated by '|'"
            else:
                sample.captions.append(caption)
        folder = media_folder(self.root, IMAGE_FOLDERS, list(groups)[:20])
        for name, sample in groups.items():
            sample.media["image"] = self.file(name, folder)
            yield sample
