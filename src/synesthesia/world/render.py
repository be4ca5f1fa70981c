"""Vectorised image and video rendering of the shapes world.

Shapes are anti-aliased sprites: each (shape, radius) is rasterised once at 4x4 supersampling
for 16 quarter-pixel offsets and cached; a batch is then drawn by pasting sprites into an alpha
canvas with one fancy-indexing assignment per sprite group, and composited over backgrounds
computed with broadcasting. No Python loop runs over samples or pixels.

Geometry (fractions of the image side S): cell centres at 0.23 / 0.5 / 0.77 with +-0.03 jitter;
shape radius 0.11 / 0.155 / 0.20 for small / medium / large. Shape colours are bright and
saturated; background tones are dark and desaturated, so a shape is never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from synesthesia.world.attributes import ATTRIBUTES
from synesthesia.world.rng import BatchRandom

SHAPES = ATTRIBUTES["shape"]
CELL_CENTRES = np.array([0.23, 0.5, 0.77])
CELL_JITTER = 0.03
SIZE_RADIUS = np.array([0.11, 0.155, 0.20])
COLOURS_RGB = np.array(
    [
        (230, 30, 35),    # red
        (255, 140, 0),    # orange
        (245, 225, 20),   # yellow
        (40, 190, 50),    # green
        (0, 215, 230),    # cyan
        (45, 85, 255),    # blue
        (165, 60, 235),   # purple
        (255, 120, 200),  # pink
    ],
    dtype=np.float32,
) / 255.0
MOTION_SHIFT = 0.30       # total travel of up/down/left/right, fraction of S
GROW_RANGE = (0.7, 1.3)   # scale at the first and last frame for "grow" ("shrink" reverses it)
_SUB = 4                  # sub-pixel offsets per axis in the sprite bank
_SS = 4                   # supersampling per axis when rasterising a sprite


# ---------------------------------------------------------------------------------------------
# sprites


def _polygon(n_points: int, outer: float, inner: float, phase: float) -> np.ndarray:
    """Vertices (V, 2) of a regular polygon or star, unit scale, y pointing down."""
    k = np.arange(n_points * (2 if inner else 1))
    radius = np.where(k % 2 == 0, outer, inner) if inner else np.full(len(k), outer)
    angle = phase + k * (np.pi / n_points if inner else 2 * np.pi / n_points)
    return np.stack([radius * np.cos(angle), -radius * np.sin(angle)], axis=1)


def _inside_polygon(x: np.ndarray, y: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule point-in-polygon test, vectorised over points."""
    inside = np.zeros(x.shape, dtype=bool)
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < xc)
    return inside


_STAR = _polygon(5, 1.05, 0.45, np.pi / 2)
_TRIANGLE = _polygon(3, 1.15, 0.0, np.pi / 2) + np.array([[0.0, 0.29]])   # bounding box centred


