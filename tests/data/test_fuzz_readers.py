"""Fuzzing the dataset layout readers (bounded: fixed seed, few examples): each layout's metadata
file (manifest JSONL, HF metadata CSV/JSONL, COCO and Karpathy JSON, Flickr CSV/token files,
AudioCaps and Clotho CSV, MSR-VTT JSON, WebDataset tar shards) is cut, overwritten or replaced,
and the reader either reads it or raises the project's own error with a message. Metadata over
``max_metadata_bytes`` is refused before it is parsed."""

import shutil

import layouts
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers import ReaderOptions, open_reader
from synesthesia.errors import SynesthesiaError

LAYOUTS = {
    "manifest": lambda root: layouts.manifest(root, n=4),
    "hf_csv": lambda root: layouts.hf_imagefolder(root, n=4, fmt="csv"),
    "hf_jsonl": lambda root: layouts.hf_imagefolder(root, n=4, fmt="jsonl"),
    "coco": lambda root: layouts.coco(root, n=3, n_val=1),
    "karpathy": lambda root: layouts.karpathy(root, n=4),
    "flickr_csv": lambda root: layouts.flickr_csv(root, n=3),
    "flickr_token": lambda root: layouts.flickr_token(root, n=3),
    "audiocaps": lambda root: layouts.audiocaps(root, n=3),
    "clotho": lambda root: layouts.clotho(root, n=3),
    "msrvtt": lambda root: layouts.msrvtt(root, n=3),
    "webdataset": lambda root: layouts.webdataset(root, n=4, shards=1),
}
METADATA = (".json", ".jsonl", ".csv", ".txt", ".token", ".tar")
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
JSONISH = st.text(alphabet='{}[]:,"0123456789.-eEtruefalsn \n\\u/|#', max_size=80).map(str.encode)


def mutated(data: bytes):
    def apply(args):
        kind, at, blob = args
        at = at % (len(data) + 1)
        return [data[:at], data[:at] + blob + data[at + len(blob):], data[:at] + blob + data[at:], blob][kind]
    return st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.one_of(st.binary(max_size=40), JSONISH)).map(apply)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    roots = {}
    for name, make in LAYOUTS.items():
        root = make(tmp_path_factory.mktemp(name))
        folder = root if root.is_dir() else root.parent
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in METADATA)
        assert files, name
        roots[name] = (root, files)
    return roots


def read_all(root) -> int:
    reader = open_reader(root)
    return sum(1 for _ in reader.samples())


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_reads_before_fuzzing(datasets, layout):
    assert read_all(datasets[layout][0]) > 0


@seed(22)
@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_reader_fuzz(datasets, layout, data):
    root, files = datasets[layout]
    target = files[data.draw(st.integers(0, len(files) - 1))]
    original = target.read_bytes()
    try:
        target.write_bytes(data.draw(mutated(original)))
        try:
            read_all(root)
        except SynesthesiaError as err:
            assert str(err).strip() and len(str(err)) < 2000
    finally:
        target.write_bytes(original)


@pytest.mark.parametrize("layout", ["manifest", "coco", "karpathy", "hf_csv", "audiocaps"])
def test_metadata_over_the_limit_is_refused_before_parsing(datasets, layout, tmp_path):
    root = datasets[layout][0]
    if root.is_dir():
        root = shutil.copytree(root, tmp_path / layout)
    with pytest.raises(DataLayoutError, match="max_metadata_bytes|larger than|limit"):
        list(open_reader(root, options=ReaderOptions(max_metadata_bytes=64)).samples())
