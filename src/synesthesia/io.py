"""Writing files without losing anything: atomic writes, folders that are never replaced by
mistake, output names that never collide, and the permissions a normal write would give.

* Every file and folder is written under a temporary name beside its target (``.NAME.PID-TOKEN.tmp``)
  and renamed into place, so a reader never sees half a result. Temporaries left by a killed
  process are recognised by their process id and removed by the next write to the same target.
* Results get the permissions ``open()`` would give them (0666 / 0777 minus the umask), not the
  owner-only ones of temporary files.
* :func:`atomic_dir` never replaces a folder unless asked to, and never one that holds a run, a
  dataset or a cache (:func:`protected_kind`), even when asked.
* :func:`check_out_folder` and :func:`claim_numbered` serve commands that write files INTO a
  folder: they leave the folder's other files alone and never overwrite silently.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from synesthesia.errors import OutputError

# files whose presence makes a folder a run, a dataset or a cache: never replaced, never written into
RUN_MARKERS = ("config.yaml",)
RUN_CONTENTS = ("model.safetensors", "checkpoints")
DATASET_MARKERS = ("manifest.json", "manifest.jsonl", "metadata.jsonl", "metadata.csv", "metadata.parquet",
                   "prepared.json")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(path: Path, directory: bool = False) -> None:
    """Give ``path`` the permissions a plain ``open()`` / ``mkdir()`` would have (temporary files
    and folders are created owner-only)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


# -- temporaries ------------------------------------------------------------------------------
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp")


def _temp_sibling(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path: str | Path) -> list[Path]:
    """Remove the temporaries of ``path`` left by processes that no longer run (a ``kill -9`` in
    the middle of a write); return what was removed."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for sibling in path.parent.iterdir():
        m = _TEMP.match(sibling.name)
        if m is None or m["name"] != path.name or _alive(int(m["pid"])):
            continue
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)
        removed.append(sibling)
    return removed


# a write that failed for want of room: the disk or a quota is full, or a file size limit was reached
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def room_errno(err: BaseException) -> int | None:
    """The errno of ``err`` when it says a write found no room (an OSError, or a library's error
    quoting the OS error, as safetensors' does), else None."""
    code = err.errno if isinstance(err, OSError) else None
    if code is None:
        found = re.search(r"os error (\d+)", str(err))
        code = int(found.group(1)) if found else None
    return code if code in NO_ROOM else None


def no_room(err: BaseException, path: str | Path) -> OutputError:
    """The error for a write to ``path`` that failed with ``err`` for want of room."""
    reason = getattr(err, "strerror", None) or os.strerror(room_errno(err) or errno.ENOSPC)
    return OutputError(f"could not write {path}: {reason} (the disk or a quota is full, or a file "
                       f"size limit was reached); nothing was half-written and the file that was there is as "
                       f"it was: free some space and run the command again (a training run: with --resume)")


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was; a full disk
    (or a file size limit) becomes an :class:`OutputError` saying so. ``suffix`` (default:
    ``path``'s own) is kept so writers that pick a format by extension still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = _temp_sibling(path, path.suffix if suffix is None else suffix)
    try:
        yield tmp
        if tmp.exists():
            publish(tmp)
        os.replace(tmp, path)
    except Exception as err:
        if room_errno(err) is not None:
            raise no_room(err, path) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def append_jsonl(path: str | Path, record: dict) -> Path:
    """Add ``record`` as one JSON line at the end of ``path`` (made if absent); the file is
    rewritten whole through a temporary, so a reader never sees half a line."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    return write_text_atomic(path, old + json.dumps(record, default=float) + "\n")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


# -- folders that must not be replaced --------------------------------------------------------
def protected_kind(folder: str | Path) -> str | None:
    """"a run", "a dataset" or "a cache" when ``folder`` holds one (see the markers above)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if all((folder / m).exists() for m in RUN_MARKERS) and any((folder / c).exists() for c in RUN_CONTENTS):
        return "a run"
    if (folder / "manifest.json").is_file() and any(folder.glob("*/*/*.npy")):
        return "a cache"
    if any((folder / m).exists() for m in DATASET_MARKERS):
        return "a dataset"
    return None


def refuse_protected(folder: str | Path, action: str = "write into") -> None:
    kind = protected_kind(folder)
    if kind is not None:
        raise OutputError(f"{folder} holds {kind}; synesthesia never replaces or writes into one — "
                          f"choose another --out (it would {action} it)")


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it becomes ``path``.

    An existing non-empty ``path`` is refused unless ``overwrite``, and a folder holding a run, a
    dataset or a cache always is. On an exception the temporary folder is deleted, and one left by
    a killed process is removed by the next call for the same ``path``.
    """
    path = Path(path)
    exists = path.exists() and (not path.is_dir() or any(path.iterdir()))
    if exists:
        refuse_protected(path, "replace")
        if not overwrite:
            raise OutputError(f"{path} already exists and is not empty; choose another --out or pass "
                              "--overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = _temp_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        for sub in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            publish(sub, directory=True)
        if path.exists():
            old = _temp_sibling(path, ".old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# -- writing into a folder that may hold other files ------------------------------------------
def check_out_folder(folder: str | Path, names: Iterable[str], overwrite: bool = False,
                     create: bool = True) -> Path:
    """Make sure files ``names`` may be written into ``folder`` (created if missing, with
    ``create``): the folder holds no run, dataset or cache, and none of ``names`` exists unless
    ``overwrite``. Other files in the folder are never touched."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--out {folder} is a file; give a folder")
    refuse_protected(folder)
    taken = [n for n in names if (folder / n).exists()]
    if taken and not overwrite:
        raise OutputError(f"{folder} already holds {', '.join(taken)}; choose another --out or pass "
                          "--overwrite to replace those files (other files are left alone)")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def write_into(folder: str | Path, names: Iterable[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder in which the caller writes the files and folders ``names``; on
    success each is moved into ``folder`` (created if missing), replacing one of the same name
    only with ``overwrite``. Other files of ``folder`` are never touched; on an exception nothing
    is moved and ``folder`` is not created."""
    folder = Path(folder)
    names = list(names)
    check_out_folder(folder, names, overwrite, create=False)
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    tmp = _temp_sibling(folder)
    tmp.mkdir()
    try:
        yield tmp
        folder.mkdir(exist_ok=True)
        for name in names:
            src, dst = tmp / name, folder / name
            if not src.exists():
                continue
            for sub in [src, *(p for p in src.rglob("*") if p.is_dir())] if src.is_dir() else []:
                publish(sub, directory=True)
            if dst.is_dir() and src.is_dir():
                old = _temp_sibling(dst, ".old")
                os.replace(dst, old)
                os.replace(src, dst)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def claim_numbered(folder: str | Path, stem: str, extension: str, start: int = 0) -> Path:
    """Reserve the first free ``folder/stem-KK.extension`` (K from ``start``) by creating it
    exclusively (``O_EXCL``): two processes writing into one folder never get the same name.
    The caller writes the real content with an atomic write onto the returned path."""
    folder = Path(folder)
    k = start
    while True:
        path = folder / f"{stem}-{k:02d}.{extension}"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            k += 1
            continue
        os.close(fd)
        return path