def _inside(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Is the unit-scale point (x, y) (y down) inside ``shape``?"""
    if shape == "circle":
        return x * x + y * y <= 1.0
    if shape == "square":
        return (np.abs(x) <= 0.85) & (np.abs(y) <= 0.85)
    if shape == "triangle":
        return _inside_polygon(x, y, _TRIANGLE)
    if shape == "star":
        return _inside_polygon(x, y, _STAR)
    if shape == "heart":
        hx, hy = x * 1.1, -(y * 1.1) + 0.25
        return (hx * hx + hy * hy - 1) ** 3 - hx * hx * hy ** 3 <= 0
    if shape == "cross":
        return ((np.abs(x) <= 0.33) & (np.abs(y) <= 0.95)) | ((np.abs(y) <= 0.33) & (np.abs(x) <= 0.95))
    raise KeyError(shape)


@lru_cache(maxsize=4096)
def sprite_bank(shape: str, radius_q: int) -> np.ndarray:
    """Alpha sprites (SUB*SUB, h, h) float32 for a shape of radius ``radius_q / 4`` pixels.

    Entry ``sy * SUB + sx`` has the shape centre at ``(h/2 + sx/SUB, h/2 + sy/SUB)``.
    """
    r = max(radius_q, 1) / 4.0
    h = 2 * int(np.ceil(r * 1.25)) + 2
    fine = (np.arange(h * _SS) + 0.5) / _SS                          # (h*SS,) pixel coords
    off = np.arange(_SUB) / _SUB
    # (SUB, h*SS) coordinates relative to the centre, in radius units
    rel = (fine[None, :] - (h / 2 + off[:, None])) / r
    ys = rel[:, None, :, None]                                        # (SUB, 1, h*SS, 1)
    xs = rel[None, :, None, :]                                        # (1, SUB, 1, h*SS)
    ys, xs = np.broadcast_arrays(ys, xs)
    mask = _inside(shape, xs, ys).astype(np.float32)                  # (SUB, SUB, h*SS, h*SS)
    alpha = mask.reshape(_SUB, _SUB, h, _SS, h, _SS).mean(axis=(3, 5))
    return alpha.reshape(_SUB * _SUB, h, h)


def paste_shapes(shape: np.ndarray, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray,
                 size: int) -> np.ndarray:
    """Alpha canvas (N, size, size) float32 with one shape per row, centred at (cx, cy) pixels."""
    n = len(shape)
    rq = np.maximum(np.round(radius * 4).astype(np.int64), 1)
    pad = int(np.ceil(rq.max() / 4 * 1.25)) + 3
    canvas = np.zeros((n, size + 2 * pad, size + 2 * pad), dtype=np.float32)
    key = shape * 100_000 + rq
    for k in np.unique(key):
        rows = np.nonzero(key == k)[0]
        bank = sprite_bank(SHAPES[int(k // 100_000)], int(k % 100_000))   # (16, h, h)
        h = bank.shape[-1]
        # centre = top + h/2 + sub/SUB  ->  top = floor(c - h/2), sub = frac part in quarters
        fx, fy = cx[rows] - h / 2, cy[rows] - h / 2
        tx, ty = np.floor(fx), np.floor(fy)
        sx = np.minimum(np.round((fx - tx) * _SUB).astype(np.int64), _SUB - 1)
        sy = np.minimum(np.round((fy - ty) * _SUB).astype(np.int64), _SUB - 1)
        tx = np.clip(tx.astype(np.int64) + pad, 0, size + 2 * pad - h)
        ty = np.clip(ty.astype(np.int64) + pad, 0, size + 2 * pad - h)
        ar = np.arange(h)
        canvas[rows[:, None, None], ty[:, None, None] + ar[None, :, None],
               tx[:, None, None] + ar[None, None, :]] = bank[sy * _SUB + sx]
    return canvas[:, pad:pad + size, pad:pad + size]


# ---------------------------------------------------------------------------------------------
# colours and backgrounds


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,) hue/sat/value in [0,1] -> (N, 3) RGB."""
    i = np.floor(h * 6).astype(np.int64) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([
        np.stack([v, t, p], 1), np.stack([q, v, p], 1), np.stack([p, v, t], 1),
        np.stack([p, q, v], 1), np.stack([t, p, v], 1), np.stack([v, p, q], 1),
    ], axis=0)                                                         # (6, N, 3)
    return table[i, np.arange(len(h))].astype(np.float32)


def background_tones(rng: BatchRandom) -> tuple[np.ndarray, np.ndarray]:
    """Two dark, desaturated tones (N, 3) per sample for the background patterns."""
    u = rng.uniform("bg.tone", 5)
    c0 = _hsv_to_rgb(u[:, 0], 0.15 + 0.35 * u[:, 1], 0.06 + 0.16 * u[:, 2])
    c1 = _hsv_to_rgb((u[:, 0] + 0.3 * u[:, 3]) % 1.0, 0.15 + 0.35 * u[:, 1], 0.28 + 0.14 * u[:, 4])
    return c0, c1


def render_backgrounds(kind: np.ndarray, rng: BatchRandom, size: int, varied: bool) -> np.ndarray:
    """Backgrounds (N, size, size, 3) float32. With ``varied=False`` every background is black."""
    n = len(kind)
    out = np.zeros((n, size, size, 3), dtype=np.float32)
    if not varied:
        return out
    c0, c1 = background_tones(rng)
    u = rng.uniform("bg.pattern", 3)
    coord = (np.arange(size, dtype=np.float32) + 0.5) / size           # (S,)
    yy, xx = coord[:, None], coord[None, :]
    mix = np.zeros((n, size, size), dtype=np.float32)                  # 0 -> c0, 1 -> c1
    for code, name in enumerate(ATTRIBUTES["background"]):
        rows = np.nonzero(kind == code)[0]
        if len(rows) == 0 or name == "plain":
            continue
        ur = u[rows].astype(np.float32)
        if name == "stripes":
            angle = (np.floor(ur[:, 0] * 4) * np.pi / 4)[:, None, None]
            period = (1 / 10 + ur[:, 1] * (1 / 6 - 1 / 10))[:, None, None]
            t = (xx * np.cos(angle) + yy * np.sin(angle)) / period
            mix[rows] = (t - np.floor(t)) < 0.5
        elif name == "checker":
            cells = np.where(ur[:, 0] < 0.5, 4, 8).astype(np.float32)[:, None, None]
            mix[rows] = (np.floor(xx * cells) + np.floor(yy * cells)) % 2
        elif name == "noise":
            blocks = 8
            vals = rng.uniform("bg.noise", blocks, blocks)[rows].astype(np.float32)
            idx = np.minimum((coord * blocks).astype(np.int64), blocks - 1)
            mix[rows] = vals[:, idx[:, None], idx[None, :]]
        elif name == "gradient":
            angle = (ur[:, 0] * 2 * np.pi)[:, None, None]
            t = (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle)
            mix[rows] = np.clip(t / 0.71 + 0.5, 0, 1)
    out[:] = c0[:, None, None, :]
    out += mix[..., None] * (c1 - c0)[:, None, None, :]
    return out


def shape_colours(colour: np.ndarray, rng: BatchRandom) -> np.ndarray:
    """(N, 3) RGB of the named colours with a small brightness jitter (never crossing classes)."""
    scale = 0.9 + 0.1 * rng.uniform("shape.tint")
    return (COLOURS_RGB[colour] * scale[:, None].astype(np.float32)).astype(np.float32)


def composite(background: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """uint8 (N, S, S, 3) = background blended with the flat colour through alpha."""
    a = alpha[..., None]
    img = background + a * (colour[:, None, None, :] - background)
    return (img * 255.0 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# images and videos


def _placement(codes: Mapping[str, np.ndarray], rng: BatchRandom) -> tuple[np.ndarray, np.ndarray]:
    """Shape centre (N,) x and y as fractions of the image side."""
    pos = codes["position"]
    jit = (rng.uniform("shape.jitter", 2) * 2 - 1) * CELL_JITTER
    return CELL_CENTRES[pos % 3] + jit[:, 0], CELL_CENTRES[pos // 3] + jit[:, 1]


def render_images(codes: Mapping[str, np.ndarray], rng: BatchRandom, size: int,
                  vary_background: bool) -> np.ndarray:
    """Images uint8 (N, size, size, 3)."""
    fx, fy = _placement(codes, rng)
    radius = SIZE_RADIUS[codes["size"]] * size
    alpha = paste_shapes(codes["shape"], fx * size, fy * size, radius, size)
    bg = render_backgrounds(codes["background"], rng, size, vary_background)
    return composite(bg, alpha, shape_colours(codes["colour"], rng))


def motion_path(motion: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame offsets dx, dy (fractions of S) and scale factors, each (N, T)."""
    names = ATTRIBUTES["motion"]
    t = np.linspace(-0.5, 0.5, frames)[None, :]                       # (1, T)
    n = len(motion)
    dx, dy, scale = np.zeros((n, frames)), np.zeros((n, frames)), np.ones((n, frames))
    step = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
    for name, (sx, sy) in step.items():
        rows = motion == names.index(name)
        dx[rows] = sx * MOTION_SHIFT * t
        dy[rows] = sy * MOTION_SHIFT * t
    lo, hi = GROW_RANGE
    scale[motion == names.index("grow")] = np.linspace(lo, hi, frames)
    scale[motion == names.index("shrink")] = np.linspace(hi, lo, frames)
    return dx, dy, scale


def render_videos(codes: Mapping[str, np.ndarray], rng: BatchRandom, size: int, frames: int,
                  vary_background: bool) -> np.ndarray:
    """Videos uint8 (N, T, size, size, 3): the image's scene, moving as ``motion`` says."""
    n = len(codes["shape"])
    fx, fy = _placement(codes, rng)
    dx, dy, scale = motion_path(codes["motion"], frames)
    radius = (SIZE_RADIUS[codes["size"]] * size)[:, None] * scale                # (N, T)
    cx, cy = (fx[:, None] + dx) * size, (fy[:, None] + dy) * size
    shape = np.repeat(codes["shape"], frames)
    alpha = paste_shapes(shape, cx.ravel(), cy.ravel(), radius.ravel(), size)
    alpha = alpha.reshape(n, frames, size, size)
    bg = render_backgrounds(codes["background"], rng, size, vary_background)     # (N, S, S, 3)
    colour = shape_colours(codes["colour"], rng)
    a = alpha[..., None]
    vid = bg[:, None] + a * (colour[:, None, None, None, :] - bg[:, None])
    return (vid * 255.0 + 0.5).astype(np.uint8)
