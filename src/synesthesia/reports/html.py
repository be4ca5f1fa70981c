"""The HTML of every page synesthesia writes (gallery, cycle, evaluation report): one page shell,
tables, and tags for media, with every text escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}"
         "td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}"
         "table{border-collapse:collapse;margin-bottom:1em}img,video{image-rendering:pixelated}")


def esc(value: Any) -> str:
    return html.escape(str(value))


def page(title: str, body: Sequence[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def fmt(value: Any) -> str:
    """A table cell: floats with three decimals (nan as a dash), anything else escaped."""
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return esc(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = False) -> str:
    """A table; with ``raw`` the cells are HTML already (media tags), else they are formatted."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header) if header else ""
    cell = (lambda c: str(c)) if raw else fmt
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{'<tr>' + head + '</tr>' if head else ''}{body}</table>"


def img(src: str, size: int = 96) -> str:
    return f'<img src="{esc(src)}" width="{size}" height="{size}" alt="">'


def audio(src: str) -> str:
    return f'<audio controls preload="none" src="{esc(src)}"></audio>'


def video(src: str, size: int = 96) -> str:
    """A clip that plays by itself, over and over (MP4 or GIF)."""
    if src.lower().endswith(".gif"):
        return img(src, size)
    return f'<video src="{esc(src)}" width="{size}" height="{size}" autoplay loop muted playsinline></video>'
