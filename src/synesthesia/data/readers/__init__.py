"""Readers for the dataset layouts users already have, all producing one stream of
:class:`Sample` (a key, a split, a media reference per modality, one or more captions).

``open_reader(path, format=None, options)`` detects the layout from the path (or takes the one
forced by ``data.format``) and returns its reader. Local files only: nothing is downloaded.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.base import Media, Reader, ReaderOptions, Sample
from synesthesia.data.readers.detect import FORMATS, detect_format

# layout name -> "module:class" of its reader
READERS: dict[str, str] = {
    "manifest": "synesthesia.data.readers.manifest:ManifestReader",
    "hf_folder": "synesthesia.data.readers.hf_folder:HFFolderReader",
    "coco": "synesthesia.data.readers.coco:CocoReader",
    "karpathy": "synesthesia.data.readers.karpathy:KarpathyReader",
    "flickr": "synesthesia.data.readers.flickr:FlickrReader",
    "audiocaps": "synesthesia.data.readers.audio_captions:AudioCapsReader",
    "clotho": "synesthesia.data.readers.audio_captions:ClothoReader",
    "msrvtt": "synesthesia.data.readers.msrvtt:MsrVttReader",
    "webdataset": "synesthesia.data.readers.webdataset:WebDatasetReader",
}


def open_reader(path: str | Path, format: str | None = None, options: ReaderOptions | None = None) -> Reader:
    """The reader for the dataset at ``path`` (its layout detected unless ``format`` is given)."""
    path = Path(path)
    if not path.exists():
        raise DataLayoutError(f"{path} does not exist; data.path must name a dataset folder or file")
    format = format or detect_format(path)
    if format not in READERS:
        raise DataLayoutError(f"{path}: {format!r} is not a layout with a reader; data.format takes "
                              f"{', '.join(READERS)}")
    module, cls = READERS[format].split(":")
    return getattr(importlib.import_module(module), cls)(path, options)


__all__ = ["FORMATS", "Media", "READERS", "Reader", "ReaderOptions", "Sample", "detect_format", "open_reader"]
