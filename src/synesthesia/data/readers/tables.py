"""Metadata tables (JSONL, CSV, Parquet) and JSON documents, read within a size limit, with
errors that name the file and the line."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from synesthesia.data.errors import DataLayoutError
from synesthesia.data.readers.safety import read_metadata


@dataclass
class Table:
    """Rows of a metadata file as dicts; ``lines[i]`` is row i's line in the file (for messages)."""

    path: Path
    rows: list[dict]
    columns: list[str]
    lines: list[int]

    def where(self, i: int) -> str:
        return f"{self.path}:{self.lines[i]}"


def _text(path: Path, limit: int) -> str:
    data = read_metadata(path, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataLayoutError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_json(path: Path, limit: int):
    try:
        return json.loads(_text(path, limit))
    except json.JSONDecodeError as err:
        raise DataLayoutError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


def read_jsonl(path: Path, limit: int) -> Table:
    rows, lines, columns = [], [], {}
    for k, line in enumerate(_text(path, limit).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataLayoutError(f"{path}:{k}: not valid JSON ({err.msg}); each line must be one "
                                  "JSON object") from None
        if not isinstance(row, dict):
            raise DataLayoutError(f"{path}:{k}: expected a JSON object, found {type(row).__name__}")
        rows.append(row)
        lines.append(k)
        columns.update(dict.fromkeys(row))
    return Table(path, rows, list(columns), lines)


def read_csv(path: Path, limit: int, delimiter: str = ",") -> Table:
    """A CSV file with a header row; names and values are stripped of surrounding spaces
    (Flickr30k's ``results.csv`` writes ``image_name| comment_number| comment``)."""
    reader = csv.reader(io.StringIO(_text(path, limit), newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataLayoutError(f"{path}: empty file; expected a header row") from None
    except csv.Error as err:
        raise DataLayoutError(f"{path}:1: not valid CSV ({err})") from None
    rows, lines = [], []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            rows.append({h: (values[i].strip() if i < len(values) else None) for i, h in enumerate(header)})
            lines.append(reader.line_num)
    except csv.Error as err:
        raise DataLayoutError(f"{path}:{reader.line_num}: not valid CSV ({err})") from None
    return Table(path, rows, header, lines)


def read_parquet(path: Path, limit: int) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataLayoutError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow), "
                              "or give the metadata as metadata.jsonl or metadata.csv") from None
    data = read_metadata(path, limit)
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as err:           # pyarrow raises several types for a damaged file
        raise DataLayoutError(f"{path}: not a readable Parquet file ({err})") from None
    rows = table.to_pylist()
    return Table(path, rows, list(table.column_names), list(range(1, len(rows) + 1)))


def read_table(path: Path, limit: int) -> Table:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path, limit)
    if suffix == ".csv":
        return read_csv(path, limit)
    if suffix == ".parquet":
        return read_parquet(path, limit)
    raise DataLayoutError(f"{path}: metadata must be .jsonl, .csv or .parquet; found {suffix or 'no suffix'}")
