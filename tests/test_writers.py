"""Every file the package writes goes through synesthesia.io (a temporary name, then a rename):
a write call in the source is either inside an atomic block (``atomic_path``, ``atomic_dir``,
``write_into``) or writes to a temporary or in-memory target, or is listed below with why."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "synesthesia"
WRITES = re.compile(r"open\([^)]*['\"][wax]b?\+?['\"]|\.write_text\(|\.write_bytes\(|save_file\(|np\.save\(|"
                    r"\.savefig\(|sf\.write\(|json\.dump\(|\.save\(|get_writer\(|torch\.save\(|pickle\.dump|"
                    r"fdopen\(|\.tofile\(|open_memmap\(")
ATOMIC = re.compile(r"atomic_path\(|atomic_dir\(|write_into\(|\btmp\b|BytesIO|buf\b|mkstemp|tempfile|\.part\b")
# writes that are not results: a lock file, a subprocess's log, writers that are atomic inside
ALLOWED = {
    ("data/prepare.py", 'open(work / ".lock", "w")'): "an advisory lock file inside the work folder",
    ("evaluation/scorer.py", "scorer.save(folder)"): "Scorer.save writes through atomic_path",
    ("cli/generate.py", "pipe.save("): "Pipeline.save writes through the modality writers (atomic)",
    ("world/cache.py", "np.save(folder"): "inside atomic_dir's temporary folder",
    ("evaluation/report.py", "fig.savefig(path"): "figures inside write_into's temporary folder",
    ("evaluation/paired_data.py", "target.write_bytes(data)"): "a tar member copied into a TemporaryDirectory",
}


def _hits():
    for path in sorted(SRC.rglob("*.py")):
        rel = str(path.relative_to(SRC))
        if rel == "io.py":
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if WRITES.search(line) and not line.lstrip().startswith("#"):
                context = "\n".join(lines[max(0, i - 8):i + 1])
                if ATOMIC.search(context) or ATOMIC.search(line):
                    continue
                yield rel, i + 1, line.strip()


def test_every_write_goes_through_an_atomic_path():
    raw = [(rel, n, line) for rel, n, line in _hits()
           if not any(rel == f and pattern in line for f, pattern in ALLOWED)]
    assert not raw, "writes outside synesthesia.io:\n" + "\n".join(f"{r}:{n}: {line}" for r, n, line in raw)
