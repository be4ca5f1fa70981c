"""Confinement and bounded reads for paths that come from a dataset's own files.

A path read from a manifest or metadata file must stay inside the dataset's folder: no ``..``,
no absolute path, no symlink that resolves outside (unless the user allows it with
``data.allow_outside: true``). Only regular files are opened (a FIFO or a device such as
``/dev/zero`` is refused before anything is read) and every read has a size limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from synesthesia.data.errors import DataLayoutError, SampleError

CAPTION_LIMIT = 1 << 20            # bytes: a caption text file larger than this is refused
MEDIA_LIMIT = 2 << 30              # bytes: a media file larger than this is refused
OUTSIDE_HINT = "set data.allow_outside: true to allow paths outside the dataset's folder"


def confine(root: Path, ref: str, allow_outside: bool = False) -> Path:
    """``root / ref`` when it stays inside ``root`` (symlinks resolved); else :class:`SampleError`."""
    if not isinstance(ref, str) or not ref.strip():
        raise SampleError(f"empty or non-text path {ref!r}", str(ref))
    if "\x00" in ref:
        raise SampleError("path holds a NUL byte", repr(ref))
    posix, windows = PurePosixPath(ref), PureWindowsPath(ref)
    if not allow_outside:
        if posix.is_absolute() or windows.is_absolute() or windows.drive:
            raise SampleError(f"absolute path {ref!r} refused: paths must be relative to the "
                              f"dataset folder {root}; {OUTSIDE_HINT}", ref)
        if ".." in posix.parts or ".." in windows.parts:
            raise SampleError(f"path {ref!r} climbs out of the dataset folder {root} with '..'; "
                              f"{OUTSIDE_HINT}", ref)
    path = root / posix
    if not allow_outside:
        real, base = path.resolve(), root.resolve()
        if real != base and base not in real.parents:
            raise SampleError(f"path {ref!r} is a link to {real}, outside the dataset folder "
                              f"{root}; {OUTSIDE_HINT}", ref)
    return path


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: Path, limit: int = MEDIA_LIMIT, what: str = "file") -> int:
    """The size of ``path`` if it is a non-empty regular file within ``limit``; else :class:`SampleError`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SampleError(f"{what} does not exist", str(path)) from None
    except OSError as err:
        raise SampleError(f"{what} cannot be opened: {err.strerror}", str(path)) from None
    return _check_stat(st, path, limit, what)


def _check_stat(st: os.stat_result, path: Path, limit: int, what: str) -> int:
    if not stat.S_ISREG(st.st_mode):
        raise SampleError(f"{what} is {_kind(st.st_mode)}, not a regular file: refused", str(path))
    if st.st_size == 0:
        raise SampleError(f"{what} is empty", str(path))
    if st.st_size > limit:
        raise SampleError(f"{what} is {st.st_size:,} bytes, over the limit of {limit:,}", str(path))
    return st.st_size


def read_bounded(path: Path, limit: int, what: str = "file") -> bytes:
    """Read a regular file of at most ``limit`` bytes. The file is opened without blocking and
    checked on the open descriptor, so a FIFO or device is refused without being read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise SampleError(f"{what} does not exist", str(path)) from None
    except OSError as err:
        raise SampleError(f"{what} cannot be opened: {err.strerror}", str(path)) from None
    try:
        _check_stat(os.fstat(fd), path, limit, what)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > limit:
        raise SampleError(f"{what} grew past the limit of {limit:,} bytes while read", str(path))
    return b"".join(chunks)


def read_metadata(path: Path, limit: int) -> bytes:
    """A dataset's metadata file (manifest, CSV, JSON) read whole within ``limit`` bytes, or a
    :class:`DataLayoutError` saying what was wrong and which setting raises the limit."""
    try:
        return read_bounded(path, limit, "metadata file")
    except SampleError as err:
        hint = (" (raise data.max_metadata_mb to read it)" if "over the limit" in err.reason else "")
        raise DataLayoutError(f"{path}: {err.reason}{hint}") from None


def read_caption_file(path: Path, limit: int = CAPTION_LIMIT) -> str:
    """A caption text file: UTF-8, at most ``limit`` bytes, not blank."""
    data = read_bounded(path, limit, "caption file")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError as err:
        raise SampleError(f"caption file is not UTF-8 text ({err.reason} at byte {err.start})", str(path)) from None
    if not text:
        raise SampleError("caption file holds only white space", str(path))
    return text
